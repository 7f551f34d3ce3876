"""Exact safety kernels against an independent brute-force oracle.

The oracle below is deliberately written separately from (and more naively than) the kernels in
``thighmap.safety.geometry``: point/segment distances by the textbook projection, point/triangle
distances by ``trimesh.triangles.closest_point`` (a third-party implementation), minima along a
segment by dense sampling at 0.01 mm followed by golden-section refinement inside the bracket of
the best sample (the function is convex along a line, so the bracket contains the minimum), and
first hits along a ray by a dense scan followed by bisection.  Every oracle value is the distance
between real points, so an oracle minimum can only over-estimate the true minimum: the kernels
must never exceed it by more than 1e-9 mm and must match it within 1e-6 mm.

Hypothesis strategies deliberately build the hard cases: near-parallel and parallel segments at
``radius ± tiny`` from a capsule axis, intersecting segments, zero-length segments and capsules,
rays tangent to spheres and cylinders, rays parallel to or along the axis, sliver and zero-area
triangles, rays through triangle edges.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import pytest
import trimesh
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from trimesh.triangles import closest_point as trimesh_closest_point

from thighmap.safety import kernels
from thighmap.safety.geometry import (
    point_triangle_closest,
    ray_capsule_first_hit,
    ray_swept_triangle_first_hit,
    ray_triangle_hits,
    segment_capsule_signed_distance,
    segment_segment_closest,
    segment_triangle_distance,
)
from thighmap.safety.mesh_distance import TriangleMeshDistance

Vec = np.ndarray
#: multiply every max_examples by this (e.g. THIGHMAP_HYPOTHESIS_SCALE=20 for a long stress run)
SCALE = float(os.environ.get("THIGHMAP_HYPOTHESIS_SCALE", "1"))


def _n(examples: int) -> int:
    return max(1, int(examples * SCALE))


SETTINGS = settings(
    max_examples=_n(60),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
SAMPLE_STEP = 0.01  # mm
GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


# ============================================================================================
# Independent oracle
# ============================================================================================


def oracle_point_segment(x: Vec, a: Vec, b: Vec) -> Vec:
    """Distance from points ``x`` (K, 3) to one segment ab, the textbook way."""
    x = np.atleast_2d(x)
    ab = b - a
    denom = float(ab @ ab)
    if denom == 0.0:
        return np.linalg.norm(x - a, axis=1)
    t = np.clip((x - a) @ ab / denom, 0.0, 1.0)
    return np.linalg.norm(x - (a + t[:, None] * ab), axis=1)


def oracle_point_triangle_fast(x: Vec, v0: Vec, v1: Vec, v2: Vec) -> Vec:
    """Distance from points ``x`` (K, 3) to one triangle via trimesh (an upper bound).

    trimesh returns a point of the triangle, so the value can only over-estimate; on sliver
    triangles it is sometimes off by ~1e-6, hence the exact oracle below for refinement.
    """
    x = np.atleast_2d(x)
    tris = np.broadcast_to(np.stack([v0, v1, v2])[None], (x.shape[0], 3, 3))
    closest = trimesh_closest_point(np.ascontiguousarray(tris), x)
    d = np.linalg.norm(x - closest, axis=1)
    edges = np.min([oracle_point_segment(x, p, q) for p, q in ((v0, v1), (v1, v2), (v2, v0))], axis=0)
    return np.where(np.isfinite(d), np.minimum(d, edges), edges)


F3 = tuple[Fraction, Fraction, Fraction]


def _fr(v: Vec) -> F3:
    return (Fraction(float(v[0])), Fraction(float(v[1])), Fraction(float(v[2])))


def _fsub(a: F3, b: F3) -> F3:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def _fdot(a: F3, b: F3) -> Fraction:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def exact_point_triangle_sq(x: F3, a: F3, b: F3, c: F3) -> Fraction:
    """Squared point/triangle distance in exact rational arithmetic.

    Minimises |x - (a + u e1 + v e2)|^2 over the triangle: the unconstrained minimiser from the
    2x2 normal equations if it is feasible, else the best of the three clamped edge projections.
    """
    e1, e2, w = _fsub(b, a), _fsub(c, a), _fsub(x, a)
    a11, a12, a22 = _fdot(e1, e1), _fdot(e1, e2), _fdot(e2, e2)
    b1, b2 = _fdot(w, e1), _fdot(w, e2)
    det = a11 * a22 - a12 * a12
    candidates = []
    if det != 0:
        u = (b1 * a22 - b2 * a12) / det
        v = (a11 * b2 - a12 * b1) / det
        if u >= 0 and v >= 0 and u + v <= 1:
            r = tuple(w[k] - u * e1[k] - v * e2[k] for k in range(3))
            candidates.append(_fdot(r, r))  # type: ignore[arg-type]
    for p, q in ((a, b), (b, c), (c, a)):
        seg, xp = _fsub(q, p), _fsub(x, p)
        length2 = _fdot(seg, seg)
        t = min(max(_fdot(xp, seg) / length2, Fraction(0)), Fraction(1)) if length2 else 0
        r = tuple(xp[k] - t * seg[k] for k in range(3))
        candidates.append(_fdot(r, r))  # type: ignore[arg-type]
    return min(candidates)


def oracle_point_triangle(x: Vec, v0: Vec, v1: Vec, v2: Vec) -> Vec:
    """Exact (rational arithmetic) distance from points ``x`` (K, 3) to one triangle."""
    a, b, c = _fr(v0), _fr(v1), _fr(v2)
    return np.array([math.sqrt(exact_point_triangle_sq(_fr(p), a, b, c)) for p in np.atleast_2d(x)])


def oracle_triangle_along(p0: Vec, p1: Vec, v0: Vec, v1: Vec, v2: Vec) -> Callable[[float], float]:
    """s -> exact distance from p0 + s (p1 - p0) to the triangle (point built exactly)."""
    a, b, c = _fr(v0), _fr(v1), _fr(v2)
    q0, q1 = _fr(p0), _fr(p1)
    d = _fsub(q1, q0)

    def f(s: float) -> float:
        fs = Fraction(s)
        x = (q0[0] + fs * d[0], q0[1] + fs * d[1], q0[2] + fs * d[2])
        return math.sqrt(exact_point_triangle_sq(x, a, b, c))

    return f


def golden_min(f: Callable[[float], float], lo: float, hi: float, iters: int = 100) -> float:
    """Minimum of a convex scalar function on [lo, hi] (only real values are returned)."""
    best = min(f(lo), f(hi))
    x1 = hi - GOLDEN * (hi - lo)
    x2 = lo + GOLDEN * (hi - lo)
    f1, f2 = f(x1), f(x2)
    for _ in range(iters):
        best = min(best, f1, f2)
        if f1 <= f2:
            hi, x2, f2 = x2, x1, f1
            x1 = hi - GOLDEN * (hi - lo)
            f1 = f(x1)
        else:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + GOLDEN * (hi - lo)
            f2 = f(x2)
    return min(best, f1, f2)


def oracle_min_along_segment(f: Callable[[Vec], Vec], p0: Vec, p1: Vec) -> tuple[float, float]:
    """Minimum over s in [0, 1] of ``f(p0 + s (p1 - p0))`` for f convex along the segment.

    Dense sampling at SAMPLE_STEP, then golden-section refinement inside the bracket of the best
    sample.  Returns (min value found, s).  Only real sample values are returned, so the result
    can only over-estimate the true minimum.
    """
    length = float(np.linalg.norm(p1 - p0))
    n = int(min(max(2, math.ceil(length / SAMPLE_STEP) + 1), 40001))
    s = np.linspace(0.0, 1.0, n)
    vals = f(p0 + s[:, None] * (p1 - p0))
    i = int(np.argmin(vals))
    best, best_s = float(vals[i]), float(s[i])
    lo, hi = s[max(i - 1, 0)], s[min(i + 1, n - 1)]
    x1 = hi - GOLDEN * (hi - lo)
    x2 = lo + GOLDEN * (hi - lo)
    f1 = float(f(p0 + x1 * (p1 - p0))[0])
    f2 = float(f(p0 + x2 * (p1 - p0))[0])
    for _ in range(90):
        if f1 <= f2:
            hi, x2, f2 = x2, x1, f1
            x1 = hi - GOLDEN * (hi - lo)
            f1 = float(f(p0 + x1 * (p1 - p0))[0])
        else:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + GOLDEN * (hi - lo)
            f2 = float(f(p0 + x2 * (p1 - p0))[0])
        for val, ss in ((f1, x1), (f2, x2)):
            if val < best:
                best, best_s = val, ss
    return best, best_s


def oracle_first_hit(
    g_fast: Callable[[Vec], Vec], g_exact: Callable[[float], float], t_max: float
) -> tuple[float, float, float]:
    """First t in [0, t_max] with g(t) <= 0, for g convex in t.

    * dense scan of ``g_fast`` (vectorised, values of real points) at SAMPLE_STEP: its first
      non-positive sample ``t_scan`` is an upper bound of the true first hit;
    * golden-section minimisation of ``g_exact`` over the whole range (g convex: global min);
    * bisection of ``g_exact`` on [0, t_min], where a convex g is non-increasing.
    Returns (t of the first hit or inf, minimum of g, t_scan or inf).
    """
    n = int(min(max(3, math.ceil(t_max / SAMPLE_STEP) + 1), 60001))
    ts = np.linspace(0.0, t_max, n)
    neg = np.flatnonzero(g_fast(ts) <= 0.0)
    t_scan = float(ts[neg[0]]) if neg.size else math.inf
    if g_exact(0.0) <= 0.0:
        return 0.0, g_exact(0.0), t_scan
    lo, hi = 0.0, t_max
    for _ in range(120):
        x1 = hi - GOLDEN * (hi - lo)
        x2 = lo + GOLDEN * (hi - lo)
        if g_exact(x1) <= g_exact(x2):
            hi = x2
        else:
            lo = x1
    t_min = 0.5 * (lo + hi)
    gmin = g_exact(t_min)
    if math.isfinite(t_scan) and t_scan < t_min and g_exact(t_scan) < gmin:
        t_min, gmin = t_scan, g_exact(t_scan)
    if gmin > 0.0:
        return math.inf, gmin, t_scan
    lo, hi = 0.0, t_min
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if g_exact(mid) <= 0.0:
            hi = mid
        else:
            lo = mid
    return hi, gmin, t_scan


def oracle_slope(g: Callable[[float], float], t: float) -> float:
    h = 1e-4
    return abs(g(t + h) - g(max(t - h, 0.0))) / (2 * h)


# ============================================================================================
# Strategies
# ============================================================================================

# coordinates on a 2^-30 mm grid: keeps the exact rational oracle fast (no 1e-300 values)
coord = st.floats(-50.0, 50.0, allow_nan=False, allow_infinity=False).map(
    lambda x: round(x * 2.0**30) / 2.0**30
)
point = st.tuples(coord, coord, coord).map(np.array)
radius_st = st.floats(0.05, 10.0)
tiny = st.sampled_from([0.0, 1e-12, -1e-12, 1e-9, -1e-9, 1e-7, -1e-7, 1e-6, -1e-6, 1e-3, -1e-3])


@st.composite
def unit_vector(draw: st.DrawFn) -> Vec:
    v = np.array([draw(st.floats(-1.0, 1.0)) for _ in range(3)])
    assume(np.linalg.norm(v) > 0.1)
    return v / np.linalg.norm(v)


@st.composite
def perpendicular_unit(draw: st.DrawFn, d: Vec) -> Vec:
    w = draw(unit_vector())
    w = w - (w @ d) * d
    assume(np.linalg.norm(w) > 0.1)
    return w / np.linalg.norm(w)


@st.composite
def segment_pair_case(draw: st.DrawFn) -> tuple[Vec, Vec, Vec, Vec, float]:
    """(p0, p1, a, b, radius), mixing generic and deliberately hard configurations."""
    kind = draw(
        st.sampled_from(["generic", "parallel", "near_parallel", "intersecting", "degenerate", "collinear"])
    )
    r = draw(radius_st)
    a = draw(point)
    if kind == "generic":
        return draw(point), draw(point), a, draw(point), r
    axis = draw(unit_vector())
    length = draw(st.floats(0.0, 60.0))
    b = a + axis * length
    if kind in ("parallel", "near_parallel"):
        w = draw(perpendicular_unit(axis))
        offset = r + draw(tiny)
        start = draw(st.floats(-30.0, 60.0))
        seg_len = draw(st.floats(0.0, 60.0))
        direction = axis.copy()
        if kind == "near_parallel":
            direction = axis + w * draw(st.sampled_from([1e-12, 1e-9, 1e-7, -1e-6, 1e-4]))
            direction /= np.linalg.norm(direction)
        p0 = a + axis * start + w * offset
        return p0, p0 + direction * seg_len, a, b, r
    if kind == "intersecting":
        x = a + axis * length * draw(st.floats(0.0, 1.0))
        d = draw(unit_vector())
        u0, u1 = draw(st.floats(0.0, 40.0)), draw(st.floats(0.0, 40.0))
        return x - d * u0, x + d * u1, a, b, r
    if kind == "collinear":
        start = draw(st.floats(-80.0, 80.0))
        return a + axis * start, a + axis * (start + draw(st.floats(0.0, 50.0))), a, b, r
    # degenerate: zero-length segment and/or zero-length axis
    p0 = draw(point)
    p1 = p0 if draw(st.booleans()) else draw(point)
    return p0, p1, a, a if draw(st.booleans()) else b, r


@st.composite
def ray_capsule_case(draw: st.DrawFn) -> tuple[Vec, Vec, Vec, Vec, float]:
    """(origin, unit direction, a, b, radius) with tangent / parallel / axial / inside cases."""
    kind = draw(
        st.sampled_from(["generic", "toward", "tangent_sphere", "tangent_cylinder", "parallel", "axial"])
    )
    r = draw(radius_st)
    a = draw(point)
    axis = draw(unit_vector())
    length = draw(st.sampled_from([0.0, 1e-9, 5.0, 30.0])) if kind != "generic" else 0.0
    b = a + axis * length if kind != "generic" else draw(point)
    if kind == "generic":
        return draw(point), draw(unit_vector()), a, b, r
    if kind == "toward":
        target = (
            a
            + axis * length * draw(st.floats(-0.2, 1.2))
            + draw(unit_vector()) * draw(st.floats(0.0, 2.0 * r))
        )
        origin = draw(point)
        d = target - origin
        assume(np.linalg.norm(d) > 1e-3)
        return origin, d / np.linalg.norm(d), a, b, r
    if kind == "tangent_sphere":
        d = draw(unit_vector())
        w = draw(perpendicular_unit(d))
        centre = b if draw(st.booleans()) else a
        origin = centre + w * (r + draw(tiny)) - d * draw(st.floats(0.5, 60.0))
        return origin, d, a, b, r
    if kind == "tangent_cylinder":
        w = draw(perpendicular_unit(axis))
        d = np.cross(axis, w)  # perpendicular to both the axis and the offset direction
        d /= np.linalg.norm(d)
        along = length * draw(st.floats(0.0, 1.0))
        origin = a + axis * along + w * (r + draw(tiny)) - d * draw(st.floats(0.5, 60.0))
        return origin, d, a, b, r
    if kind == "parallel":
        w = draw(perpendicular_unit(axis))
        sign = 1.0 if draw(st.booleans()) else -1.0
        origin = (
            a
            + axis * draw(st.floats(-60.0, 60.0))
            + w * (r + draw(tiny)) * draw(st.sampled_from([1.0, 0.5, 0.0]))
        )
        return origin, axis * sign, a, b, r
    # axial: along the axis from outside
    origin = a - axis * draw(st.floats(0.0, 60.0))
    return origin, axis, a, b, r


@st.composite
def triangle_st(draw: st.DrawFn) -> tuple[Vec, Vec, Vec]:
    kind = draw(st.sampled_from(["generic", "generic", "sliver", "collinear", "point", "edge0"]))
    v0 = draw(point)
    if kind == "generic":
        return v0, draw(point), draw(point)
    v1 = draw(point)
    if kind == "sliver":
        n = draw(unit_vector())
        v2 = (
            v0 + (v1 - v0) * draw(st.floats(-0.5, 1.5)) + n * draw(st.sampled_from([1e-12, 1e-9, 1e-6, 1e-3]))
        )
        return v0, v1, v2
    if kind == "collinear":
        return v0, v1, v0 + (v1 - v0) * draw(st.floats(-1.0, 2.0))
    if kind == "edge0":  # two coincident vertices
        return v0, v0.copy(), v1
    return v0, v0.copy(), v0.copy()


@st.composite
def point_near_triangle(draw: st.DrawFn, tri: tuple[Vec, Vec, Vec]) -> Vec:
    v0, v1, v2 = tri
    kind = draw(st.sampled_from(["free", "above_face", "near_edge", "on_plane"]))
    if kind == "free":
        return draw(point)
    u, v = draw(st.floats(-0.3, 1.3)), draw(st.floats(-0.3, 1.3))
    base = v0 + u * (v1 - v0) + v * (v2 - v0)
    n = np.cross(v1 - v0, v2 - v0)
    nn = np.linalg.norm(n)
    n = n / nn if nn > 0 else draw(unit_vector())
    if kind == "above_face":
        return base + n * draw(st.floats(-20.0, 20.0))
    if kind == "near_edge":
        s = draw(st.floats(0.0, 1.0))
        return v0 + s * (v1 - v0) + n * draw(tiny)
    return base


# ============================================================================================
# Kernel tests
# ============================================================================================


def _check_min(kernel: float, oracle: float, above: float = 1e-9) -> None:
    assert kernel <= oracle + above, (kernel, oracle)
    assert kernel >= oracle - 1e-6, (kernel, oracle)


@SETTINGS
@given(segment_pair_case())
def test_segment_segment_matches_oracle(case: tuple[Vec, Vec, Vec, Vec, float]) -> None:
    p0, p1, a, b, _ = case
    dist, s, t = segment_segment_closest(p0, p1, a, b)
    oracle, _ = oracle_min_along_segment(lambda x: oracle_point_segment(x, a, b), p0, p1)
    _check_min(float(dist[0]), oracle)
    assert 0.0 <= s[0] <= 1.0 and 0.0 <= t[0] <= 1.0
    pair = np.linalg.norm(p0 + s[0] * (p1 - p0) - (a + t[0] * (b - a)))
    assert abs(pair - dist[0]) <= 1e-9  # s, t really are the closest points
    # symmetric in the two segments
    dist2, _, _ = segment_segment_closest(a, b, p0, p1)
    assert abs(dist2[0] - dist[0]) <= 1e-9


@SETTINGS
@given(segment_pair_case())
def test_segment_capsule_signed_distance(case: tuple[Vec, Vec, Vec, Vec, float]) -> None:
    p0, p1, a, b, r = case
    signed, s = segment_capsule_signed_distance(p0, p1, a, b, r)
    oracle, _ = oracle_min_along_segment(lambda x: oracle_point_segment(x, a, b), p0, p1)
    _check_min(float(signed[0]), oracle - r)
    if abs(oracle - r) > 1e-9:
        assert (signed[0] < 0) == (oracle - r < 0)
    # s is the deepest / closest point
    x = p0 + s[0] * (p1 - p0)
    assert abs(oracle_point_segment(x, a, b)[0] - r - signed[0]) <= 1e-9


def test_segment_capsule_parallel_band() -> None:
    """Parallel needle at radius ± 1e-6 from a vessel axis: the sign must be right."""
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([1.0, 2.0, 53.0])
    for delta in (1e-6, -1e-6, 1e-8, -1e-8):
        p0 = np.array([1.0 + 2.5 + delta, 2.0, -10.0])
        signed, _ = segment_capsule_signed_distance(p0, p0 + np.array([0, 0, 80.0]), a, b, 2.5)
        assert abs(signed[0] - delta) <= 1e-12


def test_vectorised_matches_single() -> None:
    rng = np.random.default_rng(7)
    p0, p1, a, b = (rng.uniform(-20, 20, (200, 3)) for _ in range(4))
    d_all, s_all, t_all = segment_segment_closest(p0, p1, a, b)
    for i in range(0, 200, 37):
        d1, s1, t1 = segment_segment_closest(p0[i], p1[i], a[i], b[i])
        assert d1[0] == d_all[i] and s1[0] == s_all[i] and t1[0] == t_all[i]


def _check_first_hit(
    t_kernel: float,
    g_fast: Callable[[Vec], Vec],
    g_exact: Callable[[float], float],
    t_max: float,
) -> None:
    t_oracle, gmin, t_scan = oracle_first_hit(g_fast, g_exact, t_max)
    band = 1e-8
    # never later than the first scanned sample that is really within the radius
    assert t_kernel <= t_scan + 1e-9, (t_kernel, t_scan)
    if gmin > band:
        assert t_kernel == math.inf, (t_kernel, gmin)
        return
    if math.isfinite(t_kernel):
        # the reported point really is within the radius (a hit, not a false alarm)...
        assert g_exact(t_kernel) <= band, (t_kernel, g_exact(t_kernel))
    if gmin < -band:
        assert math.isfinite(t_kernel), (t_oracle, gmin)
        slope = oracle_slope(g_exact, t_oracle)
        late_tol = 1e-9 if slope > 1e-3 else 1e-6
        # ...never later than the oracle's first hit, and equal to it
        assert t_kernel <= t_oracle + late_tol, (t_kernel, t_oracle, slope)
        assert abs(t_kernel - t_oracle) <= 1e-6, (t_kernel, t_oracle, slope)


@SETTINGS
@given(ray_capsule_case())
def test_ray_capsule_first_hit(case: tuple[Vec, Vec, Vec, Vec, float]) -> None:
    o, d, a, b, r = case
    t_kernel = float(ray_capsule_first_hit(o, d, a, b, r)[0])

    def g(ts: Vec) -> Vec:
        return oracle_point_segment(o + np.asarray(ts)[:, None] * d, a, b) - r

    t_max = float(np.linalg.norm(o - a) + np.linalg.norm(b - a) + r + 1.0)
    _check_first_hit(t_kernel, g, lambda t: float(g(np.array([t]))[0]), t_max)


def test_ray_capsule_exact_tangent_and_axis() -> None:
    a, b = np.array([0.0, 0.0, 0.0]), np.array([0.0, 0.0, 10.0])
    # tangent to the cylinder side (distance exactly == radius): a hit at the touching point
    t = ray_capsule_first_hit([-20.0, 2.0, 5.0], [1.0, 0.0, 0.0], a, b, 2.0)
    assert t[0] == pytest.approx(20.0, abs=1e-9)
    # tangent to an end sphere
    t = ray_capsule_first_hit([-20.0, 0.0, 12.0], [1.0, 0.0, 0.0], a, b, 2.0)
    assert t[0] == pytest.approx(20.0, abs=1e-9)
    # a hair outside: miss
    assert ray_capsule_first_hit([-20.0, 2.0 + 1e-6, 5.0], [1, 0, 0], a, b, 2.0)[0] == np.inf
    # along the axis: hits the end cap sphere
    assert ray_capsule_first_hit([0.0, 0.0, -30.0], [0, 0, 1], a, b, 2.0)[0] == 28.0
    # parallel to the axis inside the radius: end sphere
    t = ray_capsule_first_hit([1.0, 0.0, -30.0], [0, 0, 1], a, b, 2.0)[0]
    assert t == pytest.approx(30.0 - math.sqrt(3.0), abs=1e-12)
    # zero-length capsule (sphere) and origin inside
    assert ray_capsule_first_hit([5.0, 0, 0], [-1, 0, 0], a, a, 2.0)[0] == pytest.approx(3.0)
    assert ray_capsule_first_hit([0.5, 0, 3], [1, 0, 0], a, b, 2.0)[0] == 0.0
    # moving away
    assert ray_capsule_first_hit([5.0, 0, 0], [1, 0, 0], a, b, 2.0)[0] == np.inf


@SETTINGS
@given(triangle_st().flatmap(lambda tri: st.tuples(st.just(tri), point_near_triangle(tri))))
def test_point_triangle_closest(case: tuple[tuple[Vec, Vec, Vec], Vec]) -> None:
    (v0, v1, v2), x = case
    dist, closest = point_triangle_closest(x, v0, v1, v2)
    oracle = float(oracle_point_triangle(x, v0, v1, v2)[0])
    _check_min(float(dist[0]), oracle)
    assert dist[0] <= oracle_point_triangle_fast(x, v0, v1, v2)[0] + 1e-9
    assert abs(np.linalg.norm(closest[0] - x) - dist[0]) <= 1e-9
    # the closest point lies on the triangle (distance from it to the triangle ~ 0)
    assert oracle_point_triangle(closest[0], v0, v1, v2)[0] <= 1e-7
    # dense barycentric sampling can only over-estimate the minimum
    g = np.linspace(0.0, 1.0, 41)
    uu, vv = np.meshgrid(g, g)
    m = (uu + vv) <= 1.0
    pts = v0 + uu[m][:, None] * (v1 - v0) + vv[m][:, None] * (v2 - v0)
    assert dist[0] <= np.linalg.norm(pts - x, axis=1).min() + 1e-9


@st.composite
def segment_triangle_case(draw: st.DrawFn) -> tuple[Vec, Vec, tuple[Vec, Vec, Vec]]:
    tri = draw(triangle_st())
    v0, v1, v2 = tri
    kind = draw(st.sampled_from(["free", "crossing", "parallel_above", "coplanar", "degenerate"]))
    if kind == "free":
        return draw(point), draw(point), tri
    n = np.cross(v1 - v0, v2 - v0)
    nn = np.linalg.norm(n)
    n = n / nn if nn > 0 else draw(unit_vector())
    u, v = draw(st.floats(-0.2, 1.2)), draw(st.floats(-0.2, 1.2))
    base = v0 + u * (v1 - v0) + v * (v2 - v0)
    if kind == "crossing":
        d = draw(unit_vector())
        return base - d * draw(st.floats(0.0, 30.0)), base + d * draw(st.floats(0.0, 30.0)), tri
    if kind == "parallel_above":
        e = draw(perpendicular_unit(n))
        h = n * draw(st.sampled_from([0.0, 1e-9, -1e-7, 1e-3, 2.0]))
        return base + h - e * draw(st.floats(0, 30)), base + h + e * draw(st.floats(0, 30)), tri
    if kind == "coplanar":
        q = v0 + draw(st.floats(-0.5, 1.5)) * (v1 - v0) + draw(st.floats(-0.5, 1.5)) * (v2 - v0)
        return base, q, tri
    return base + n * draw(tiny), base + n * draw(tiny), tri


def _sliver_width(v0: Vec, v1: Vec, v2: Vec) -> float:
    """The triangle's smallest height (twice its area over its longest edge)."""
    longest = max(np.linalg.norm(v1 - v0), np.linalg.norm(v2 - v1), np.linalg.norm(v0 - v2))
    return float(np.linalg.norm(np.cross(v1 - v0, v2 - v0)) / longest) if longest > 0 else 0.0


