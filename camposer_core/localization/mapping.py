"""Building the localization map (:mod:`.map`) of a dataset folder.

* **SfM datasets** (``manifest.json`` ``poses_source: sfm``): the builder's reconstruction
  ``work/sfm/model`` and its COLMAP database are brought into the map frame with the recorded
  alignment (``Reconstruction.transform(Sim3d)``: the same similarity the dataset's poses got,
  not re-derived); keypoints and descriptors are read from the database.
* **Imported poses** (or an SfM dataset whose ``work/`` was deleted): SIFT features are
  extracted and matched (sequential + bag-of-words loop pairs, as in :mod:`..dataset.sfm`)
  and the points are triangulated with the dataset's poses held fixed (pycolmap's point
  triangulator), under ``DATASET/work/localization/``.

Only images in the dataset's ``poses.csv`` enter the map; excluding a split happens when the
map is loaded (:meth:`LocalizationMap.without`).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..camera import PinholeCamera
from ..dataset.folder import DatasetFolder
from ..dataset.importers import sim3d_from_similarity
from ..errors import UserError
from ..geometry import pose_to_colmap
from .map import MAP_FILE, LocalizationMap
from .retrieval import learn_vocabulary, word_histogram

__all__ = ["build_localization_map", "map_from_reconstruction", "VOCABULARY_WORDS"]

VOCABULARY_WORDS = 1024  # retrieval words (256: top-1 right image 90 %, 1024: 100 % on the demo lap)

log = logging.getLogger(__name__)


def map_from_reconstruction(
    rec, database_path, names: list[str], positions, quaternions, camera: PinholeCamera, meta: dict
) -> LocalizationMap:
    """A map of the images ``names`` (with camera-to-world ``positions``/``quaternions``, map
    frame) of ``rec`` (a pycolmap Reconstruction already in the map frame), with keypoints
    and descriptors from its COLMAP database."""
    import pycolmap

    by_name = {im.name: im for im in rec.images.values() if im.has_pose}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ValueError(f"{len(missing)} dataset images are not in the reconstruction, e.g. {missing[0]}")
    point_row = {pid: k for k, pid in enumerate(rec.point3D_ids())}
    points = np.array([rec.points3D[pid].xyz for pid in rec.point3D_ids()], float).reshape(-1, 3)
    kps, descs, pids, counts = [], [], [], []
    db = pycolmap.Database.open(str(database_path))
    try:
        for name in names:
            im = by_name[name]
            idx = np.asarray(im.get_observation_point2D_idxs(), int)
            p2d = im.points2D
            ids = np.array([point_row[p2d[int(j)].point3D_id] for j in idx], np.int32)
            kp = np.asarray(db.read_keypoints(im.image_id))[:, :2]
            desc = np.asarray(db.read_descriptors(im.image_id).data)
            kps.append(kp[idx].astype(np.float32))
            descs.append(desc[idx].astype(np.uint8))
            pids.append(ids)
            counts.append(len(idx))

    finally:
        db.close()
    # Words and histograms from the observed (3D-point) descriptors only: they are the stable
    # features a query sees too. With all of an image's descriptors (SfM extracts with image
    # doubling: many small-scale features a query at first_octave 0 lacks), the right image was
    # in the top 3 for 68 % of the demo's held-out frames; with the observed ones, 100 % (1024 words).
    vocabulary = learn_vocabulary(descs, words=VOCABULARY_WORDS)
    word_counts = np.stack([word_histogram(d, vocabulary) for d in descs]) if descs else np.zeros((0, 1))
    return LocalizationMap(
        names=list(names),
        positions=np.asarray(positions, float),
        quaternions=np.asarray(quaternions, float),
        offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        keypoints=np.concatenate(kps) if kps else np.zeros((0, 2), np.float32),
        descriptors=np.concatenate(descs) if descs else np.zeros((0, 128), np.uint8),
        point_ids=np.concatenate(pids) if pids else np.zeros(0, np.int32),
        points=points,
        camera=camera,
        vocabulary=vocabulary,
        word_counts=word_counts,
        meta=meta,
    )


def _from_sfm(ds: DatasetFolder, report) -> LocalizationMap | None:
    """The map from the builder's SfM model, or ``None`` when that is not available."""
    import pycolmap

    from ..alignment import Similarity

    manifest = ds.manifest
    model_dir, database = ds.root / "work" / "sfm" / "model", ds.root / "work" / "sfm" / "database.db"
    if manifest.get("poses_source") != "sfm" or not model_dir.is_dir() or not database.is_file():
        return None
    report("reading the SfM model")
    rec = pycolmap.Reconstruction(str(model_dir))
    sim = Similarity.from_dict(manifest["alignment"]["transform"])
    rec.transform(sim3d_from_similarity(sim))
    traj = ds.poses("all")
    meta = {"source": "sfm", "model": str(model_dir), "alignment": manifest["alignment"]["transform"]}
    m = map_from_reconstruction(rec, database, traj.frames, traj.positions, traj.quaternions, ds.camera, meta)
    # the transformed model and the dataset's poses are the same poses: check it
    im = next(i for i in rec.images.values() if i.name == traj.frames[0])
    gap = float(np.linalg.norm(np.asarray(im.projection_center()) - traj.positions[0]))
    if gap > 0.01:
        raise ValueError(
            f"{ds.root}: the aligned SfM model and poses.csv disagree by {gap:.3f} m at {traj.frames[0]} "
            "(was poses.csv edited?); rebuild with --triangulate"
        )
    return m


