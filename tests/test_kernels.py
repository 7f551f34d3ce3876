"""The compiled kernels (safety/kernels.py) against the vectorised reference (geometry.py,
itself held to a brute-force oracle in test_geometry_kernels.py) on the same hard cases,
and their pruned loops against plain loops over every capsule and every triangle."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.test_geometry_kernels import (
    SETTINGS,
    Vec,
    _check_first_hit,
    oracle_point_segment,
    oracle_point_triangle,
    point_near_triangle,
    ray_capsule_case,
    segment_pair_case,
    segment_triangle_case,
    triangle_st,
)
from thighmap.safety import geometry, kernels

TOL_MM = 1e-9


@SETTINGS
@given(segment_pair_case())
def test_segment_segment_same_as_reference(case: tuple[Vec, Vec, Vec, Vec, float]) -> None:
    p0, p1, a, b, _ = case
    dist, s, t = kernels.segment_segment_closest(p0, p1, a, b)
    ref, _, _ = geometry.segment_segment_closest(p0, p1, a, b)
    assert abs(dist - ref[0]) <= TOL_MM
    assert 0.0 <= s <= 1.0 and 0.0 <= t <= 1.0
    pair = np.linalg.norm(p0 + s * (p1 - p0) - (a + t * (b - a)))
    assert abs(pair - dist) <= TOL_MM


@SETTINGS
@given(ray_capsule_case())
def test_ray_capsule_same_as_reference(case: tuple[Vec, Vec, Vec, Vec, float]) -> None:
    o, d, a, b, r = case
    d = d / np.linalg.norm(d)
    t = kernels.ray_capsule_first_hit(o, d, a, b, r)
    ref = float(geometry.ray_capsule_first_hit(o, d, a, b, r)[0])
    assert math.isinf(t) == math.isinf(ref), (t, ref)
    if math.isfinite(ref):
        # a (nearly) tangent ray is ill-conditioned: rounding of the discriminant moves the
        # root by up to ~sqrt(eps) times the size, in either implementation
        size = float(np.linalg.norm(o - a) + np.linalg.norm(o - b)) + r
        assert abs(t - ref) <= 1e-9 * (1.0 + ref) + 4.0 * math.sqrt(np.finfo(float).eps) * size
    # and, like the reference, against the brute-force oracle (a scan and bisection)

    def g(ts: Vec) -> Vec:
        return oracle_point_segment(o + np.asarray(ts)[:, None] * d, a, b) - r

    t_max = float(np.linalg.norm(o - a) + np.linalg.norm(b - a) + r + 1.0)
    _check_first_hit(t, g, lambda x: float(g(np.array([x]))[0]), t_max)


def test_ray_capsule_tangent_and_axis() -> None:
    a, b = np.array([0.0, 0.0, 0.0]), np.array([0.0, 0.0, 10.0])
    x = np.array([1.0, 0.0, 0.0])
    assert kernels.ray_capsule_first_hit(np.array([-20.0, 2.0, 5.0]), x, a, b, 2.0) == pytest.approx(20.0)
    assert kernels.ray_capsule_first_hit(np.array([-20.0, 2.0 + 1e-6, 5.0]), x, a, b, 2.0) == math.inf
    z = np.array([0.0, 0.0, 1.0])
    assert kernels.ray_capsule_first_hit(np.array([0.0, 0.0, -30.0]), z, a, b, 2.0) == 28.0
    assert kernels.ray_capsule_first_hit(np.array([0.5, 0.0, 3.0]), x, a, b, 2.0) == 0.0
    assert kernels.ray_capsule_first_hit(np.array([5.0, 0.0, 0.0]), x, a, b, 2.0) == math.inf


@SETTINGS
@given(triangle_st().flatmap(lambda tri: st.tuples(st.just(tri), point_near_triangle(tri))))
def test_point_triangle_same_as_reference(case: tuple[tuple[Vec, Vec, Vec], Vec]) -> None:
    (v0, v1, v2), x = case
    ref, _ = geometry.point_triangle_closest(x, v0, v1, v2)
    assert abs(kernels.point_triangle_distance(x, v0, v1, v2) - ref[0]) <= TOL_MM


@SETTINGS
@given(segment_triangle_case())
def test_ray_triangle_same_as_reference(case: tuple[Vec, Vec, tuple[Vec, Vec, Vec]]) -> None:
    p0, p1, (v0, v1, v2) = case
    d = p1 - p0
    assume(np.linalg.norm(d) > 1e-6)
    t = kernels.ray_triangle_hit(p0, d, v0, v1, v2)
    ref = float(geometry.ray_triangle_hits(p0, d, v0, v1, v2)[0])
    e1, e2 = v1 - v0, v2 - v0
    det = float(e1 @ np.cross(d, e2))
    if det * det >= 1e-12 * float(d @ d) * float(e1 @ e1) * float(e2 @ e2):
        assert math.isnan(t) == math.isnan(ref), (t, ref)
        if not math.isnan(ref):
            assert abs(t - ref) <= 1e-9 * (1.0 + ref)
    elif not math.isnan(t):
        # a ray (nearly) in the triangle's plane, or a sliver: where along the line the
        # contact is reported depends on rounding; it must be a point of the triangle
        assert oracle_point_triangle(p0 + t * d, v0, v1, v2)[0] <= 1e-7 * (1 + t)


def test_ray_triangle_edges_and_vertices_count() -> None:
    v0, v1, v2 = np.array([0.0, 0, 0]), np.array([4.0, 0, 0]), np.array([0.0, 4, 0])
    down = np.array([0.0, 0.0, -1.0])
    for target in ([2.0, 0, 0], [0.0, 2, 0], [2.0, 2, 0], [0.0, 0, 0], [4.0, 0, 0], [0, 4.0, 0]):
        assert kernels.ray_triangle_hit(np.add(target, [0, 0, 3.0]), down, v0, v1, v2) == 3.0
    assert math.isnan(kernels.ray_triangle_hit(np.array([2.0, -1e-6, 3.0]), down, v0, v1, v2))
    # lying in the plane: the first boundary contact
    assert kernels.ray_triangle_hit(np.array([-1.0, 1.0, 0.0]), np.array([1.0, 0, 0]), v0, v1, v2) == 1.0
    # a shallow crossing of a needle-shaped triangle (test_geometry_kernels has the story)
    n = np.array([1.0, 0.75, 1.0]) / np.linalg.norm([1.0, 0.75, 1.0])
    v0, v1 = np.array([0.0, 0.0, 1.0]), np.array([0.0, 3.0, 0.0])
    v2 = v0 + n * 1e-12
    p0 = v0 + 0.5 * (v1 - v0) + (v2 - v0) - 2.0 * n
    t = kernels.ray_triangle_hit(p0, 3.0 * n, v0, v1, v2)
    assert oracle_point_triangle(p0 + t * 3.0 * n, v0, v1, v2)[0] <= 1e-11


# ------------------------------------------------------------------ pruned loops vs every element
def _random_needles(model, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pts, normals = model.skin_points()
    idx = rng.choice(len(pts), n)
    d = normals[idx] + rng.normal(scale=0.5, size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return pts[idx], d, rng.uniform(5.0, 120.0, n)


@pytest.fixture(scope="module")
def model(atlas):
    from thighmap.safety.engine import SafetyModel

    return SafetyModel.for_atlas(atlas)


def test_chain_pruning_keeps_every_minimum(model) -> None:
    """The cluster bounds never drop the capsule that holds a structure's minimum:
    clearances, zone clearances and first caution hits equal a loop over all capsules."""
    ch = model.chains
    entry, direction, depth = _random_needles(model, 300, 11)
    half = 0.125
    grown = ch.radius + ch.uncertainty + ch.caution_margin[ch.structure]
    m = len(ch.a)
    batch = ch.batch(entry, direction, depth, np.full(len(entry), 0.25), depth + 30.0)
    for i in range(len(entry)):
        tip = entry[i] + direction[i] * depth[i]
        d_all, _, _ = geometry.segment_segment_closest(
            np.broadcast_to(entry[i], (m, 3)), np.broadcast_to(tip, (m, 3)), ch.a, ch.b
        )
        surface = d_all - ch.radius - half
        t_all = geometry.ray_capsule_first_hit(
            np.broadcast_to(entry[i], (m, 3)), np.broadcast_to(direction[i], (m, 3)), ch.a, ch.b, grown + half
        )
        t_all = np.where(t_all <= depth[i] + 30.0, t_all, np.inf)
        single = ch.needle_clearances(entry[i], tip, 0.25)
        first = ch.first_caution_hit(entry[i], direction[i], 0.25, depth[i] + 30.0)
        for k in range(ch.n_structures):
            mine = ch.structure == k
            assert abs(single["clearance"][k] - surface[mine].min()) <= TOL_MM
            assert abs(single["zone"][k] - (surface - ch.uncertainty)[mine].min()) <= TOL_MM
            assert abs(batch["clearance"][i, k] - surface[mine].min()) <= TOL_MM
            ref_first = t_all[mine].min()
            assert (first[k] == np.inf) == (ref_first == np.inf)
            if np.isfinite(ref_first):
                assert abs(first[k] - ref_first) <= 1e-9
        ref_first_any = t_all.min()
        got = batch["first_caution_depth"][i]
        assert (got == np.inf) == (ref_first_any == np.inf)
        if np.isfinite(ref_first_any):
            assert abs(got - ref_first_any) <= 1e-9
        caution = surface - ch.uncertainty - ch.caution_margin[ch.structure]
        assert abs(batch["min_caution"][i] - caution.min()) <= TOL_MM
        assert abs(batch["min_zone"][i] - (surface - ch.uncertainty).min()) <= TOL_MM


def test_line_crossings_find_every_triangle(model) -> None:
    """The bucket grid never hides a crossed triangle: the same crossings as a test of
    every triangle of the atlas."""
    index = model.tissues
    entry, direction, depth = _random_needles(model, 40, 12)
    v0, v1, v2 = index.tri[:, 0], index.tri[:, 1], index.tri[:, 2]
    for i in range(len(entry)):
        start = entry[i] - direction[i] * 20.0
        length = depth[i] + 20.0
        t_ref = geometry.ray_triangle_hits(start, direction[i], v0, v1, v2)
        ok = np.isfinite(t_ref) & (t_ref <= length)
        t, tri = index.crossings(start, direction[i], length)
        assert sorted(tri.tolist()) == sorted(np.flatnonzero(ok).tolist())
        order = np.argsort(tri)
        ref = t_ref[np.sort(tri)]
        np.testing.assert_allclose(t[order], ref, atol=1e-9)


_WARM_UP_SCRIPT = """
import numpy as np
from thighmap.anatomy.atlas import load_atlas
from thighmap.planning import Needle
from thighmap.safety import kernels, maps
from thighmap.safety.engine import SafetyModel, model_for_patient

