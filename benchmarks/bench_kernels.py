"""Throughput / latency benchmark for the exact safety kernels (a plain script, not a test).

Run from the repository root:  PYTHONPATH=src python3 benchmarks/bench_kernels.py
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import trimesh

from thighmap.safety.geometry import (
    ray_capsule_first_hit,
    segment_capsule_signed_distance,
    segment_segment_closest,
)
from thighmap.safety.mesh_distance import TriangleMeshDistance

N_PAIRS = 1_000_000


def _best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return float(best)


def bench_pair_kernels(rng: np.random.Generator) -> None:
    p0 = rng.uniform(-100.0, 100.0, (N_PAIRS, 3))
    p1 = p0 + rng.normal(0.0, 30.0, (N_PAIRS, 3))
    a = rng.uniform(-100.0, 100.0, (N_PAIRS, 3))
    b = a + rng.normal(0.0, 50.0, (N_PAIRS, 3))
    radius = rng.uniform(0.5, 5.0, N_PAIRS)
    direction = rng.normal(size=(N_PAIRS, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)

    cases: list[tuple[str, Callable[[], object]]] = [
        ("segment_segment_closest", lambda: segment_segment_closest(p0, p1, a, b)),
        (
            "segment_capsule_signed_distance",
            lambda: segment_capsule_signed_distance(p0, p1, a, b, radius),
        ),
        ("ray_capsule_first_hit", lambda: ray_capsule_first_hit(p0, direction, a, b, radius)),
    ]
    for name, fn in cases:
        elapsed = _best_of(fn)
        print(f"{name:34s} {N_PAIRS / elapsed / 1e6:8.2f} M pairs/s  ({elapsed:.3f} s / 1e6)")


def bench_mesh(rng: np.random.Generator) -> None:
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=40.0)  # 20480 triangles
    start = time.perf_counter()
    mesh = TriangleMeshDistance(sphere.vertices, sphere.faces)
    build = time.perf_counter() - start
    print(f"TriangleMeshDistance build ({mesh.n_faces} triangles): {build * 1e3:.1f} ms")

    def needles(n: int, inside: bool) -> tuple[np.ndarray, np.ndarray]:
        direction = rng.normal(size=(n, 3))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        if inside:  # skin point outside, tip well inside the sphere
            start_pts = -direction * rng.uniform(45.0, 60.0, (n, 1))
            length = rng.uniform(20.0, 60.0, (n, 1))
        else:  # needles ending short of the surface
            start_pts = -direction * rng.uniform(60.0, 80.0, (n, 1))
            length = rng.uniform(5.0, 15.0, (n, 1))
        offset = rng.normal(0.0, 5.0, (n, 3))
        return start_pts + offset, start_pts + offset + direction * length

    for label, inside in (("outside (miss)", False), ("penetrating", True)):
        p0, p1 = needles(40, inside)
        times = []
        for x, y in zip(p0, p1, strict=True):
            start = time.perf_counter()
            mesh.segment_signed_distance(x, y)
            times.append(time.perf_counter() - start)
        times_ms = np.asarray(times) * 1e3
        print(
            f"segment_signed_distance, {label:15s} median {np.median(times_ms):7.2f} ms"
            f"  (p90 {np.percentile(times_ms, 90):7.2f} ms, n={len(times)})"
        )

    origins, _ = needles(40, False)
    dirs = -origins / np.linalg.norm(origins, axis=1, keepdims=True)
    times = []
    for o, d in zip(origins, dirs, strict=True):
        start = time.perf_counter()
        mesh.first_hit_within(o, d, 2.0)
        times.append(time.perf_counter() - start)
    print(f"first_hit_within (r = 2 mm)             median {np.median(times) * 1e3:7.2f} ms")


def main() -> None:
    rng = np.random.default_rng(12345)
    bench_pair_kernels(rng)
    bench_mesh(rng)


if __name__ == "__main__":
    main()
