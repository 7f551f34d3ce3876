"""Safety-engine benchmark (a plain script, not a test): prints figures, asserts nothing.

Run from the repository root:  .venv/bin/python benchmarks/bench_safety.py

Measures, on the bundled reference adult:
  - single-needle check latency (SafetyModel.check_needle: clearances, maximum safe
    depth, tissue ladder, rules), median and p99;
  - the geometric core alone for one needle (clearances + first caution hit);
  - batch throughput (SafetyModel.check_many) in needles per second;
  - the approach map for every outer-skin vertex, and the depth map (safety/maps.py);
  - the same clearances computed the way a VTK-based planner would: sample the needle
    every 0.5 mm and ask vtkImplicitPolyDataDistance for each danger structure's
    surface, with the speed ratio against the batch path and the largest disagreement
    (the engine measures to the exact capsule chain, VTK to its triangulation, and
    sampling only ever over-estimates a minimum), split into its two parts by also
    asking the engine at VTK's own sample points.
"""

from __future__ import annotations

import time

import numpy as np
import vtk
from vtk.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray

from thighmap.anatomy.atlas import load_atlas
from thighmap.planning import Needle
from thighmap.safety import maps
from thighmap.safety.engine import SafetyModel

SAMPLE_STEP_MM = 0.5