@SETTINGS
@given(segment_triangle_case())
def test_segment_triangle_distance(case: tuple[Vec, Vec, tuple[Vec, Vec, Vec]]) -> None:
    p0, p1, (v0, v1, v2) = case
    dist, s = segment_triangle_distance(p0, p1, v0, v1, v2)
    sampled, _ = oracle_min_along_segment(lambda x: oracle_point_triangle_fast(x, v0, v1, v2), p0, p1)
    oracle = golden_min(oracle_triangle_along(p0, p1, v0, v1, v2), 0.0, 1.0)
    # a sliver narrower than a micrometre: whether the segment crosses it is decided in
    # floating point, and the kernel may answer with the distance to its edges instead,
    # at most the sliver's width (hypothesis found one 1e-6 mm wide: 1.8e-7 mm reported)
    width = _sliver_width(v0, v1, v2)
    above = max(1e-9, width) if width < 1e-5 else 1e-9
    _check_min(float(dist[0]), oracle, above)
    assert dist[0] <= sampled + above
    x = p0 + s[0] * (p1 - p0)
    assert abs(oracle_point_triangle(x, v0, v1, v2)[0] - dist[0]) <= 1e-7


@SETTINGS
@given(segment_triangle_case())
def test_ray_triangle_hits(case: tuple[Vec, Vec, tuple[Vec, Vec, Vec]]) -> None:
    p0, p1, (v0, v1, v2) = case
    d = p1 - p0
    assume(np.linalg.norm(d) > 1e-6)
    t = float(ray_triangle_hits(p0, d, v0, v1, v2)[0])
    n = np.cross(v1 - v0, v2 - v0)
    if math.isfinite(t):
        assert t >= 0.0
        # the hit point is on the triangle
        assert oracle_point_triangle(p0 + t * d, v0, v1, v2)[0] <= 1e-7 * (1 + t)
    else:
        # no transversal hit: the ray line stays away from the triangle, or is parallel to it
        denom = abs(float(n @ d))
        # (a numerically zero-area triangle is documented to give nan)
        area_ok = np.linalg.norm(n) > 1e-12 * np.linalg.norm(v1 - v0) * np.linalg.norm(v2 - v0)
        if area_ok and denom > 1e-6 * np.linalg.norm(n) * np.linalg.norm(d):
            t_plane = float(n @ (v0 - p0)) / float(n @ d)
            if 0.0 <= t_plane <= 1e6:
                x = p0 + t_plane * d
                gap = oracle_point_triangle(x, v0, v1, v2)[0]
                # documented contract: a plane hit within 1e-12 of the size counts as a hit, with
                # an allowance for rounding of the hit point that grows with the crossing's
                # condition number (a shallow crossing, a needle-shaped triangle); the same
                # allowance covers the rounding of this test's own plane point
                size = np.linalg.norm(x - v0) + np.linalg.norm(v1 - v0) + np.linalg.norm(v2 - v0)
                e1, e2 = v1 - v0, v2 - v0
                det = float(e1 @ np.cross(d, e2))
                scale2 = float(d @ d) * float(e1 @ e1) * float(e2 @ e2)
                cond = math.sqrt(scale2) / abs(det)
                rounding = 8.0 * np.finfo(float).eps * cond * t_plane * np.linalg.norm(d)
                assert gap > 1.01e-12 * size + 1e-15 - rounding, gap


