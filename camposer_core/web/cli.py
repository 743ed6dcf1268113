"""``camposer serve``: the web dashboard and JSON API (see :mod:`camposer_core.web`)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="web dashboard + JSON API: localize a photo from a browser",
        description="Load the model and map once, then serve a page (and POST /localize, GET /map, GET /health; "
        "API docs at /docs) that localizes uploaded photos and shows them on the floor plan.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--model",
        type=Path,
        required=True,
        help="checkpoint from `camposer train`, or a dataset folder (retrieval + PnP when available, "
        "else the trained model inside it: model/best.pt, best.pt, model.pt)",
    )
    p.add_argument(
        "--map",
        type=Path,
        default=None,
        help="walkable map YAML (nav2 map_server format); default: the dataset's walkable.yaml",
    )
    p.add_argument(
        "--localization-map",
        type=Path,
        default=None,
        help="refine checkpoint poses with PnP against this localization map (dataset folder or "
        "localization_map.npz); default: the map of the checkpoint's dataset when it has one",
    )
    p.add_argument("--no-refine", action="store_true", help="serve the regressor alone (no PnP refinement)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface, no login!)")
    p.add_argument("--port", type=int, default=8000, help="TCP port")
    p.add_argument("--device", default="cpu", help="torch device of the model")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads for inference (0: torch's default)")
    p.add_argument("--queue", type=int, default=8, help="requests waiting or running before answering 503")
    p.add_argument("--max-upload-mb", type=float, default=25.0, help="largest accepted file (MB)")
    p.add_argument("--max-megapixels", type=float, default=50.0, help="largest accepted image (width x height)")
    p.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow pages from ORIGIN (e.g. http://intranet:3000) to call the API; repeatable; "
        "default: same origin only. Credentials are never allowed cross-origin",
    )
    p.set_defaults(func=_cmd_serve)


def _cmd_serve(args) -> int:
    from ..errors import UserError
    from .app import AppConfig, create_app
    from .images import ImageLimits
    from .loading import load_serve_model
    from .server import run
    from .service import LocalizationService

    if not 0 < args.port < 65536:
        raise UserError(f"--port {args.port}: not a TCP port (1-65535)")
    if args.max_upload_mb <= 0 or args.max_megapixels <= 0 or args.queue < 1:
        raise UserError("--max-upload-mb and --max-megapixels must be > 0, --queue >= 1")
    if args.threads < 0:
        raise UserError(f"--threads {args.threads}: must be >= 0")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    lmap = None if args.no_refine else (args.localization_map or "auto")
    model = load_serve_model(args.model, args.map, device=args.device, localization_map=lmap)
    limits = ImageLimits(max_bytes=int(args.max_upload_mb * 1024 * 1024), max_pixels=int(args.max_megapixels * 1e6))
    service = LocalizationService(model, limits, queue_size=args.queue)
    warm = service.warm_up()
    print(
        f"camposer serve: {model.kind} {model.model_path} (warm-up {warm:.1f} s), "
        f"map {model.map_path or '(none: no floor plan, no snapping)'}, "
        f"refinement {model.localization_map or 'off (no localization map)'}"
    )
    app = create_app(service, AppConfig(cors_origins=tuple(args.cors_origin)))
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"camposer serve: open http://{host}:{args.port}/ (API docs: /docs); Ctrl-C stops", flush=True)
    try:
        run(app, args.host, args.port, log_level="debug" if args.verbose else "info")
    finally:
        service.close()
    return 0
