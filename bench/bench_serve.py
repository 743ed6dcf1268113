"""Throughput, latency and memory of ``camposer serve`` over real HTTP on loopback.

Starts ``camposer serve`` as a subprocess, then POSTs real frames to ``/localize``:
1 client, then 4 concurrent clients (keep-alive connections, stdlib client). Prints requests/s,
p50/p95 client-side latency, the server's RSS sampled every 100 requests up to ``--requests``
(flat = no leak), and, as the baseline, the in-process ``Localizer.localize`` time on the same
frames (what HTTP + multipart + decoding add).

Inputs: the reference demo at /work/demo_ref once its model is trained (SUMMARY.md or the model
stage's done marker present: its model/best.pt, building/walkable.yaml and test-split frames), else the small synthetic building
with a tiny checkpoint built in a temporary folder.

    .venv/bin/python bench/bench_serve.py [--requests 1000] [--model CKPT --map MAP.yaml --frames DIR | --dataset DIR]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from camposer_core.web.client import ServeClient  # noqa: E402

DEMO_REF = Path("/work/demo_ref")


def _inputs(args, tmp: Path) -> tuple[Path, Path | None, list[Path], str]:
    from camposer_core.dataset import DatasetFolder

    if args.model is not None and args.dataset is not None:
        ds = DatasetFolder.open(args.dataset)
        names = ds.poses("test").frames
        pick = [names[i] for i in np.linspace(0, len(names) - 1, args.frames_count).astype(int)]
        return args.model, args.map, [ds.image_path(n) for n in pick], f"given, test split of {args.dataset}"
    if args.model is not None:
        frames = sorted(p for p in Path(args.frames).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        return args.model, args.map, frames[: args.frames_count], "given"

    if (DEMO_REF / "SUMMARY.md").is_file() or (DEMO_REF / "model" / ".camposer-stage-done").is_file():
        ds = DatasetFolder.open(DEMO_REF / "dataset")
        names = ds.poses("test").frames
        pick = [names[i] for i in np.linspace(0, len(names) - 1, args.frames_count).astype(int)]
        wmap = DEMO_REF / "building" / "walkable.yaml"
        return DEMO_REF / "model" / "best.pt", wmap, [ds.image_path(n) for n in pick], "demo_ref (default building)"
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test"))
    from conftest import build_small_dataset  # noqa: E402

    from camposer_core.synthetic import SynthConfig, synthesize
    from camposer_core.training.quick import train_tiny_checkpoint

    print("no /work/demo_ref/SUMMARY.md: using the small synthetic building and a tiny checkpoint")
    synth = synthesize(SynthConfig.small(), tmp / "synth", progress=False, force=True)
    root = build_small_dataset(synth, tmp / "dataset")
    ckpt = train_tiny_checkpoint(root, tmp / "model" / "model.pt")
    ds = DatasetFolder.open(root)
    names = ds.poses("test").frames[: args.frames_count]
    return ckpt, synth.walkable_yaml, [ds.image_path(n) for n in names], "small synthetic building"


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_clients(url: str, payloads, n_clients: int, n_requests: int, on_count=None):
    """``n_requests`` POSTs shared by ``n_clients`` threads; returns (latencies ms, statuses, seconds)."""
    lock = threading.Lock()
    counter = iter(range(n_requests))
    lat, statuses = [], []

    def worker():
        with ServeClient(url) as c:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                name, data = payloads[i % len(payloads)]
                t0 = time.perf_counter()
                status, _ = c.localize(data, name)
                dt = (time.perf_counter() - t0) * 1000.0
                with lock:
                    lat.append(dt)
                    statuses.append(status)
                    if on_count is not None:
                        on_count(len(statuses))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(n_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat, statuses, time.perf_counter() - t0


def _pct(a, q):
    return float(np.percentile(np.asarray(a), q))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=1000, help="total /localize requests (RSS measured over them)")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--map", type=Path, default=None)
    ap.add_argument("--frames", type=Path, default=None, help="folder of JPEG/PNG frames (with --model)")
    ap.add_argument(
        "--dataset", type=Path, default=None, help="dataset folder whose test frames to send (with --model)"
    )
    ap.add_argument("--frames-count", type=int, default=20)
    ap.add_argument(
        "--localization-map",
        type=Path,
        default=None,
        help="refine with PnP against this map (dataset folder or .npz); default: as camposer serve decides",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of the server and the baseline (1: on a shared, loaded 2-core machine more "
        "threads are slower; 0: torch's default)",
    )
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_serve_") as tmp:
        model, wmap, frames, source = _inputs(args, Path(tmp))
        payloads = [(p.name, p.read_bytes()) for p in frames]
        print(
            f"threads: {args.threads or 'torch default'}; inputs: {source}; model {model}; map {wmap}; {len(frames)} frames "
            f"({np.mean([len(d) for _, d in payloads]) / 1024:.0f} KB mean, {frames[0].suffix})"
        )

        # baseline: the same frames through the in-process Localizer (decode excluded)
        from PIL import Image

        from camposer_core.web.loading import load_serve_model

        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        lmap = args.localization_map or "auto"
        served = load_serve_model(model, wmap, localization_map=lmap)  # the same model, maps, refinement as the server
        loc = served.localizer
        print(f"refinement: {served.localization_map or 'off (no localization map)'}")
        imgs = [np.asarray(Image.open(p).convert("RGB")) for p in frames]
        for im in imgs[:3]:
            loc.localize(im)
        inproc = []
        for k in range(max(60, len(imgs))):
            t0 = time.perf_counter()
            loc.reset()  # as the server does: every photo on its own
            loc.localize(imgs[k % len(imgs)])
            inproc.append((time.perf_counter() - t0) * 1000.0)
        del loc, served

        port = _free_port()
        cmd = [sys.executable, "-m", "camposer_core.cli", "serve", "--model", str(model), "--port", str(port)]
        cmd += ["--threads", str(args.threads)]
        if args.localization_map is not None:
            cmd += ["--localization-map", str(args.localization_map)]
        if wmap is not None:
            cmd += ["--map", str(wmap)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ))
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            with ServeClient(url) as c:
                while True:
                    try:
                        c.get("/health")
                        break
                    except OSError:
                        if proc.poll() is not None or time.monotonic() > deadline:
                            raise SystemExit("camposer serve did not start:\n" + proc.stdout.read()) from None
                        time.sleep(0.2)
            with ServeClient(url) as c:  # the HTTP floor: a request that does no work
                health = []
                for _ in range(100):
                    t0 = time.perf_counter()
                    c.get("/health")
                    health.append((time.perf_counter() - t0) * 1000.0)
            rss = [(0, _rss_mb(proc.pid))]
            done = {"n": 0}

            def sample(n_phase, offset):
                n = offset + n_phase
                if n % 100 == 0:
                    rss.append((n, _rss_mb(proc.pid)))

            n1 = args.requests // 4
            n4 = args.requests - n1
            lat1, st1, sec1 = _run_clients(url, payloads, 1, n1, lambda n: sample(n, 0))
            lat4, st4, sec4 = _run_clients(url, payloads, 4, n4, lambda n: sample(n, n1))
            done["n"] = n1 + n4
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    print(
        f"\nin-process Localizer.localize (baseline, same frames): p50 {_pct(inproc, 50):.1f} ms, "
        f"p95 {_pct(inproc, 95):.1f} ms -> at most {1000 / statistics.mean(inproc):.1f} req/s on one worker"
    )
    print(f"GET /health (HTTP floor, keep-alive): p50 {_pct(health, 50):.1f} ms, p95 {_pct(health, 95):.1f} ms")
    print(f"{'clients':>7} {'requests':>8} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'non-200':>8}")
    for n, lat, st, sec in ((1, lat1, st1, sec1), (4, lat4, st4, sec4)):
        bad = sum(s != 200 for s in st)
        print(f"{n:>7} {len(lat):>8} {len(lat) / sec:>7.1f} {_pct(lat, 50):>7.1f} {_pct(lat, 95):>7.1f} {bad:>8}")
    print("\nserver RSS (MB) by requests served: " + ", ".join(f"{n}: {m:.0f}" for n, m in rss))
    after_warm = [m for n, m in rss if n >= 100]
    if len(after_warm) >= 2:
        print(f"RSS growth from request 100 to {rss[-1][0]}: {after_warm[-1] - after_warm[0]:+.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