def test_ray_triangle_shallow_crossing_of_a_needle_triangle() -> None:
    """Found by hypothesis: a ray at a shallow angle to a needle-shaped triangle whose plane
    hit lies 2e-12 mm from it (within the contract) was lost to rounding of the hit point."""
    n = np.array([1.0, 0.75, 1.0]) / np.linalg.norm([1.0, 0.75, 1.0])
    v0, v1 = np.array([0.0, 0.0, 1.0]), np.array([0.0, 3.0, 0.0])
    v2 = v0 + n * 1e-12
    p0 = v0 + 0.5 * (v1 - v0) + (v2 - v0) - 2.0 * n
    t = float(ray_triangle_hits(p0, 3.0 * n, v0, v1, v2)[0])
    assert math.isfinite(t)
    assert oracle_point_triangle(p0 + t * 3.0 * n, v0, v1, v2)[0] <= 1e-11


def test_ray_triangle_edges_and_vertices_count() -> None:
    v0, v1, v2 = np.array([0.0, 0, 0]), np.array([4.0, 0, 0]), np.array([0.0, 4, 0])
    for target in ([2.0, 0, 0], [0.0, 2, 0], [2.0, 2, 0], [0.0, 0, 0], [4.0, 0, 0], [0, 4.0, 0]):
        t = ray_triangle_hits(np.add(target, [0, 0, 3.0]), [0, 0, -1.0], v0, v1, v2)
        assert t[0] == 3.0, target
        t = ray_triangle_hits(np.add(target, [1.0, 2.0, 3.0]), [-1.0, -2.0, -3.0], v0, v1, v2)
        assert t[0] == pytest.approx(1.0, abs=1e-12), target
    # a hair outside an edge: miss
    assert np.isnan(ray_triangle_hits([2.0, -1e-6, 3.0], [0, 0, -1.0], v0, v1, v2)[0])
    # parallel to the plane, above it: no hit
    assert np.isnan(ray_triangle_hits([-1.0, 1.0, 0.5], [1.0, 0, 0], v0, v1, v2)[0])
    # lying in the plane: the first boundary contact is reported
    assert ray_triangle_hits([-1.0, 1.0, 0.0], [1.0, 0, 0], v0, v1, v2)[0] == 1.0