kernels.warm_up()
entry_points = (kernels.chain_segment_clearances, kernels.chain_first_caution,
                kernels.chain_batch, kernels.line_crossings)
before = [len(k.signatures) for k in entry_points]
atlas = load_atlas()
model = SafetyModel.for_atlas(atlas)
model.check_needle(model.needle_from_trigger_point(next(iter(atlas.trigger_points))))
pts, normals = model.skin_points()
model.check_many(pts[:5000], normals[:5000], np.linspace(5, 60, 5000), 0.25, 75.0)
model.check_many(pts[:3], normals[:3], 30.0)
maps.approach_map(model, atlas.trigger_points[next(iter(atlas.trigger_points))].position_mm)
left = model_for_patient(None, atlas, "left")
left.check_needle(Needle("l", pts[0] * [-1, 1, 1], normals[0] * [-1, 1, 1], 20.0, 50.0, 0.3))
print(before, [len(k.signatures) for k in entry_points])
"""


@pytest.mark.skipif(
    kernels._AHEAD_OF_TIME is not None, reason="the kernels were compiled ahead of time (no numba)"
)
def test_warm_up_compiles_what_the_engine_uses() -> None:
    """In a fresh interpreter: after warm_up, checks of every kind (single, batch,
    threaded batch, maps, the tissue ladder, a left thigh) compile nothing more. One
    argument type per kernel is also what compiling them ahead of time for the bundle
    needs (packaging/compile_kernels.py)."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _WARM_UP_SCRIPT], capture_output=True, text=True, check=True, timeout=600
    ).stdout.strip()
    before, after = out.splitlines()[-1].split("] [")
    assert before + "]" == "[" + after, out
    assert "0" not in before.strip("[]").split(", "), out


