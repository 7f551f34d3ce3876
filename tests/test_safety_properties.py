"""Hypothesis properties of the verdict on random needles of the bundled atlas:

* the maximum safe depth and the depth findings agree: at that depth no depth rule
  fires, a little deeper one does;
* no needle that fails to enter the body through the skin at its entry is ever safe,
  with a brute-force oracle (every triangle of the skin, winding numbers) deciding
  what "enters" means, independent of the engine's tissue index.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.skin_oracle import SkinOracle, enters_the_body
from thighmap.planning import NEEDLE_LENGTH_PRESETS_MM, Needle
from thighmap.safety import rules
from thighmap.safety.engine import SafetyModel

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def model(atlas):
    return SafetyModel.for_atlas(atlas)


@pytest.fixture(scope="module")
def skin_points(model):
    pts, normals = model.skin_points()
    keep = (pts[:, 2] > 20.0) & (pts[:, 2] < 400.0)  # away from the cut ends of the limb
    return pts[keep], normals[keep]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


# ---------------------------------------------------------------------- maximum safe depth
@SETTINGS
@given(
    index=st.integers(0, 10**9),
    tilt=st.tuples(*[st.floats(-0.6, 0.6)] * 3),
    length=st.sampled_from(NEEDLE_LENGTH_PRESETS_MM),
)
def test_max_safe_depth_is_where_the_first_depth_finding_appears(model, skin_points, index, tilt, length):
    pts, normals = skin_points
    i = index % len(pts)
    direction = _unit(normals[i] + np.array(tilt))
    needle = Needle("p", pts[i], direction, 1.0, length, 0.25)
    limit = model.check_needle(needle).max_safe_depth_mm
    assume(limit > 0.05)
    depth_rules = rules.depth_rule_ids(model.atlas.rules)
    at = model.check_needle(needle.with_changes(depth_mm=limit))
    assert not ({f.rule for f in at.findings} & depth_rules), at.to_text()
    assert at.max_safe_depth_mm == pytest.approx(limit, abs=1e-9)
    beyond = model.check_needle(needle.with_changes(depth_mm=limit + 0.05))
    assert {f.rule for f in beyond.findings} & depth_rules, beyond.to_text()
    assert beyond.status != "safe"


# ---------------------------------------------------------------------- entering the body
@pytest.fixture(scope="module")
def oracle(model):
    return SkinOracle(model)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
@given(
    index=st.integers(0, 10**9),
    offset_mm=st.one_of(st.floats(-12.0, 12.0), st.floats(-1.0, 1.0)),
    direction=st.tuples(*[st.floats(-1.0, 1.0)] * 3),
    inward=st.floats(-1.0, 1.0),
    depth=st.one_of(st.floats(5e-324, 1e-3), st.floats(0.01, 4.0), st.floats(4.0, 120.0)),
)
def test_no_needle_that_fails_to_enter_the_body_is_ever_safe(
    model, skin_points, oracle, index, offset_mm, direction, inward, depth
):
    pts, normals = skin_points
    i = index % len(pts)
    raw = np.array(direction) + inward * normals[i]
    assume(np.linalg.norm(raw) > 1e-3)
    entry = pts[i] - normals[i] * offset_mm  # positive offsets lie outside the skin
    needle = Needle("p", entry, raw, depth, max(150.0, depth), 0.25)
    report = model.check_needle(needle)
    enters = enters_the_body(oracle, model.atlas.rules.entry.max_distance_mm, entry, needle.tip_mm)
    if enters is False:
        assert report.status != "safe", report.to_text()
        assert {f.rule for f in report.findings} & {
            "needle_points_out_of_skin",
            "entry_on_skin",
            "needle_misses_skin",
            "tip_not_beneath_skin",
        }, report.to_text()


# ---------------------------------------------------------------------- the skin search
def _skin_frame_by_full_scan(model: SafetyModel, point: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The closest outer-skin point and normal as found by a full scan: the 12
    nearest skin vertices by a full scan (engine._nearest), then their faces."""
    from thighmap.safety.engine import _nearest
    from thighmap.safety.geometry import point_triangle_closest

    mesh, points, _ = model._outer_skin()
    verts = model._skin_used[_nearest(points, point, 12)]
    faces = np.unique(
        np.concatenate([model._vf_faces[model._vf_start[v] : model._vf_stop[v]] for v in verts])
    )
    tri = mesh.vertices[mesh.faces[faces]]
    dist, closest = point_triangle_closest(np.broadcast_to(point, (len(faces), 3)), *tri.transpose(1, 0, 2))
    i = int(np.argmin(dist))
    return model._skin_frame_at(closest[i], int(faces[i]))