@st.composite
def swept_case(draw: st.DrawFn) -> tuple[Vec, Vec, tuple[Vec, Vec, Vec], float]:
    tri = draw(triangle_st())
    v0, v1, v2 = tri
    r = draw(st.sampled_from([0.0, 0.5, 2.0, 7.0]))
    kind = draw(st.sampled_from(["free", "toward", "tangent_face", "tangent_vertex", "edge"]))
    n = np.cross(v1 - v0, v2 - v0)
    nn = np.linalg.norm(n)
    n = n / nn if nn > 0 else draw(unit_vector())
    if kind == "free":
        return draw(point), draw(unit_vector()), tri, r
    u, v = draw(st.floats(-0.2, 1.2)), draw(st.floats(-0.2, 1.2))
    base = v0 + u * (v1 - v0) + v * (v2 - v0)
    if kind == "toward":
        origin = draw(point)
        d = base + draw(unit_vector()) * draw(st.floats(0.0, r + 1.0)) - origin
        assume(np.linalg.norm(d) > 1e-3)
        return origin, d / np.linalg.norm(d), tri, r
    if kind == "tangent_face":  # grazing the offset face plane
        e = draw(perpendicular_unit(n))
        origin = base + n * (r + draw(tiny)) - e * draw(st.floats(1.0, 40.0))
        return origin, e, tri, r
    if kind == "tangent_vertex":
        d = draw(unit_vector())
        w = draw(perpendicular_unit(d))
        vert = [v0, v1, v2][draw(st.integers(0, 2))]
        return vert + w * (r + draw(tiny)) - d * draw(st.floats(1.0, 40.0)), d, tri, r
    # through / along an edge
    s = draw(st.floats(0.0, 1.0))
    x = v0 + s * (v1 - v0)
    d = draw(unit_vector())
    return x - d * draw(st.floats(0.5, 40.0)), d, tri, r


