"""Benchmark: synthetic-building rendering speed (frames/s at 640x480) and generation time.

Usage: python bench/bench_render.py [--frames 80] [--full]
  --full also writes the whole default walkthrough (video included) to a temp folder and
  reports the end-to-end time (the issue's bar: under 2 minutes).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from camposer_core.synthetic import SynthConfig, generate_scene, synthesize


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=80, help="walkthrough frames to render")
    ap.add_argument("--full", action="store_true", help="also time the full default synthesize() run")
    args = ap.parse_args()

    cfg = SynthConfig()
    t0 = time.perf_counter()
    scene = generate_scene(cfg)
    gen_s = time.perf_counter() - t0
    traj = scene.walkthrough()
    print(
        f"default building: generated in {gen_s:.1f} s, {len(scene.plan.boxes)} boxes, "
        f"{len(scene.surfaces.faces)} faces, textures {scene.surfaces.atlas.nbytes / 1e6:.0f} MB, "
        f"walkthrough {len(traj)} frames ({traj.timestamps[-1]:.0f} s, {traj.path_length():.0f} m)"
    )
    idx = np.linspace(0, len(traj) - 1, args.frames).astype(int)
    cam = scene.camera
    scene.render(traj.positions[0], traj.quaternions[0])  # warm-up (ray cache)
    times, cpu = [], []
    for i in idx:
        t, c = time.perf_counter(), time.process_time()
        scene.render(traj.positions[i], traj.quaternions[i], cam)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    times = np.array(times)
    print(
        f"render {cam.width}x{cam.height}: {len(idx) / times.sum():.1f} frames/s on one thread "
        f"(median {1e3 * np.median(times):.1f} ms, p90 {1e3 * np.percentile(times, 90):.1f} ms per frame; "
        f"CPU {1e3 * np.median(cpu):.1f} ms per frame -> {1 / np.median(cpu):.1f} frames/s per idle core)"
    )
    with ThreadPoolExecutor(2) as pool:  # what synthesize() does on a 2-core machine
        t = time.perf_counter()
        list(pool.map(lambda i: scene.render(traj.positions[i], traj.quaternions[i], cam), idx))
        print(f"render {cam.width}x{cam.height} in 2 threads: {len(idx) / (time.perf_counter() - t):.1f} frames/s")
    if args.full:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            out = synthesize(cfg, tmp, progress=False)
            total = time.perf_counter() - t
            print(
                f"full default synthesize(): {out.num_frames} frames + video in {total:.1f} s "
                f"({out.num_frames / out.render_seconds:.1f} frames/s incl. encoding)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