_coord = st.floats(-1.0, 1.0)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    index=st.integers(0, 10**9),
    other=st.integers(0, 10**9),
    how=st.sampled_from(["vertex", "midpoint", "near", "offset", "far"]),
    offset=st.tuples(_coord, _coord, _coord),
    scale=st.sampled_from([1e-9, 1e-3, 1.0, 5.0, 40.0, 400.0]),
)
def test_the_skin_search_finds_the_full_scans_vertices_and_frame(model, index, other, how, offset, scale):
    """NearestPoints gives the same 12 skin vertices as the full scan, one point at a time
    and many at once, for points on vertices, halfway between two (ties: the full scan
    decides), near the skin and far from it; so the closest skin point and normal are
    the same bits."""
    from thighmap.safety.engine import SKIN_VERTICES, _nearest

    _, points, _ = model._outer_skin()
    a, b = points[index % len(points)], points[other % len(points)]
    point = {
        "vertex": a,
        "midpoint": (a + b) / 2.0,
        "near": a + np.array(offset) * 1e-9,
        "offset": a + np.array(offset) * scale,
        "far": np.array(offset) * scale * 10.0,
    }[how]
    want = np.sort(_nearest(points, point, SKIN_VERTICES))
    tree = model._skin_nearest
    assert np.array_equal(tree.nearest(point, SKIN_VERTICES), want)
    many = tree.nearest_many(np.stack([point, point + 1.0, point]), SKIN_VERTICES)
    assert np.array_equal(many[0], want) and np.array_equal(many[2], want)
    assert np.array_equal(many[1], np.sort(_nearest(points, point + 1.0, SKIN_VERTICES)))
    q, n = model._skin_frame_right(point)
    q0, n0 = _skin_frame_by_full_scan(model, point)
    assert np.array_equal(q, q0) and np.array_equal(n, n0)


def test_the_skin_search_falls_back_to_the_full_scan_on_a_tie(model):
    """A point equally far from the 12th and 13th nearest vertex: the tree cannot tell
    which the full scan keeps, so the full scan decides (the same vertices)."""
    from thighmap.safety.engine import SKIN_VERTICES, NearestPoints, _nearest

    grid = np.array([[x, y, 0.0] for x in range(5) for y in range(5)], float)
    finder = NearestPoints(grid)
    for point in (np.array([2.0, 2.0, 0.0]), np.array([2.0, 2.0, 3.0]), np.array([np.nan, 0.0, 0.0])):
        want = np.sort(_nearest(grid, point, SKIN_VERTICES))
        assert np.array_equal(finder.nearest(point, SKIN_VERTICES), want)
        assert np.array_equal(finder.nearest_many(point[None], SKIN_VERTICES)[0], want)


_small = st.sampled_from([0.0, 1e-300, 1e-12, 1e-6, 0.5, 1.0, 3.0, 1e6])
_value = st.one_of(st.floats(-50.0, 50.0), _small, _small.map(lambda v: -v))


@settings(max_examples=300, deadline=None)
@given(
    corners=st.lists(st.tuples(_value, _value, _value), min_size=3, max_size=9),
    point=st.tuples(_value, _value, _value),
    degenerate=st.sampled_from(["none", "point", "line", "sliver"]),
)
def test_the_compiled_closest_skin_point_is_numpys_to_the_bit(corners, point, degenerate):
    """kernels.closest_on_vertex_faces gives geometry.point_triangle_closest's nearest
    point and face (np.unique's order, np.argmin's first minimum) bit for bit, on
    ordinary, zero-area, collinear and sliver triangles."""
    from thighmap.safety import kernels
    from thighmap.safety.engine import compiled_skin_search_agrees
    from thighmap.safety.geometry import point_triangle_closest

    if not compiled_skin_search_agrees():
        pytest.skip("numpy sums differently on this processor: the skin search runs in numpy")
    v = np.array(corners, float)
    if degenerate == "point":
        v[1] = v[0]
    elif degenerate == "line":
        v[2] = v[0] + 2.0 * (v[1] - v[0])
    elif degenerate == "sliver":
        v[2] = (v[0] + v[1]) / 2.0 + 1e-13
    faces = np.array([[i, (i + 1) % len(v), (i + 2) % len(v)] for i in range(len(v))], np.int64)
    # every face around vertex 0's neighbourhood: the vertex -> face table of the mesh
    order = np.argsort(faces.ravel(), kind="stable")
    vf_faces = order // 3
    vf_start = np.searchsorted(faces.ravel()[order], np.arange(len(v)))
    vf_stop = np.searchsorted(faces.ravel()[order], np.arange(len(v)), side="right")
    near = np.array([[0, 1]], np.int64)
    p = np.array([point], float)
    q, face = np.empty((1, 3)), np.empty(1, np.int64)
    ok = kernels.closest_on_vertex_faces(p, near, vf_faces, vf_start, vf_stop, v, faces, q, face)
    assert ok[0]
    cand = np.unique(np.concatenate([vf_faces[vf_start[k] : vf_stop[k]] for k in near[0]]))
    tri = v[faces[cand]]
    dist, closest = point_triangle_closest(np.broadcast_to(p[0], (len(cand), 3)), *tri.transpose(1, 0, 2))
    i = int(np.argmin(dist))
    assert face[0] == cand[i]
    assert np.array_equal(q[0], closest[i]), (q[0], closest[i])