@SETTINGS
@given(swept_case())
def test_ray_swept_triangle_first_hit(case: tuple[Vec, Vec, tuple[Vec, Vec, Vec], float]) -> None:
    o, d, (v0, v1, v2), r = case
    t_kernel = float(ray_swept_triangle_first_hit(o, d, v0, v1, v2, r)[0])

    def g(ts: Vec) -> Vec:
        return oracle_point_triangle_fast(o + np.asarray(ts)[:, None] * d, v0, v1, v2) - r

    along = oracle_triangle_along(o, o + d, v0, v1, v2)
    far = max(np.linalg.norm(o - v) for v in (v0, v1, v2))
    _check_first_hit(t_kernel, g, lambda t: along(t) - r, float(far + r + 1.0))


def test_ray_swept_triangle_nearly_parallel_to_the_face_never_hits_far_away() -> None:
    """Found by hypothesis (flaky): a direction component of 3.26e-110 across the normal of a
    triangle made the offset face plane's hit lie ~1e110 away, where the barycentric test is
    rounding, and the first hit came out 3.07e109 instead of infinity."""
    o = np.array([8.217701239287258, -13.81279717416778, -27.54158856382832])
    d = np.array([0.192179652399663, -0.9813597613533707, 5.972401974622075e-110])
    z = 14.52715689399546
    v0 = np.array([9.179862439359937, 1.7449996586169156, z])
    v1 = np.array([12.634142164861288, -19.890459993194078, z])
    v2 = np.array([-18.656576987781428, 9.18621785719776, z])
    for r in (0.0, 0.5, 2.0, 7.0):  # the ray passes 42 mm below the face: never within r
        assert ray_swept_triangle_first_hit(o, d, v0, v1, v2, r)[0] == np.inf