def _write_text_model(folder: Path, database_path, names, positions, quaternions) -> None:
    """A COLMAP text model with the database's camera and images at the given poses, no points."""
    import pycolmap

    folder.mkdir(parents=True, exist_ok=True)
    db = pycolmap.Database.open(str(database_path))
    try:
        cams = db.read_all_cameras()
        ids = {im.name: (im.image_id, im.camera_id) for im in db.read_all_images()}
    finally:
        db.close()
    (folder / "cameras.txt").write_text(
        "".join(
            f"{c.camera_id} {c.model_name} {c.width} {c.height} {' '.join(repr(float(p)) for p in c.params)}\n"
            for c in cams
        )
    )
    lines = []
    for name, p, q in zip(names, positions, quaternions):
        qvec, tvec = pose_to_colmap(p, q)
        image_id, camera_id = ids[name]
        lines.append(f"{image_id} {' '.join(map(repr, map(float, qvec)))} {' '.join(map(repr, map(float, tvec)))} ")
        lines[-1] += f"{camera_id} {name}\n\n"
    (folder / "images.txt").write_text("".join(lines))
    (folder / "points3D.txt").write_text("")


def _by_triangulation(ds: DatasetFolder, report) -> LocalizationMap:
    """Features + matches of the dataset's images, points triangulated at the known poses."""
    import pycolmap

    from ..dataset.sfm import SfmOptions, _extract, _match_loops, _match_sequential

    traj = ds.poses("all")
    names = list(traj.frames)
    if len(names) < 2:
        raise UserError(f"{ds.root}: a localization map needs at least 2 posed images, poses.csv has {len(names)}")
    work = ds.root / "work" / "localization"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    database = work / "database.db"
    opts = SfmOptions()
    if not log.isEnabledFor(logging.DEBUG):
        pycolmap.logging.minloglevel = 2
    report(f"extracting SIFT features of {len(names)} images")
    _extract(database, ds.images_dir, names, opts, ds.camera)
    report("matching (sequential + loop pairs)")
    _match_sequential(database, names, opts)
    _match_loops(database, work, names, opts)
    report("triangulating at the known poses")
    _write_text_model(work / "posed", database, names, traj.positions, traj.quaternions)
    rec = pycolmap.Reconstruction(str(work / "posed"))
    (work / "triangulated").mkdir()
    p = pycolmap.IncrementalPipelineOptions()
    p.num_threads = opts.num_threads
    rec = pycolmap.triangulate_points(rec, database, ds.images_dir, work / "triangulated", options=p)
    if rec.num_points3D() == 0:
        raise UserError(f"{ds.root}: no 3D point could be triangulated (too little texture or overlap?)")
    meta = {"source": "triangulated", "database": str(database)}
    return map_from_reconstruction(rec, database, names, traj.positions, traj.quaternions, ds.camera, meta)


def build_localization_map(
    dataset_dir, force: bool = False, triangulate: bool = False, progress: Callable[[str], None] | None = None
) -> Path:
    """Write ``DATASET/localization_map.npz`` (see module docstring) and return its path.
    An existing map is kept unless ``force``. ``triangulate`` re-triangulates even when the
    SfM model is there."""
    ds = DatasetFolder.open(dataset_dir)
    out = ds.root / MAP_FILE
    if out.is_file() and not force:
        return out
    report = progress or (lambda msg: log.info("%s", msg))
    t0 = time.perf_counter()
    m = None if triangulate else _from_sfm(ds, report)
    if m is None:
        m = _by_triangulation(ds, report)
    m.meta["build_seconds"] = time.perf_counter() - t0
    m.save(out)
    report(f"localization map: {m.summary()} -> {out} ({time.perf_counter() - t0:.1f} s)")
    return out
