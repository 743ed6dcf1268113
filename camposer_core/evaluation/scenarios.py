"""Per-scenario accuracy of several localization methods on the synthetic query walks.

A *method* is a callable ``images (list of RGB uint8) -> (positions (N, 3), quaternions
(N, 4))`` giving camera-to-world poses in the map frame. Every method sees the same frames
of every query walk (:mod:`camposer_core.synthetic.queries`); errors are per-frame Euclidean
metres and geodesic degrees against the walk's exact ground truth, summarised as
:class:`~camposer_core.geometry.ErrorSummary` (median / p90, % within 0.25 m and 2°).

    methods = standard_methods(checkpoint, dataset)          # regressor, retrieval (+ relative, refined)
    results = evaluate_scenarios(load_query_walks(building), methods)
    print(format_table(results))

More methods join by adding an entry to the ``methods`` dict; :func:`standard_methods` adds
the PnP-refined localizer when the dataset has a localization map. A method may also return the
covariance of each pose (``(N, 6, 6)``, ROS order, NaN for a frame without a pose of its own):
on walks with simulated odometry (``odometry.csv`` + ``extrinsics.yaml``) its poses are then
also fused with the odometry (:func:`fuse_with_odometry`, the smoother of ``fusion_node``) and
scored as ``<method> + odometry``: the fused camera pose at each evaluated image stamp, causal
(fixes arrive ``FIX_LATENCY_S`` after their image), frames before the fusion initialised left out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..geometry import ErrorSummary, position_error, rotation_error_deg, summarize_errors
from ..trajectory import Trajectory

__all__ = [
    "ScenarioResult",
    "evaluate_scenarios",
    "format_table",
    "plot_scenarios",
    "plot_scenarios_of_dataset",
    "standard_methods",
    "METHOD_ORDER",
]

log = logging.getLogger(__name__)

Method = Callable[[Sequence[np.ndarray]], tuple[np.ndarray, ...]]  # (positions, quaternions[, covariances])
METHOD_ORDER = (
    "regressor",
    "retrieval",
    "relative",
    "refined",
    "regressor + odometry",
    "relative + odometry",
    "refined + odometry",
)
FIX_LATENCY_S = 0.15  # fix arrival after its image stamp in the fusion replay, s (as bench_fusion)


@dataclass(frozen=True)
class ScenarioResult:
    """Errors of one method on one scenario (``summary`` is None when the method failed,
    with the reason in ``error``). ``ground_truth`` / ``positions``: the scored frames' true and
    estimated camera centres (``(N, 3)``, map frame, m) for plots; None when not kept."""

    scenario: str
    method: str
    summary: ErrorSummary | None
    seconds: float
    error: str = ""
    ground_truth: np.ndarray | None = field(default=None, compare=False, repr=False)
    positions: np.ndarray | None = field(default=None, compare=False, repr=False)


def _localizer_method(localizer, batch: int = 32) -> Method:
    """Batches of exactly ``batch`` images (the last one padded): the Localizer freezes one
    graph per batch size, so ragged batches would each pay a TorchScript trace."""

    def run(images):
        pos, quat, cov = [], [], []
        for i in range(0, len(images), batch):
            chunk = list(images[i : i + batch])
            n = len(chunk)
            ests = localizer.localize_batch(chunk + [chunk[-1]] * (batch - n), "rgb8")[:n]
            pos += [e.position for e in ests]
            quat += [e.quaternion for e in ests]
            # a lost frame (no pose published) is no fix for the fusion
            cov += [np.full((6, 6), np.nan) if e.status == "lost" else e.covariance for e in ests]
        P, Q = np.asarray(pos, float).reshape(-1, 3), np.asarray(quat, float).reshape(-1, 4)
        return P, Q, np.asarray(cov, float).reshape(-1, 6, 6)

    return run


def standard_methods(checkpoint=None, dataset=None, refine: bool = True, relative=None) -> dict[str, Method]:
    """``regressor`` (the checkpoint, raw), ``retrieval`` (nearest train thumbnail of
    ``dataset``), with a ``relative`` checkpoint (MeNet, ``data.pairs: nearby``) ``relative``:
    the regressor corrected against its training images (:mod:`camposer_core.localization.relative`,
    database read from ``dataset``) and, with ``refine`` and a localization map in the dataset
    (``camposer map-index``), ``refined``: the regressor prior + PnP against the map without
    the dataset's ``test`` split (the held-out lap that ``retrace`` / ``people`` walk again)."""
    methods: dict[str, Method] = {}
    if checkpoint is not None:
        from ..localizer import Localizer

        methods["regressor"] = _localizer_method(Localizer.from_checkpoint(checkpoint))
    if dataset is not None:
        from .retrieval import RetrievalBaseline

        base = RetrievalBaseline().fit(dataset, "train")
        methods["retrieval"] = base.predict
    if relative is not None and checkpoint is not None:
        from ..localization.relative import RelativeRefiner
        from ..localizer import Localizer

        root = getattr(dataset, "root", dataset)
        refiner = RelativeRefiner.from_checkpoint(relative, dataset=root)
        methods["relative"] = _localizer_method(Localizer.from_checkpoint(checkpoint, relative=refiner), batch=8)
    if refine and checkpoint is not None and dataset is not None:
        refined = _refined_method(checkpoint, dataset)
        if refined is not None:
            methods["refined"] = refined
    return methods