@settings(max_examples=200, deadline=None)
@given(
    st.floats(-300.0, -3.0),
    st.sampled_from([-1.0, 1.0]),
    st.integers(0, 2),
    st.sampled_from([0.0, 0.5, 2.0, 7.0]),
    st.integers(0, 2**32 - 1),
)
def test_ray_hits_never_lie_beyond_the_triangle_reach(
    exponent: float, sign: float, axis: int, r: float, seed: int
) -> None:
    """A ray almost parallel to an axis-aligned triangle (one direction component ~1e-300 to
    1e-3) never reports a hit farther than any point of the (grown) triangle can be."""
    rng = np.random.default_rng(seed)
    o = rng.uniform(-30, 30, 3)
    d = rng.normal(size=3)
    d[axis] = sign * 10.0**exponent
    d /= np.linalg.norm(d)
    tri = rng.uniform(-20, 20, (3, 3))
    tri[:, axis] = rng.uniform(-20, 20)
    reach = np.linalg.norm(o - tri[0]) + np.linalg.norm(tri[1] - tri[0]) + np.linalg.norm(tri[2] - tri[0])
    t_swept = float(ray_swept_triangle_first_hit(o, d, *tri, r)[0])
    assert t_swept == np.inf or t_swept <= reach + r
    for t in (float(ray_triangle_hits(o, d, *tri)[0]), kernels.ray_triangle_hit(o, d, *tri)):
        assert math.isnan(t) or t <= reach


