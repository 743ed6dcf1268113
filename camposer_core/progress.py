"""Progress bars (tqdm) for long stages that report ``update(done, total)``."""

from __future__ import annotations

from tqdm import tqdm

__all__ = ["progress_bars"]


def progress_bars(enabled: bool, unit: str = "frame"):
    """``(factory, bars)``: ``factory(name, total)`` returns an ``update(done, total=None)``
    callback drawing a tqdm bar named ``name`` (a no-op when not ``enabled``); ``bars`` maps the
    names to the open bars (close them when the work is done)."""
    bars = {}

    def factory(name, total):
        if not enabled:
            return lambda n, total=None: None
        bar = tqdm(total=total, desc=name, unit=unit, leave=True, dynamic_ncols=True)
        bars[name] = bar

        def update(n, tot=None):
            if tot and bar.total != tot:
                bar.total = tot
            bar.update(n - bar.n)

        return update

    return factory, bars