def _refined_method(checkpoint, dataset) -> Method | None:
    """Regressor prior + PnP refinement (:mod:`camposer_core.localization`), when the dataset
    has a localization map. Lost frames (no pose) count at the regressor's pose."""
    from pathlib import Path

    from ..localization import MAP_FILE
    from ..localizer import Localizer

    root = Path(getattr(dataset, "root", dataset))
    if not (root / MAP_FILE).is_file():
        log.warning("%s has no %s (camposer map-index): no refined column", root, MAP_FILE)
        return None
    loc = Localizer.from_checkpoint(checkpoint, localization_map=root, exclude_splits=("test",))
    method = _localizer_method(loc, batch=8)
    method.reset = loc.reset  # stream state (previous refined pose) per walk
    return method


def _iter_chunks(walk, keep: np.ndarray, chunk: int):
    """Lists of at most ``chunk`` RGB frames of the walk's video, only the indices in ``keep``
    (streamed: a default-size walk does not fit in memory at once)."""
    from ..video import iter_frames

    if walk.video is None:
        raise FileNotFoundError(f"{walk.root}: the query walk has no video")
    keep_set = set(int(k) for k in keep)
    buf, seen = [], 0
    for i, (_, rgb) in enumerate(iter_frames(walk.video)):
        seen = i + 1
        if i in keep_set:
            buf.append(rgb)
            if len(buf) == chunk:
                yield buf
                buf = []
    if buf:
        yield buf
    if seen < int(keep.max()) + 1:
        raise ValueError(f"{walk.video}: has {seen} frames, groundtruth.csv needs {int(keep.max()) + 1}")


def evaluate_scenarios(
    query_walks: dict,
    methods: dict[str, Method],
    progress: bool = True,
    max_frames: int | None = None,
    chunk: int = 64,
) -> list[ScenarioResult]:
    """Run every method on every query walk (:class:`~camposer_core.synthetic.queries.QueryWalk`
    by name); ``max_frames`` evaluates every k-th frame so that at most that many are used.
    Methods get the frames in order, in chunks of ``chunk``; a method with a ``reset()``
    attribute is reset before each walk."""
    results = []
    for name, walk in query_walks.items():
        gt = Trajectory.load_csv(walk.groundtruth)
        idx = np.arange(len(gt))
        if max_frames and len(idx) > max_frames:
            idx = idx[:: int(np.ceil(len(idx) / max_frames))]
        for fn in methods.values():
            if hasattr(fn, "reset"):
                fn.reset()  # a new walk: no stream state from the previous one
        pos = {m: [] for m in methods}
        quat = {m: [] for m in methods}
        cov = {m: [] for m in methods}
        secs = dict.fromkeys(methods, 0.0)
        errors = dict.fromkeys(methods, "")
        for images in _iter_chunks(walk, idx, chunk):
            for method, fn in methods.items():
                if errors[method]:
                    continue
                t0 = time.perf_counter()
                try:
                    p, q, *c = fn(images)
                    pos[method].append(np.asarray(p, float).reshape(-1, 3))
                    quat[method].append(np.asarray(q, float).reshape(-1, 4))
                    if c:
                        cov[method].append(np.asarray(c[0], float).reshape(-1, 6, 6))
                except Exception as exc:  # one failing method must not hide the others' numbers
                    errors[method] = f"{type(exc).__name__}: {exc}"
                secs[method] += time.perf_counter() - t0
        for method in methods:
            summary = None
            if not errors[method]:
                P, Q = np.concatenate(pos[method]), np.concatenate(quat[method])
                summary = summarize_errors(
                    position_error(P, gt.positions[idx]), rotation_error_deg(Q, gt.quaternions[idx])
                )
            truth = gt.positions[idx]
            rows = [ScenarioResult(name, method, summary, secs[method], errors[method])]
            if summary is not None:
                rows = [replace(rows[0], ground_truth=truth, positions=P)]
            if summary is not None and cov[method] and walk.odometry is not None:
                t0 = time.perf_counter()
                fixes = Trajectory([str(i) for i in idx], gt.timestamps[idx], P, Q)
                try:
                    fp, fq, ok = fuse_with_odometry(fixes, np.concatenate(cov[method]), walk.odometry)
                    fused = summarize_errors(
                        position_error(fp[ok], gt.positions[idx][ok]),
                        rotation_error_deg(fq[ok], gt.quaternions[idx][ok]),
                    )
                    rows.append(
                        ScenarioResult(
                            name, f"{method} + odometry", fused, time.perf_counter() - t0, "", truth[ok], fp[ok]
                        )
                    )
                except ValueError as exc:  # e.g. never initialised: say so in the table
                    rows.append(ScenarioResult(name, f"{method} + odometry", None, time.perf_counter() - t0, str(exc)))
            results += rows
            if progress:
                for r in rows:
                    s = r.summary
                    msg = f"median {s.position_median_m:.2f} m / {s.rotation_median_deg:.1f} deg" if s else r.error
                    print(f"  {name:9s} {r.method:10s} {msg}", flush=True)
    return results


