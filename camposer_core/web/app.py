"""The FastAPI app of ``camposer serve`` (see :func:`create_app`); its OpenAPI page is at
``/docs`` (schema at ``/openapi.json``).

Endpoints: ``GET /`` the dashboard page (static files under ``/static``, nothing from a CDN),
``POST /localize`` (multipart field ``file``: a JPEG/PNG photo), ``GET /map`` (+ the two
map pictures), ``GET /health``. Every error answers ``{"detail": "<message>"}`` with a 4xx
status for bad input and 503 when the queue is full; the server keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Annotated

from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from .. import __version__
from .images import ImageError
from .loading import map_pictures
from .service import Busy, LocalizationService

__all__ = ["AppConfig", "create_app"]

log = logging.getLogger(__name__)

MULTIPART_SLACK = 64 * 1024  # form boundaries and headers around the file


@dataclass(frozen=True)
class AppConfig:
    """Web options. ``cors_origins``: origins allowed to call the API from other pages (empty:
    CORS off, same-origin only). Credentials are never allowed cross-origin."""

    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    trail_length: int = 20  # queries the page keeps on the map


# --------------------------------------------------------------------------- API models


class Snapped(BaseModel):
    position_m: list[float] = Field(description="x, y, z (m, map frame) after snapping onto the walkable map")
    distance_m: float = Field(description="how far snapping moved the position (m)")


class Refine(BaseModel):
    status: str = Field(description='"refined" (PnP against the map), "prior_only" (regressor) or "lost" (no pose)')
    inliers: int = Field(description="PnP inliers (0 when not refined)")


class Ellipse(BaseModel):
    semi_major_m: float = Field(description="95 % position ellipse, semi-major axis (m)")
    semi_minor_m: float = Field(description="95 % position ellipse, semi-minor axis (m)")
    angle_deg: float = Field(description="major axis angle from the map's +x towards +y (deg)")


class ImageSize(BaseModel):
    width: int
    height: int


class LocalizeResponse(BaseModel):
    frame_id: str = Field(description="map frame of every position and orientation")
    position_m: list[float] | None = Field(description="camera centre x, y, z (m), before snapping; null when lost")
    quaternion_wxyz: list[float] | None = Field(description="camera-to-world w, x, y, z (OpenCV optical axes)")
    heading_deg: float | None = Field(description="optical axis direction in the map's xy plane, from +x towards +y")
    snapped: Snapped | None = Field(description="pose snapped onto the walkable map (null without a map)")
    refine: Refine
    covariance: list[list[float]] | None = Field(description="6x6: x y z (m^2), roll pitch yaw about map axes (rad^2)")
    ellipse_95: Ellipse | None
    timings_ms: dict[str, float] = Field(description="queue, decode, localize, the localizer's stages, total (ms)")
    image: ImageSize


class MapInfo(BaseModel):
    frame_id: str
    resolution_m: float = Field(description="cell size (m); one picture pixel per cell")
    origin: list[float] = Field(description="x, y (m), yaw (rad) of the lower-left corner of the lower-left cell")
    width: int = Field(description="cells (= picture pixels) along x")
    height: int = Field(description="cells (= picture pixels) along y; picture row 0 is the largest y")
    floorplan_url: str = Field(description="PNG: walls dark, floor light")
    walkable_url: str = Field(description="PNG: walkable cells green")


class Health(BaseModel):
    status: str
    version: str
    model: str
    model_kind: str
    map: str | None
    map_frame: str
    localization_map: str | None = Field(description="PnP refinement map (null: regressor only)")
    queue_pending: int
    queue_size: int
    served: int
    rejected_busy: int
    uptime_s: float
    trail_length: int


class ErrorBody(BaseModel):
    detail: str


_ERRORS = {
    400: {"model": ErrorBody, "description": "empty file or malformed request"},
    413: {"model": ErrorBody, "description": "file or image (pixels) over the limits"},
    415: {"model": ErrorBody, "description": "not a JPEG or PNG image"},
    422: {"model": ErrorBody, "description": "corrupt image data or no file field"},
    503: {"model": ErrorBody, "description": "queue full, retry later"},
}


def _static_dir():
    return resources.files(__package__) / "static"


def create_app(service: LocalizationService, config: AppConfig = AppConfig()) -> FastAPI:
    """The app serving ``service`` (model and map already loaded)."""
    model = service.model
    app = FastAPI(
        title="camposer",
        version=__version__,
        description="Localize a photo in a known building: camera pose in the map frame, snapped onto "
        "the walkable map, with its uncertainty.",
    )
    if config.cors_origins:
        if "*" in config.cors_origins:
            log.warning("CORS: any origin may call this API (credentials are not allowed)")
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_credentials=False,
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
        )
    pictures = map_pictures(model.walkable_map) if model.walkable_map is not None else {}
    max_request = service.limits.max_bytes + MULTIPART_SLACK

    @app.middleware("http")
    async def _limit_body(request: Request, call_next):
        # refuse oversized uploads from the header, before the body is read
        length = request.headers.get("content-length")
        if request.method == "POST" and length is not None and length.isdigit() and int(length) > max_request:
            return JSONResponse(
                {
                    "detail": f"upload of {int(length) / 1e6:.1f} MB is over the {service.limits.max_bytes / 1e6:.1f} MB limit"
                },
                status_code=413,
            )
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError):
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        msg = "; ".join(parts) or "invalid request"
        return JSONResponse({"detail": f"{msg} (send the photo as multipart/form-data field 'file')"}, status_code=422)

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(str(_static_dir() / "index.html"), headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=str(_static_dir())), name="static")

    @app.post("/localize", response_model=LocalizeResponse, responses=_ERRORS, summary="Localize one photo")
    async def localize(
        file: Annotated[UploadFile, File(description="JPEG or PNG photo (RGB, RGBA or greyscale, any size)")],
    ):
        name = file.filename or "upload"
        data = await file.read(service.limits.max_bytes + 1)
        await file.close()
        try:
            fut = service.submit(data, name)
        except Busy as exc:
            raise HTTPException(503, str(exc), headers={"Retry-After": "1"}) from None
        try:
            return await asyncio.wrap_future(fut)
        except ImageError as exc:
            raise HTTPException(exc.status, exc.message) from None
        except ValueError as exc:  # e.g. an image the model cannot take
            raise HTTPException(422, f"{name}: {exc}") from None
        except Exception as exc:
            log.exception("localizing %s failed", name)
            raise HTTPException(500, f"{name}: localization failed ({type(exc).__name__}: {exc})") from None

    @app.get("/map", response_model=MapInfo, responses={404: {"model": ErrorBody}}, summary="The map the page draws on")
    async def map_info():
        m = model.walkable_map
        if m is None:
            raise HTTPException(404, "no walkable map loaded (start the server with --map MAP.yaml)")
        return MapInfo(
            frame_id=model.map_frame,
            resolution_m=m.resolution,
            origin=list(m.origin),
            width=m.width,
            height=m.height,
            floorplan_url="/map/floorplan.png",
            walkable_url="/map/walkable.png",
        )

    def _picture(name: str) -> Response:
        if name not in pictures:
            raise HTTPException(404, "no walkable map loaded (start the server with --map MAP.yaml)")
        return Response(pictures[name], media_type="image/png", headers={"Cache-Control": "no-cache"})

    @app.get("/map/floorplan.png", include_in_schema=False)
    async def floorplan_png():
        return _picture("floorplan")

    @app.get("/map/walkable.png", include_in_schema=False)
    async def walkable_png():
        return _picture("walkable")

    @app.get("/health", response_model=Health, summary="Liveness and queue state")
    async def health():
        return Health(
            status="ok",
            version=__version__,
            model=str(model.model_path),
            model_kind=model.kind,
            map=None if model.map_path is None else str(model.map_path),
            map_frame=model.map_frame,
            localization_map=None if model.localization_map is None else str(model.localization_map),
            queue_pending=service.pending,
            queue_size=service.queue_size,
            served=service.served,
            rejected_busy=service.rejected,
            uptime_s=time.time() - service.started,
            trail_length=config.trail_length,
        )

    return app