def _needles(model: SafetyModel, rng: np.random.Generator, n: int):
    pts, normals = model.skin_points()
    idx = rng.choice(len(pts), n)
    d = normals[idx] + rng.normal(scale=0.35, size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return pts[idx], d, rng.uniform(10.0, 60.0, n)


def _vtk_distance(mesh) -> vtk.vtkImplicitPolyDataDistance:
    points = vtk.vtkPoints()
    points.SetData(numpy_to_vtk(np.ascontiguousarray(mesh.vertices, float), deep=True))
    cells = vtk.vtkCellArray()
    faces = np.hstack([np.full((len(mesh.faces), 1), 3), mesh.faces]).ravel()
    cells.ImportLegacyFormat(numpy_to_vtkIdTypeArray(faces.astype(np.int64), deep=True))
    poly = vtk.vtkPolyData()
    poly.SetPoints(points)
    poly.SetPolys(cells)
    dist = vtk.vtkImplicitPolyDataDistance()
    dist.SetInput(poly)
    return dist


def _percentiles(times_s: list[float]) -> str:
    ms = np.asarray(times_s) * 1e3
    return f"median {np.median(ms):7.3f} ms   p99 {np.percentile(ms, 99):7.3f} ms   (n={len(ms)})"


def main() -> None:
    rng = np.random.default_rng(20261124)
    t0 = time.perf_counter()
    atlas = load_atlas()
    model = SafetyModel.for_atlas(atlas)
    model.skin_points()
    print(f"load atlas + build safety model: {time.perf_counter() - t0:.2f} s")
    print(f"danger structures: {', '.join(model.chains.structure_ids)} ({len(model.chains.a)} capsules)")

    # ---- single needle, full report
    entry, direction, depth = _needles(model, rng, 600)
    needles = [
        Needle(
            id=f"n{i}",
            entry_mm=entry[i],
            direction=direction[i],
            depth_mm=float(depth[i]),
            needle_length_mm=75.0,
            gauge_mm=0.25,
        )
        for i in range(len(entry))
    ]
    for n in needles[:20]:
        model.check_needle(n)  # warm caches
    times = []
    for n in needles:
        s = time.perf_counter()
        model.check_needle(n)
        times.append(time.perf_counter() - s)
    print(f"single needle, full report (check_needle):        {_percentiles(times)}")

    times = []
    for i in range(len(entry)):
        s = time.perf_counter()
        tip = entry[i] + direction[i] * depth[i]
        model.chains.needle_clearances(entry[i], tip, 0.25)
        model.chains.first_caution_hit(entry[i], direction[i], 0.25, 75.0)
        times.append(time.perf_counter() - s)
    print(f"single needle, clearances + max safe depth only:  {_percentiles(times)}")

    # ---- batch
    n_batch = 200_000
    be, bd, bdepth = _needles(model, rng, n_batch)
    best = np.inf
    for _ in range(3):
        s = time.perf_counter()
        for k in range(0, n_batch, 20_000):
            model.check_many(be[k : k + 20_000], bd[k : k + 20_000], bdepth[k : k + 20_000], 0.25, 75.0)
        best = min(best, time.perf_counter() - s)
    print(
        f"batch (check_many, chunks of 20,000): {n_batch / best:,.0f} needles/s "
        f"({best:.2f} s for {n_batch:,})"
    )

    # ---- maps
    target = atlas.trigger_points[next(iter(atlas.trigger_points))].position_mm
    n_skin = len(model.skin_points()[0])
    best = min(_timed(lambda: maps.approach_map(model, target)) for _ in range(3))
    print(f"approach map, {n_skin:,} skin vertices: {best * 1e3:.1f} ms")
    best = min(_timed(lambda: maps.depth_map(model)) for _ in range(3))
    print(f"depth map,    {n_skin:,} skin vertices: {best * 1e3:.1f} ms")

    # ---- the VTK way, on a subset
    n_vtk = 1_000
    ve, vd, vdepth = be[:n_vtk], bd[:n_vtk], bdepth[:n_vtk]
    surfaces = {sid: _vtk_distance(atlas.mesh(sid)) for sid in model.chains.structure_ids}
    s = time.perf_counter()
    vtk_clear = np.empty((n_vtk, len(surfaces)))
    for i in range(n_vtk):
        t = np.arange(0.0, vdepth[i] + 1e-9, SAMPLE_STEP_MM)
        pts = ve[i] + vd[i] * t[:, None]
        for k, dist in enumerate(surfaces.values()):
            vtk_clear[i, k] = min(dist.EvaluateFunction(p) for p in pts) - 0.125
    t_vtk = time.perf_counter() - s
    s = time.perf_counter()
    ours = model.chains.batch(ve, vd, vdepth, np.full(n_vtk, 0.25))["clearance"]
    t_ours = time.perf_counter() - s
    exact = np.array(
        [
            model.chains.needle_clearances(ve[i], ve[i] + vd[i] * vdepth[i], 0.25)["clearance"]
            for i in range(n_vtk)
        ]
    )
    # the engine's exact distance at VTK's own sample points (zero-length needles), to
    # split the disagreement into what sampling misses and what the triangulation moves
    counts = np.floor(vdepth / SAMPLE_STEP_MM + 1e-9).astype(int) + 1
    owner = np.repeat(np.arange(n_vtk), counts)
    t_s = (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)) * SAMPLE_STEP_MM
    samples = ve[owner] + vd[owner] * t_s[:, None]
    at_samples = model.chains.batch(samples, vd[owner], np.zeros(len(owner)), np.full(len(owner), 0.25))
    engine_sampled = np.full((n_vtk, len(surfaces)), np.inf)
    np.minimum.at(engine_sampled, owner, at_samples["clearance"])
    near = vtk_clear < 30.0
    diff = vtk_clear[near] - exact[near]
    mesh_part = vtk_clear[near] - engine_sampled[near]
    sampling_part = engine_sampled[near] - exact[near]
    print(
        f"VTK way ({SAMPLE_STEP_MM} mm samples + vtkImplicitPolyDataDistance, {n_vtk} needles x "
        f"{len(surfaces)} structures): {t_vtk:.2f} s = {n_vtk / t_vtk:,.0f} needles/s"
    )
    print(f"engine batch on the same needles: {t_ours * 1e3:.1f} ms = {n_vtk / t_ours:,.0f} needles/s")
    print(f"speed ratio (engine / VTK way): {t_vtk / t_ours:,.0f}x")
    print(
        f"disagreement where VTK clearance < 30 mm ({near.sum()} pairs): VTK - engine "
        f"min {diff.min():+.3f} mm, max {diff.max():+.3f} mm, largest |diff| {np.abs(diff).max():.3f} mm"
    )
    print(
        f"  at VTK's own sample points (same points, triangles vs exact tube): VTK - engine "
        f"min {mesh_part.min():+.4f} mm, max {mesh_part.max():+.4f} mm"
    )
    print(
        f"  what 0.5 mm sampling misses (engine at the samples - engine exact): "
        f"min {sampling_part.min():+.4f} mm, max {sampling_part.max():+.4f} mm"
    )
    same = np.allclose(ours, exact, rtol=0.0, atol=1e-9)
    print(f"batch clearances equal to the single-needle path (1e-9 mm): {same}")


def _timed(fn) -> float:
    s = time.perf_counter()
    fn()
    return time.perf_counter() - s


if __name__ == "__main__":
    main()