def fuse_with_odometry(fixes: Trajectory, covariances: np.ndarray, odometry_csv) -> tuple[np.ndarray, ...]:
    """Camera fixes (``map_from_camera`` at their image stamps, ROS-order covariances, NaN = no
    fix) replayed with a walk's odometry (``odometry.csv`` + ``extrinsics.yaml`` beside it)
    through :class:`~camposer_core.fusion.PoseFusion` with its default config, causally. Returns
    the fused camera positions and quaternions at the fixes' stamps and the mask of stamps with
    an output (the fusion initialised and published by then). ValueError when it never did."""
    from pathlib import Path

    from ..fusion import Extrinsics, FusionConfig, PoseFusion
    from ..fusion.offline import interpolate_trajectory, replay, to_camera

    odometry_csv = Path(odometry_csv)
    extrinsics = Extrinsics.load_yaml(odometry_csv.with_name("extrinsics.yaml"))
    keep = np.flatnonzero(np.all(np.isfinite(covariances.reshape(len(covariances), -1)), axis=1))
    run = replay(
        PoseFusion(FusionConfig(), extrinsics),
        fixes.subset(keep),
        Trajectory.load_csv(odometry_csv),
        covariances[keep],
        fix_latency_s=FIX_LATENCY_S,
    )
    if len(run.outputs) < 2:
        raise ValueError(f"the fusion never initialised ({run.stats.fixes_accepted} of {len(keep)} fixes accepted)")
    camera = to_camera(run.outputs, extrinsics)
    pos, quat, inside = interpolate_trajectory(camera, fixes.timestamps)
    return pos, quat, inside


def format_table(results: list[ScenarioResult], markdown: bool = True) -> str:
    """One row per scenario and method: median / p90 m and deg, % within 0.25 m and 2°."""
    head = ["scenario", "method", "frames", "median m", "p90 m", "median deg", "p90 deg", "% <=25cm&2deg"]
    rows = []
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    scen = list(dict.fromkeys(r.scenario for r in results))
    for r in sorted(results, key=lambda r: (scen.index(r.scenario), order.get(r.method, 99), r.method)):
        s = r.summary
        if s is None:
            rows.append([r.scenario, r.method, "-", "failed: " + r.error[:60], "", "", "", ""])
            continue
        rows.append(
            [
                r.scenario,
                r.method,
                str(s.count),
                f"{s.position_median_m:.2f}",
                f"{s.position_p90_m:.2f}",
                f"{s.rotation_median_deg:.1f}",
                f"{s.rotation_p90_deg:.1f}",
                f"{100 * s.within_025m_2deg:.0f}",
            ]
        )
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    fmt = "  ".join(f"{{:{w}s}}" for w in widths)
    return "\n".join([fmt.format(*head)] + [fmt.format(*r) for r in rows])


def plot_scenarios_of_dataset(results: list[ScenarioResult], folder, dataset) -> list:
    """:func:`plot_scenarios` with the dataset's walkable map (when it has one) and its
    ``train`` cameras as the mapping walk."""
    from ..walkable import WalkableMap

    walkable = WalkableMap.load(dataset.walkable_map_path) if dataset.walkable_map_path else None
    return plot_scenarios(results, folder, walkable, dataset.poses("train").positions)


def plot_scenarios(results: list[ScenarioResult], folder, walkable_map=None, mapping_positions=None) -> list:
    """One picture per scenario, ``folder/<scenario>.png``
    (:func:`~camposer_core.evaluation.plots.plot_scenario`): where on the walk each method is
    wrong. ``mapping_positions``: the mapping walk's camera centres (``(M, 3)``, map frame, m),
    drawn for reference. Returns the paths written."""
    from pathlib import Path

    from .plots import plot_scenario

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in dict.fromkeys(r.scenario for r in results):
        rows = [r for r in results if r.scenario == name and r.positions is not None]
        if rows:
            order = {m: i for i, m in enumerate(METHOD_ORDER)}
            rows.sort(key=lambda r: (order.get(r.method, 99), r.method))
            paths.append(plot_scenario(name, rows, folder / f"{name}.png", walkable_map, mapping_positions))
    return paths