def test_a_compiled_skin_search_that_differs_from_numpy_is_not_used(model, monkeypatch):
    """Should the compiled closest point differ from numpy's by one bit on some
    processor, the check at first use notices, and the skin frames come from numpy."""
    from thighmap.safety import engine, kernels

    compiled = kernels.closest_on_vertex_faces

    def off_by_one_bit(points, near, vf_faces, vf_start, vf_stop, vertices, faces, out_q, out_face):  # type: ignore[no-untyped-def]
        ok = compiled(points, near, vf_faces, vf_start, vf_stop, vertices, faces, out_q, out_face)
        out_q[:] = np.nextafter(out_q, np.inf)
        return ok

    points, _ = model.skin_points()
    want = [_skin_frame_by_full_scan(model, p + 0.3) for p in points[:50]]
    monkeypatch.setattr(kernels, "closest_on_vertex_faces", off_by_one_bit)
    monkeypatch.setattr(engine, "_SKIN_KERNEL_AGREES", [])
    assert not engine.compiled_skin_search_agrees()
    got = model._skin_frames_right(points[:50] + 0.3)
    for (q, n), (q0, n0) in zip(got, want, strict=True):
        assert np.array_equal(q, q0) and np.array_equal(n, n0)


# ---------------------------------------------------------------------- caution structures
CAUTION_SID = "prop_cutaneous_vein"
CAUTION_R_MM, CAUTION_U_MM, CAUTION_M_MM = 1.5, 1.0, 2.0


@pytest.fixture(scope="module")
def caution(atlas, model):
    """A model of the atlas (less its caution structures) plus a straight caution tube (a
    superficial vein) laid 6 mm under the skin of the back of the mid-thigh, along the
    thigh; its axis (a, b)."""
    from tests.caution_atlas import with_caution_tube, without_caution_structures

    q, inward = model.skin_surface_frame(np.array([0.0, 150.0, 220.0]))
    centre = q + 6.0 * inward
    a, b = centre - np.array([0.0, 0.0, 60.0]), centre + np.array([0.0, 0.0, 60.0])
    # the bundled atlas less its own caution structures (the posterior femoral cutaneous
    # nerve runs beside this line), so that the prop is the only one
    with_tube = with_caution_tube(
        without_caution_structures(atlas),
        CAUTION_SID,
        [a, b],
        kind="vein",
        radius_mm=CAUTION_R_MM,
        uncertainty_mm=CAUTION_U_MM,
        caution_margin_mm=CAUTION_M_MM,
    )
    return SafetyModel.for_atlas(with_tube), a, b