_AOT_CHECK_SCRIPT = """
import json, sys
from thighmap.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "numba": "numba" in sys.modules}), file=sys.stderr)
"""


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_kernels_compiled_ahead_of_time_check_as_numba_does(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The bundle's kernels (packaging/compile_kernels.py): with the compiled module on the
    path a check imports no numba and reports exactly what the numba kernels report, for
    the example plans and a plan large enough to run in threads; a kernels.py that differs
    from the one compiled refuses the module and compiles with numba instead."""
    import json
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from benchmarks.bench_scale import make_plan

    from thighmap.safety.engine import model_for_patient

    pytest.importorskip("setuptools", reason="numba's ahead-of-time compiler builds with setuptools")
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler: numba's ahead-of-time compiler needs one")
    root = Path(__file__).resolve().parents[1]
    src = str(root / "src")
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    clean["THIGHMAP_ASSETS"] = str(root / "assets")  # also for the copied tree below
    built = subprocess.run(
        [sys.executable, str(root / "packaging" / "compile_kernels.py"), str(tmp_path / "aot")],
        env=dict(clean, PYTHONPATH=src), capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    big = tmp_path / "big.thighplan.json"
    big.write_text(json.dumps(make_plan(model_for_patient(None), 600)))
    plans = [*sorted(str(p) for p in (root / "examples").glob("*.thighplan.json")), str(big)]

    def check(pythonpath: str, plan: str) -> tuple[str, dict]:
        out = subprocess.run(
            [sys.executable, "-c", _AOT_CHECK_SCRIPT, "check", plan, "--json"],
            env=dict(clean, PYTHONPATH=pythonpath), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        return out.stdout, json.loads(out.stderr.strip().splitlines()[-1])

    for plan in plans:
        jit_report, jit = check(src, plan)
        aot_report, aot = check(os.pathsep.join([src, str(tmp_path / "aot")]), plan)
        assert jit["numba"] and not aot["numba"], (jit, aot)
        assert aot["code"] == jit["code"] and aot_report == jit_report, plan

    # a changed source: the stamp no longer matches, numba compiles as from a checkout
    tree = tmp_path / "changed"
    no_caches = shutil.ignore_patterns("__pycache__")
    shutil.copytree(root / "src" / "thighmap", tree / "thighmap", ignore=no_caches)
    kernels_py = tree / "thighmap" / "safety" / "kernels.py"
    kernels_py.write_text(kernels_py.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    stale_report, stale = check(os.pathsep.join([str(tree), str(tmp_path / "aot")]), plans[0])
    assert stale["numba"] and stale["code"] in (0, 1, 2), stale
    assert stale_report == check(src, plans[0])[0]
