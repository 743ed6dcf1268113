"""Benchmark: snapping 10^6 positions to a walkable map (quality bar: < 1 s).

A 60 m x 40 m building at 5 cm (1200 x 800 cells) with rooms and corridors; 10^6 random query
positions, 10% of them outside the map. Prints the one-off precomputation time and the query
time (best of 3) for margin 0 and margin 0.3 m.
"""

import time

import numpy as np

from camposer_core.walkable import WalkableMap


def building(res: float = 0.05) -> WalkableMap:
    h, w = int(40 / res), int(60 / res)
    walk = np.zeros((h, w), bool)
    c = lambda m: int(round(m / res))  # noqa: E731
    walk[c(18) : c(22), c(2) : c(58)] = True  # main corridor
    for x0 in range(4, 56, 8):  # rooms above and below the corridor, doors into it
        walk[c(4) : c(17), c(x0) : c(x0 + 6)] = True
        walk[c(23) : c(36), c(x0) : c(x0 + 6)] = True
        walk[c(17) : c(18), c(x0 + 2) : c(x0 + 3)] = True
        walk[c(22) : c(23), c(x0 + 2) : c(x0 + 3)] = True
    return WalkableMap.from_walkable(walk, res, (-5.0, -3.0))


def main() -> None:
    m = building()
    rng = np.random.default_rng(0)
    n = 1_000_000
    xmin, xmax, ymin, ymax = m.extent
    pts = np.column_stack(
        [
            rng.uniform(xmin - 3, xmax + 3, n),
            rng.uniform(ymin - 2, ymax + 2, n),
            np.full(n, 1.6),
        ]
    )
    print(f"map {m.width}x{m.height} cells @ {m.resolution} m, {100 * m.walkable_fraction():.0f}% walkable")
    for margin in (0.0, 0.3):
        t0 = time.perf_counter()
        m.snapper(margin)
        t_pre = time.perf_counter() - t0
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            r = m.snap(pts, margin=margin)
            times.append(time.perf_counter() - t0)
        ok = m.is_walkable(r.positions).all()
        print(
            f"margin {margin:.1f} m: precompute {t_pre:.3f} s, snap {n:,} points {min(times):.3f} s "
            f"(best of 3; {100 * r.moved.mean():.0f}% moved, {100 * r.outside_map.mean():.0f}% outside, "
            f"all walkable: {ok}) -> {'PASS' if min(times) < 1.0 and ok else 'FAIL'} (< 1 s)"
        )


if __name__ == "__main__":
    main()
