"""``camposer map-index DATASET``: build (or rebuild) a dataset's localization map."""

from __future__ import annotations

from pathlib import Path

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "map-index",
        help="build the localization map of a dataset (for PnP refinement)",
        description="Writes DATASET/localization_map.npz: the SfM points in the map frame with each "
        "image's keypoints, SIFT descriptors and 2D-3D observations (from the builder's SfM model, "
        "or triangulated at the dataset's poses when they were imported). `camposer build-dataset` "
        "writes it too; this command is for datasets built before, or after editing poses.",
    )
    p.add_argument("dataset", type=Path, help="dataset folder")
    p.add_argument("--force", action="store_true", help="rebuild an existing map")
    p.add_argument(
        "--triangulate",
        action="store_true",
        help="extract, match and triangulate at the dataset's poses even when the SfM model is there",
    )
    # the CLI holds the lock of DATASET/localization_map.npz while it runs (camposer_core.fsio)
    p.set_defaults(func=_run, output_kind="file", default_out=lambda a: Path(a.dataset) / "localization_map.npz")


def _run(args) -> int:
    from .map import MAP_FILE, LocalizationMap
    from .mapping import build_localization_map

    out = Path(args.dataset) / MAP_FILE
    if out.is_file() and not args.force:
        m = LocalizationMap.load(out)
        print(f"{out}: exists ({m.summary()}); use --force to rebuild")
        return 0
    path = build_localization_map(args.dataset, force=True, triangulate=args.triangulate, progress=print)
    m = LocalizationMap.load(path)
    print(f"{path}: {m.summary()}, loads in {m.meta['load_seconds']:.2f} s")
    return 0