def _brute_force_clearance(a, b, entry, tip, half_gauge, step_mm=0.005):
    """Smallest distance from the needle (its axis sampled every step_mm) to the straight
    tube of axis ab, less the radius and half the gauge; within step_mm / 2 above the
    true clearance. Point-to-segment distances, nothing shared with the engine."""
    n = int(np.ceil(np.linalg.norm(tip - entry) / step_mm)) + 1
    pts = entry + np.linspace(0.0, 1.0, n)[:, None] * (tip - entry)
    ab = b - a
    t = np.clip((pts - a) @ ab / (ab @ ab), 0.0, 1.0)
    d = np.linalg.norm(pts - (a + t[:, None] * ab), axis=1)
    return float(d.min()) - CAUTION_R_MM - half_gauge


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    s=st.floats(0.05, 0.95),
    around=st.floats(0.0, 2 * np.pi),
    threshold=st.sampled_from([0.0, CAUTION_U_MM, CAUTION_U_MM + CAUTION_M_MM]),
    jitter=st.floats(-0.5, 0.5),
    angle=st.one_of(st.floats(0.0, np.pi), st.floats(-0.05, 0.05)),
    before=st.floats(3.0, 30.0),
    after=st.floats(0.0, 20.0),
)
def test_a_caution_structure_matches_a_brute_force_distance_and_is_never_a_danger(
    model, caution, s, around, threshold, jitter, angle, before, after
):
    """Needles built to pass at a chosen distance from the caution tube's axis, near the
    thresholds (its surface, its zone, its margin): the engine's clearance is the
    brute-force one, the caution_structure finding fires exactly when the needle comes
    within the margin, it is never a danger, and the danger structures' findings and
    clearances are those of the atlas without the tube."""
    cmodel, a, b = caution
    tangent = (b - a) / np.linalg.norm(b - a)
    normal = np.array([np.cos(around), np.sin(around), 0.0])  # the tube runs along z
    binormal = np.cross(tangent, normal)
    half = 0.125
    closest = a + s * (b - a) + normal * (CAUTION_R_MM + threshold + jitter + half)
    direction = np.cos(angle) * tangent + np.sin(angle) * binormal
    entry = closest - direction * before
    needle = Needle("c", entry, direction, before + after, 150.0, 2 * half)
    report = cmodel.check_needle(needle)
    brute = _brute_force_clearance(a, b, entry, needle.tip_mm, half)
    assert brute - 0.0025 - 1e-9 <= report.clearances_mm[CAUTION_SID] <= brute + 1e-9
    caution_clearance = report.clearances_mm[CAUTION_SID] - CAUTION_U_MM - CAUTION_M_MM
    ours = [f for f in report.findings if f.structure == CAUTION_SID]
    assert all(f.rule == "caution_structure" and f.severity == "caution" for f in ours)
    if caution_clearance < -1e-6:
        assert ours and report.status != "safe", report.to_text()
    elif caution_clearance > 1e-6:
        assert not ours, report.to_text()
    plain = model.check_needle(needle)
    geometric = {"danger_zone", "caution_margin"}
    assert [f for f in report.findings if f.rule in geometric] == [
        f for f in plain.findings if f.rule in geometric
    ]
    dangers = {s.id for s in model.atlas.danger_structures()}
    assert {k: v for k, v in report.clearances_mm.items() if k in dangers} == {
        k: v for k, v in plain.clearances_mm.items() if k in dangers
    }
    assert report.nearest_danger is not None and plain.nearest_danger is not None
    assert report.nearest_danger.structure == plain.nearest_danger.structure
    assert report.nearest_danger.clearance_mm == plain.nearest_danger.clearance_mm
    assert report.nearest_caution is not None and report.nearest_caution.structure == CAUTION_SID
    if plain.status != "danger":
        assert report.status != "danger", report.to_text()


@SETTINGS
@given(
    index=st.integers(0, 10**9),
    tilt=st.tuples(*[st.floats(-0.6, 0.6)] * 3),
    length=st.sampled_from(NEEDLE_LENGTH_PRESETS_MM),
)
def test_max_safe_depth_counts_a_caution_structures_margin(caution, index, tilt, length):
    """As above, on the atlas with a caution tube, from skin points over it."""
    cmodel, a, b = caution
    pts, normals = cmodel.skin_points()
    ab = b - a
    t = np.clip((pts - a) @ ab / (ab @ ab), 0.0, 1.0)
    near = np.linalg.norm(pts - (a + t[:, None] * ab), axis=1) < 15.0
    pts, normals = pts[near], normals[near]
    i = index % len(pts)
    direction = _unit(normals[i] + np.array(tilt))
    needle = Needle("p", pts[i], direction, 1.0, length, 0.25)
    limit = cmodel.check_needle(needle).max_safe_depth_mm
    assume(limit > 0.05)
    depth_rules = rules.depth_rule_ids(cmodel.atlas.rules)
    at = cmodel.check_needle(needle.with_changes(depth_mm=limit))
    assert not ({f.rule for f in at.findings} & depth_rules), at.to_text()
    beyond = cmodel.check_needle(needle.with_changes(depth_mm=limit + 0.05))
    assert {f.rule for f in beyond.findings} & depth_rules, beyond.to_text()
    if beyond.limiting_rule == "caution_structure":
        assert any(f.rule == "caution_structure" for f in beyond.findings)