def test_ray_swept_triangle_simple() -> None:
    v0, v1, v2 = np.array([0.0, 0, 0]), np.array([10.0, 0, 0]), np.array([0.0, 10, 0])
    assert ray_swept_triangle_first_hit([2.0, 2, 10], [0, 0, -1.0], v0, v1, v2, 1.5)[0] == 8.5
    t = ray_swept_triangle_first_hit([-10.0, -10, 0], [1.0, 1, 0] / np.sqrt(2), v0, v1, v2, 1.0)
    assert t[0] == pytest.approx(10 * math.sqrt(2) - 1.0, abs=1e-12)
    # grazing exactly the top offset plane: touching counts
    t = ray_swept_triangle_first_hit([-20.0, 2.0, 1.0], [1.0, 0, 0], v0, v1, v2, 1.0)
    assert t[0] == pytest.approx(20.0, abs=1e-9)
    assert ray_swept_triangle_first_hit([2.0, 2.0, 0.5], [1.0, 0, 0], v0, v1, v2, 1.0)[0] == 0
    assert ray_swept_triangle_first_hit([2.0, 2, 5], [0, 0, 1.0], v0, v1, v2, 1.0)[0] == np.inf


# ============================================================================================
# TriangleMeshDistance against trimesh
# ============================================================================================


def _meshes() -> dict[str, trimesh.Trimesh]:
    return {
        "icosphere": trimesh.creation.icosphere(subdivisions=2, radius=10.0),
        "box": trimesh.creation.box(extents=[20.0, 14.0, 10.0]),
        "torus": trimesh.creation.torus(15.0, 5.0, major_sections=24, minor_sections=12),
    }


MESHES = _meshes()
TMDS = {name: TriangleMeshDistance(m.vertices, m.faces) for name, m in MESHES.items()}


def _mesh_point_dist(mesh: trimesh.Trimesh, pts: Vec) -> Vec:
    _, dist, _ = trimesh.proximity.closest_point(mesh, np.atleast_2d(pts))
    return dist


def _oracle_segment_mesh(mesh: trimesh.Trimesh, p0: Vec, p1: Vec) -> tuple[float, float]:
    """(exact-ish minimum, dense-sample minimum) of the segment-to-surface distance.

    Exact: golden-section minimisation of every triangle's (convex) distance along the segment,
    vectorised over all triangles.  Sampled: trimesh.proximity at 0.01 mm steps.
    """
    tris = mesh.triangles
    lo = np.zeros(len(tris))
    hi = np.ones(len(tris))

    def f(s: Vec) -> Vec:
        pts = p0 + s[:, None] * (p1 - p0)
        return np.linalg.norm(pts - trimesh_closest_point(tris, pts), axis=1)

    best = np.minimum(f(lo), f(hi))
    for _ in range(80):
        x1 = hi - GOLDEN * (hi - lo)
        x2 = lo + GOLDEN * (hi - lo)
        f1, f2 = f(x1), f(x2)
        best = np.minimum(best, np.minimum(f1, f2))
        left = f1 <= f2
        hi = np.where(left, x2, hi)
        lo = np.where(left, lo, x1)
    n = max(2, math.ceil(np.linalg.norm(p1 - p0) / SAMPLE_STEP) + 1)
    samples = p0 + np.linspace(0, 1, n)[:, None] * (p1 - p0)
    return float(best.min()), float(_mesh_point_dist(mesh, samples).min())


mesh_name = st.sampled_from(sorted(MESHES))
box_coord = st.floats(-25.0, 25.0)
box_point = st.tuples(box_coord, box_coord, box_coord).map(np.array)


@pytest.mark.parametrize("name", sorted(MESHES))
def test_contains_matches_trimesh(name: str) -> None:
    mesh, tmd = MESHES[name], TMDS[name]
    rng = np.random.default_rng(1)
    pts = rng.uniform(-22.0, 22.0, (3000, 3))
    pts = pts[_mesh_point_dist(mesh, pts) > 1e-6]
    assert np.array_equal(tmd.contains(pts), mesh.contains(pts))
    # winding numbers are integers away from the surface
    w = tmd.winding_numbers(pts[:200])
    assert np.allclose(w, np.round(w), atol=1e-9)


@pytest.mark.parametrize("name", sorted(MESHES))
def test_point_distance_matches_trimesh(name: str) -> None:
    mesh, tmd = MESHES[name], TMDS[name]
    rng = np.random.default_rng(2)
    pts = rng.uniform(-25.0, 25.0, (150, 3))
    ours = tmd.point_distances(pts)
    assert np.allclose(ours, _mesh_point_dist(mesh, pts), atol=1e-9)


