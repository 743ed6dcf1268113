"""Resumable pipelines: the one stage-cache mechanism of the dataset builder and the demo.

A pipeline is an ordered list of stage names. :class:`StageRecords` remembers which stages
finished, with a fingerprint of their inputs and parameters and a small JSON result:

* :meth:`~StageRecords.done` returns a stage's record when it finished with that fingerprint
  (any fingerprint when ``None`` is asked for), else ``None``: the stage must run;
* :meth:`~StageRecords.start` forgets the stage and every later one (their inputs are about to
  change) and records it as started, so an interrupted run never looks finished;
* :meth:`~StageRecords.finish` records the stage and forgets every later one (like ``make``:
  what was built from older inputs is stale).

Records live in one JSON file (``path`` is a file: the builder's ``work/state.json``) or in one
JSON file per stage (``path`` is a function of the stage name: the demo's marker inside each
stage folder, so deleting a folder's marker re-runs that stage and the ones after it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from .fsio import atomic_write_text

__all__ = ["StageRecords"]

STARTED = "started"

log = logging.getLogger(__name__)


def _read(path: Path) -> dict | None:
    """A JSON record file, or ``None`` when it is unreadable (then its stages simply re-run)."""
    try:
        return json.loads(path.read_text() or "{}")
    except ValueError:  # written by an older, non-atomic version
        log.warning("%s is unreadable; re-running its stage(s)", path)
        return None


class StageRecords:
    """Finished stages of the pipeline ``stages`` (see module docstring)."""

    def __init__(self, stages: Sequence[str], path: Path | Callable[[str], Path]):
        self.stages = tuple(stages)
        self._file = None if callable(path) else Path(path)
        self._path_of = path if callable(path) else None
        self.data: dict[str, dict] = self._load()

    # -------------------------------------------------------------- queries

    def done(self, stage: str, fingerprint: str | None = None) -> dict | None:
        """The record of ``stage`` if it finished (with ``fingerprint``, unless ``None``)."""
        record = self.data.get(stage)
        if not record or record.get("fingerprint") == STARTED:
            return None
        return record if fingerprint is None or record.get("fingerprint") == fingerprint else None

    def touched(self, stage: str) -> bool:
        """Whether ``stage`` was started or finished (its outputs may exist)."""
        return stage in self.data

    # -------------------------------------------------------------- updates

    def start(self, stage: str) -> None:
        """Forget ``stage`` and the later stages, and record ``stage`` as started."""
        self.invalidate(*self._from(stage))
        self._put(stage, {"fingerprint": STARTED})

    def finish(self, stage: str, fingerprint: str | None, result: dict, seconds: float | None = None) -> None:
        """Record ``stage`` as finished; every later stage becomes stale (forgotten)."""
        self.invalidate(*self._from(stage)[1:])
        self._put(stage, {"fingerprint": fingerprint, "result": result, "seconds": seconds})

    def invalidate(self, *stages: str) -> None:
        for stage in stages:
            if self.data.pop(stage, None) is not None and self._path_of is not None:
                self._path_of(stage).unlink(missing_ok=True)
        if self._file is not None and self._file.parent.is_dir():
            self._save_file()

    # -------------------------------------------------------------- storage

    def _from(self, stage: str) -> tuple[str, ...]:
        return self.stages[self.stages.index(stage) :]

    def _load(self) -> dict[str, dict]:
        if self._file is not None:
            return (_read(self._file) or {}) if self._file.is_file() else {}
        records = {}
        for stage in self.stages:
            p = self._path_of(stage)
            if p.is_file() and (record := _read(p)) is not None:
                records[stage] = record
        return records

    def _put(self, stage: str, record: dict) -> None:
        self.data[stage] = record
        if self._file is not None:
            self._save_file()
        else:
            p = self._path_of(stage)
            p.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(p, json.dumps(record, indent=2, default=str))

    def _save_file(self) -> None:
        self._file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self._file, json.dumps(self.data, indent=2, default=str))