@settings(max_examples=_n(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mesh_name, box_point, box_point, st.floats(0.0, 1.0))
def test_segment_signed_distance_matches_oracle(name: str, p0: Vec, p1: Vec, shrink: float) -> None:
    mesh, tmd = MESHES[name], TMDS[name]
    p1 = p0 + (p1 - p0) * shrink  # also short needles
    exact, sampled = _oracle_segment_mesh(mesh, p0, p1)
    unsigned, _ = tmd.segment_distance(p0, p1)
    _check_min(unsigned, exact)
    assert unsigned <= sampled + 1e-9

    signed, s = tmd.segment_signed_distance(p0, p1)
    n = max(2, math.ceil(np.linalg.norm(p1 - p0) / SAMPLE_STEP) + 1)
    samples = p0 + np.linspace(0.0, 1.0, n)[:, None] * (p1 - p0)
    inside = mesh.contains(samples)
    depth_samples = _mesh_point_dist(mesh, samples)
    if inside.any():
        # sign is exact: a sampled inside point means the segment enters the mesh
        assert signed <= 0.0
    if signed > 0.0:
        assert abs(signed - exact) <= 1e-6
    if signed < 0.0 or (inside.any() and signed == 0.0):
        sampled_depth = float(depth_samples[inside].max()) if inside.any() else 0.0
        # depth is attained (<= true max <= sampled max + step/2) and >= every sampled depth
        assert -signed >= sampled_depth - 1e-6
        assert -signed <= sampled_depth + SAMPLE_STEP / 2 + 1e-9
        x = p0 + s * (p1 - p0)
        assert abs(_mesh_point_dist(mesh, x)[0] + signed) <= 1e-9


def test_segment_signed_distance_examples() -> None:
    tmd = TMDS["box"]  # box [-10, 10] x [-7, 7] x [-5, 5]
    d, s = tmd.segment_signed_distance([-30.0, 0, 0], [-12.0, 0, 0])
    assert d == pytest.approx(2.0, abs=1e-12) and s == pytest.approx(1.0)
    d, s = tmd.segment_signed_distance([-30.0, 0, 0], [0.0, 0, 0])
    assert d == pytest.approx(-5.0, abs=1e-6) and s == pytest.approx(1.0)
    d, s = tmd.segment_signed_distance([-30.0, 0.0, 0], [30.0, 0.0, 0])
    assert d == pytest.approx(-5.0, abs=1e-6)
    # entirely inside
    d, _ = tmd.segment_signed_distance([-1.0, 0.0, 0], [1.0, 0.0, 0])
    assert d == pytest.approx(-5.0, abs=1e-6)
    # touching a face from outside: distance 0, not negative
    d, _ = tmd.segment_signed_distance([-20.0, 7.0, 0], [20.0, 7.0, 0])
    assert d == 0.0
    # batched
    ds, _ = tmd.segments_signed_distance([[-30.0, 0, 0], [-1.0, 0, 0]], [[-12.0, 0, 0], [1, 0, 0]])
    assert ds.shape == (2,) and ds[0] > 0 > ds[1]


@settings(max_examples=_n(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mesh_name, box_point, st.floats(-1, 1), st.floats(-1, 1), st.floats(-1, 1), st.data())
def test_first_hit_within_matches_oracle(
    name: str, origin: Vec, dx: float, dy: float, dz: float, data: st.DataObject
) -> None:
    mesh, tmd = MESHES[name], TMDS[name]
    radius = data.draw(st.sampled_from([0.0, 0.5, 3.0]))
    # aim roughly at the mesh so that most rays hit
    d = -origin / (np.linalg.norm(origin) + 1e-9) + np.array([dx, dy, dz]) * 0.6
    assume(np.linalg.norm(d) > 1e-3)
    d /= np.linalg.norm(d)
    t_kernel = tmd.first_hit_within(origin, d, radius)

    def g(ts: Vec) -> Vec:
        pts = origin + np.asarray(ts, dtype=float)[:, None] * d
        dist = _mesh_point_dist(mesh, pts) - radius
        return np.where(mesh.contains(pts), -1.0, dist)

    # sphere tracing with 0.01 mm minimum steps (g is 1-Lipschitz outside the mesh)
    t, t_oracle, t_end = 0.0, math.inf, 80.0
    while t < t_end:
        val = float(g(np.array([t]))[0])
        if val <= 0.0:
            lo = max(t - max(SAMPLE_STEP, 0.0), 0.0) if t > 0 else 0.0
            hi = t
            if t > 0:
                for _ in range(100):
                    mid = 0.5 * (lo + hi)
                    if g(np.array([mid]))[0] <= 0.0:
                        hi = mid
                    else:
                        lo = mid
            t_oracle = hi
            break
        t += max(val, SAMPLE_STEP)
    if math.isfinite(t_kernel):
        assert g(np.array([t_kernel]))[0] <= 1e-9  # a real hit
    if math.isfinite(t_oracle):
        assert t_kernel <= t_oracle + 1e-9  # never later than the oracle
        assert t_kernel >= t_oracle - 1e-6 or g(np.array([t_kernel]))[0] <= 1e-9
    else:
        # the oracle may miss a dip shallower than a step; the kernel must then be a real hit
        assert not math.isfinite(t_kernel) or g(np.array([t_kernel]))[0] <= 1e-9


@pytest.mark.parametrize("name", sorted(MESHES))
def test_ray_crossings_match_trimesh(name: str) -> None:
    mesh, tmd = MESHES[name], TMDS[name]
    rng = np.random.default_rng(3)
    for _ in range(40):
        o = rng.uniform(-25.0, 25.0, 3)
        d = rng.normal(size=3)
        d /= np.linalg.norm(d)
        ours = tmd.ray_crossings(o, d)
        locs, _, _ = mesh.ray.intersects_location([o], [d], multiple_hits=True)
        theirs = np.sort((locs - o) @ d) if len(locs) else np.empty(0)
        theirs = theirs[theirs >= 0]
        assert len(ours) == len(theirs)
        assert np.allclose(ours, theirs, atol=1e-9)
        assert len(ours) % 2 == int(tmd.contains(o[None])[0])


def test_ray_crossings_through_vertices_and_edges() -> None:
    box = TMDS["box"]  # [-10, 10] x [-7, 7] x [-5, 5]
    d = np.array([20.0, 14.0, 10.0])
    d /= np.linalg.norm(d)
    # diagonal through two opposite corners
    ts = box.ray_crossings(np.array([-20.0, -14.0, -10.0]), d)
    assert np.allclose(ts, [np.linalg.norm([10, 7, 5]), 3 * np.linalg.norm([10, 7, 5])])
    # through two opposite edges
    d2 = np.array([20.0, 14.0, 0.0]) / np.linalg.norm([20.0, 14.0, 0.0])
    ts = box.ray_crossings(np.array([-20.0, -14.0, 1.0]), d2)
    assert len(ts) == 2
    # touching an edge from outside: no crossing
    d3 = np.array([1.0, -1.0, 0.0]) / math.sqrt(2.0)
    assert len(box.ray_crossings(np.array([-17.0, 0.0, 0.0]), d3)) == 0
    # icosphere: through a vertex and the antipodal vertex
    sphere = TMDS["icosphere"]
    v = MESHES["icosphere"].vertices[5]
    ts = sphere.ray_crossings(3.0 * v, -v / np.linalg.norm(v))
    assert np.allclose(ts, [20.0, 40.0], atol=1e-9)


@settings(max_examples=_n(30), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(box_point, st.sampled_from(list(range(0, 400, 7))), st.sampled_from([0, 1, 2]))
def test_ray_crossings_parity_through_mesh_vertices(origin: Vec, vertex: int, which: int) -> None:
    """Rays aimed exactly at mesh vertices: parity must still equal inside/outside."""
    name = ["icosphere", "box", "torus"][which]
    mesh, tmd = MESHES[name], TMDS[name]
    target = mesh.vertices[vertex % len(mesh.vertices)]
    d = target - origin
    assume(np.linalg.norm(d) > 1e-3)
    assume(_mesh_point_dist(mesh, origin)[0] > 1e-6)
    ts = tmd.ray_crossings(origin, d / np.linalg.norm(d))
    assert len(ts) % 2 == int(tmd.contains(origin[None])[0])
    assert np.all(np.diff(ts) > 0)
