"""Exact, vectorised geometric kernels for needle-safety checks.

Every public function works on ``P`` matched pairs: point-like arguments are arrays of shape
``(P, 3)`` (a single ``(3,)`` point is broadcast against the others), scalar-like arguments
(radii) have shape ``(P,)`` or are scalars, and every result has shape ``(P,)`` (or ``(P, 3)``
for points).  All arithmetic is float64.  Units are millimetres.

Nothing here samples along a needle: every distance and every first-hit parameter is obtained
in closed form, as the minimum over the finitely many candidate configurations in which an
extremum can occur (interior critical point, or a boundary feature: endpoint, edge, vertex).
Every candidate is evaluated as the distance between two points that really lie on the two
objects, so the reported distances are never smaller than the true minimum by more than the
floating-point rounding of that final evaluation, and are never larger than it by more than the
rounding of the candidate parameters (well below 1e-9 mm for coordinates up to a few metres).

Where a decision is numerically marginal (a ray tangent to a sphere or cylinder, a ray through
a triangle edge) the kernels deliberately err towards reporting contact: a missed contact would
turn into a wrong "safe".
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "point_triangle_closest",
    "ray_capsule_first_hit",
    "ray_swept_triangle_first_hit",
    "ray_triangle_hits",
    "segment_capsule_signed_distance",
    "segment_segment_closest",
    "segment_triangle_distance",
]

FloatArray = NDArray[np.float64]

#: Relative slack used for tangency decisions (grazing rays).  A ray whose closest approach to a
#: sphere or cylinder axis exceeds the radius by less than ``_TANGENT_REL * (|offset| + radius)``
#: is reported as touching.  1e-12 is ~4500 ulps: far above the rounding of the computation and
#: far below anything clinically meaningful (1e-9 mm at a 1 m scale).
_TANGENT_REL = 1e-12

#: Relative slack on the ray parameter: an origin lying on a triangle may give t = -tiny.
_BARY_EPS = 1e-12

#: Geometric slack for ray/triangle hits, relative to the triangle's size: a plane hit that lies
#: within this distance of the triangle counts, so that a ray through a shared edge or vertex is
#: never lost between the two neighbours because of rounding.
_HIT_EPS = 1e-12


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


def _points(*arrays: ArrayLike) -> list[FloatArray]:
    """Convert to float64 ``(P, 3)`` arrays broadcast against each other."""
    conv = [np.atleast_2d(np.asarray(a, dtype=np.float64)) for a in arrays]
    for a in conv:
        if a.ndim != 2 or a.shape[1] != 3:
            raise ValueError(f"expected arrays of shape (P, 3) or (3,), got {a.shape}")
    shape = np.broadcast_shapes(*(a.shape for a in conv))
    return [np.ascontiguousarray(np.broadcast_to(a, shape)) for a in conv]


def _scalars(x: ArrayLike, n: int) -> FloatArray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim > 1:
        raise ValueError(f"expected a scalar or an array of shape (P,), got {arr.shape}")
    return np.ascontiguousarray(np.broadcast_to(arr, (n,)))


def _dot(a: FloatArray, b: FloatArray) -> FloatArray:
    return np.einsum("ij,ij->i", a, b)


def _cross(a: FloatArray, b: FloatArray) -> FloatArray:
    out = np.empty(np.broadcast_shapes(a.shape, b.shape), dtype=np.float64)
    out[:, 0] = a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1]
    out[:, 1] = a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2]
    out[:, 2] = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    return out


def _norm(a: FloatArray) -> FloatArray:
    return np.sqrt(_dot(a, a))


def _project_param(x: FloatArray, a: FloatArray, ab: FloatArray, ab2: FloatArray) -> FloatArray:
    """Parameter in [0, 1] of the point of segment ``a + t ab`` closest to ``x``."""
    num = _dot(x - a, ab)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t = num / ab2
    t = np.where(ab2 > 0.0, t, 0.0)
    t = np.where(np.isnan(t), 0.0, t)  # 0/0 can only come from denormal lengths
    return np.clip(t, 0.0, 1.0)


def _point_segment(
    x: FloatArray, a: FloatArray, ab: FloatArray, ab2: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Exact distance from points ``x`` to segments ``a + t ab``; returns (dist, t)."""
    t = _project_param(x, a, ab, ab2)
    return _norm(x - (a + t[:, None] * ab)), t


def _unit(d: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Normalise directions; zero directions stay zero.  Returns (unit, length)."""
    length = _norm(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = d / length[:, None]
    u = np.where((length > 0.0)[:, None], u, 0.0)
    return u, length


# --------------------------------------------------------------------------------------------
# 1. segment / segment
# --------------------------------------------------------------------------------------------


def segment_segment_closest(
    p0: ArrayLike, p1: ArrayLike, q0: ArrayLike, q1: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Shortest distance between segments ``p0→p1`` and ``q0→q1``.

    Returns ``(dist, s, t)``, each of shape ``(P,)``, with ``s, t`` in ``[0, 1]`` the parameters
    of the closest points ``p0 + s (p1 - p0)`` and ``q0 + t (q1 - q0)``.

    Method: the minimum of the (convex) squared distance over the unit square is attained either
    at the interior critical point of the two infinite lines or on the boundary of the square,
    i.e. with one segment reduced to an endpoint.  All five candidates are evaluated (interior
    point computed with the cross-product formulas and polished by one alternating projection,
    four endpoint-to-segment projections) and the best one is kept.  Parallel segments (no
    interior critical point) are therefore exact through the endpoint candidates, and zero-length
    segments degrade to point/segment or point/point distances.
    """
    p0a, p1a, q0a, q1a = _points(p0, p1, q0, q1)
    u = p1a - p0a
    v = q1a - q0a
    w = q0a - p0a
    uu = _dot(u, u)
    vv = _dot(v, v)

    # interior candidate of the two lines (cross-product form: better conditioned than
    # the a*e - b*b determinant for nearly parallel lines)
    n = _cross(u, v)
    nn = _dot(n, n)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s_i = _dot(_cross(w, v), n) / nn
        t_i = _dot(_cross(w, u), n) / nn
    ok = (nn > 0.0) & np.isfinite(s_i) & np.isfinite(t_i)
    s_i = np.clip(np.where(ok, s_i, 0.0), 0.0, 1.0)
    t_i = np.clip(np.where(ok, t_i, 0.0), 0.0, 1.0)
    # one alternating projection removes the first-order error of (s_i, t_i) for nearly
    # parallel intersecting lines; each step can only decrease the distance
    t_i = _project_param(p0a + s_i[:, None] * u, q0a, v, vv)
    s_i = _project_param(q0a + t_i[:, None] * v, p0a, u, uu)
    best = _norm(p0a + s_i[:, None] * u - (q0a + t_i[:, None] * v))
    best_s = s_i
    best_t = t_i

    # boundary candidates: an endpoint of one segment against the other segment
    for s_fix, x in ((0.0, p0a), (1.0, p1a)):
        d, t = _point_segment(x, q0a, v, vv)
        better = d < best
        best = np.where(better, d, best)
        best_s = np.where(better, s_fix, best_s)
        best_t = np.where(better, t, best_t)
    for t_fix, y in ((0.0, q0a), (1.0, q1a)):
        d, s = _point_segment(y, p0a, u, uu)
        better = d < best
        best = np.where(better, d, best)
        best_s = np.where(better, s, best_s)
        best_t = np.where(better, t_fix, best_t)
    return best, best_s, best_t


# --------------------------------------------------------------------------------------------
# 2. segment / capsule
# --------------------------------------------------------------------------------------------


def segment_capsule_signed_distance(
    p0: ArrayLike, p1: ArrayLike, a: ArrayLike, b: ArrayLike, radius: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Signed distance between segment ``p0p1`` and the capsule of axis ``ab`` and ``radius``.

    Returns ``(dist, s)``: ``dist = segment_segment_distance - radius`` (negative when the segment
    enters the capsule; ``-dist`` is then the deepest penetration of the segment into the
    capsule, because the distance from an inside point to the capsule surface is
    ``radius - distance_to_axis``), and ``s`` the parameter on ``p0p1`` of the closest (deepest)
    point.
    """
    d, s, _ = segment_segment_closest(p0, p1, a, b)
    r = _scalars(radius, d.shape[0])
    return d - r, s


# --------------------------------------------------------------------------------------------
# 3. ray / capsule
# --------------------------------------------------------------------------------------------


def _smaller_root(
    half_b: FloatArray, disc: FloatArray, c: FloatArray, a: FloatArray, scale: FloatArray
) -> FloatArray:
    """Smaller root of ``a t^2 + 2 half_b t + c`` for ``half_b < 0``, ``disc = half_b^2 - a c``.

    The cancellation-free form ``c / (-half_b + sqrt(disc))`` is used unless its denominator
    is itself at rounding level (a ray grazing the surface right at its origin, where both
    ``half_b`` and ``disc`` vanish); there the plain form ``(-half_b - sqrt(disc)) / a`` is
    accurate, and both are ~0.
    """
    root = np.sqrt(disc)
    q = -half_b + root
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        stable = c / q
        plain = (-half_b - root) / a
    tiny = q <= _TANGENT_REL * scale * np.sqrt(np.maximum(a, 0.0))
    return np.where(tiny, plain, stable)


def _ray_sphere_unit(o: FloatArray, d: FloatArray, c: FloatArray, r: FloatArray) -> FloatArray:
    """First t >= 0 at which the ray ``o + t d`` (``d`` unit or zero) meets the closed ball.

    0 if ``o`` is inside or on the sphere, +inf if never.  Tangent rays count as hits.
    """
    m = o - c
    b = _dot(m, d)
    m_perp = m - b[:, None] * d
    h = _norm(m_perp)  # distance from the centre to the ray's line
    mlen = _norm(m)
    c_ = (mlen - r) * (mlen + r)  # |m|^2 - r^2 without cancellation
    slack = _TANGENT_REL * (mlen + r)
    disc = np.maximum((r - h) * (r + h), 0.0)
    hit = (h <= r + slack) & (b < 0.0)
    t = _smaller_root(b, disc, c_, np.ones_like(b), mlen + r)
    t = np.where(hit & (c_ > 0.0), np.maximum(t, 0.0), np.inf)
    return np.where(c_ <= 0.0, 0.0, t)


def _ray_capsule_unit(
    o: FloatArray, d: FloatArray, a: FloatArray, b: FloatArray, r: FloatArray
) -> FloatArray:
    """``ray_capsule_first_hit`` for already normalised directions (t in length units)."""
    ab = b - a
    ab2 = _dot(ab, ab)
    length = np.sqrt(ab2)

    # origin already inside (or on) the capsule
    d0, _ = _point_segment(o, a, ab, ab2)
    inside = d0 <= r

    # the two end spheres
    t = np.minimum(_ray_sphere_unit(o, d, a, r), _ray_sphere_unit(o, d, b, r))

    # side of the cylinder, restricted to the slab 0 <= projection <= length.  Entries through
    # the flat end disks are inside the end spheres and therefore already covered.
    cyl = length > 1e-150
    with np.errstate(divide="ignore", invalid="ignore"):
        e = ab / length[:, None]
    e = np.where(cyl[:, None], e, 0.0)
    m = o - a
    m_ax = _dot(m, e)
    d_ax = _dot(d, e)
    m_perp = m - m_ax[:, None] * e
    d_perp = d - d_ax[:, None] * e
    nvec = _cross(d, e)  # |nvec| = |d_perp|
    aa = _dot(nvec, nvec)
    bb = _dot(m_perp, d_perp)
    mp = _norm(m_perp)
    cc = (mp - r) * (mp + r)  # |m_perp|^2 - r^2
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.abs(_dot(m, nvec)) / np.sqrt(aa)  # distance between the ray line and the axis
    slack = _TANGENT_REL * (_norm(m) + r)
    disc = aa * np.maximum((r - h) * (r + h), 0.0)
    ok = cyl & (aa > 0.0) & (cc > 0.0) & (bb < 0.0) & (h <= r + slack)
    t_cyl = _smaller_root(bb, disc, cc, aa, _norm(m) + r)
    proj = m_ax + t_cyl * d_ax
    tol_ax = _TANGENT_REL * (np.abs(m_ax) + length + r)
    ok &= (proj >= -tol_ax) & (proj <= length + tol_ax) & np.isfinite(t_cyl)
    t = np.minimum(t, np.where(ok, np.maximum(t_cyl, 0.0), np.inf))
    return np.where(inside, 0.0, t)


def ray_capsule_first_hit(
    origin: ArrayLike, direction: ArrayLike, a: ArrayLike, b: ArrayLike, radius: ArrayLike
) -> FloatArray:
    """Smallest ``t >= 0`` with ``dist(origin + t·direction, segment ab) <= radius``.

    ``direction`` should be a unit vector; if it is not, ``t`` is still returned in units of
    ``direction`` (the point is ``origin + t·direction``).  Returns 0 when the origin is already
    inside (or on) the capsule and ``+inf`` when the ray never reaches it.

    Exact: minimum of the valid roots of the infinite-cylinder quadratic (kept only when the
    hit projects inside the segment) and of the two end-sphere quadratics, each solved in a
    cancellation-free form.  A zero-length axis is a sphere; a ray parallel to the axis meets
    only the end spheres; a tangent (grazing) ray counts as a hit (with a relative slack of
    ~1e-12 so that rounding can never turn a touching ray into a miss).
    """
    o, dv, aa, bb = _points(origin, direction, a, b)
    r = _scalars(radius, o.shape[0])
    du, dlen = _unit(dv)
    t = _ray_capsule_unit(o, du, aa, bb, r)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_scaled = t / dlen
    return np.where(t == 0.0, 0.0, np.where(dlen > 0.0, t_scaled, np.inf))


# --------------------------------------------------------------------------------------------
# 4. point / triangle
# --------------------------------------------------------------------------------------------


def point_triangle_closest(
    points: ArrayLike, v0: ArrayLike, v1: ArrayLike, v2: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Exact distance from each point to its triangle, and the closest points ``(P, 3)``.

    The closest point is either the orthogonal projection onto the plane (when it falls inside
    the triangle) or lies on one of the three edges.  All four candidates are built as genuine
    points of the triangle (the face candidate as an affine combination of the vertices) and the
    nearest one is kept; this is equivalent to Ericson's Voronoi-region method but stays exact
    for sliver and zero-area triangles, where the face candidate is simply dropped and the edges
    (whose union is then the whole triangle) give the answer.
    """
    p, a, b, c = _points(points, v0, v1, v2)
    e1 = b - a
    e2 = c - a
    n = _cross(e1, e2)
    nn = _dot(n, n)

    # the three edges in one stacked evaluation (fewer numpy calls for small P)
    n_p = p.shape[0]
    x0 = np.concatenate([a, b, c])
    seg = np.concatenate([e1, c - b, a - c])
    pp = np.concatenate([p, p, p])
    t = _project_param(pp, x0, seg, _dot(seg, seg))
    q_all = x0 + t[:, None] * seg
    d_all = _norm(pp - q_all).reshape(3, n_p)
    k = np.argmin(d_all, axis=0)
    best = d_all[k, np.arange(n_p)]
    best_pt = q_all.reshape(3, n_p, 3)[k, np.arange(n_p)]

    # face candidate: projection onto the plane, barycentric coordinates by signed areas.
    # err_w estimates the rounding error of the weights (~ eps L^2 / |n|); for numerically
    # degenerate triangles (err_w > 1e-3, i.e. width < ~4e-12 L) the face candidate is dropped
    # and the edges, which then lie within that width of every triangle point, decide.
    lmax2 = np.maximum(np.maximum(_dot(e1, e1), _dot(e2, e2)), _dot(c - b, c - b))
    nlen = np.sqrt(nn)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        err_w = 16.0 * np.finfo(np.float64).eps * lmax2 / nlen
        lam = _dot(p - a, n) / nn
        proj = p - lam[:, None] * n
        w1 = _dot(_cross(c - proj, a - proj), n) / nn  # weight of b
        w2 = _dot(_cross(a - proj, b - proj), n) / nn  # weight of c
        w0 = _dot(_cross(b - proj, c - proj), n) / nn  # weight of a
        nh = n / nlen[:, None]
    face = (nn > 0.0) & (err_w <= 1e-3) & (w0 >= 0.0) & (w1 >= 0.0) & (w2 >= 0.0)
    face &= np.isfinite(w1) & np.isfinite(w2)
    # clamp the weights into the simplex so that q is a genuine point of the triangle
    w1 = np.where(face, w1, 0.0)
    w2 = np.where(face, w2, 0.0)
    wsum = w1 + w2
    shrink = np.where(wsum > 1.0, 1.0 / np.where(wsum > 1.0, wsum, 1.0), 1.0)
    w1 = w1 * shrink
    w2 = w2 * shrink
    q = a + w1[:, None] * e1 + w2[:, None] * e2
    # For slivers the weights' error moves q *within* the plane; when the in-plane offset between
    # p and q is within that rounding error, re-project p onto the plane through q (the distance
    # becomes the plane distance, exact even for thin triangles).
    nh = np.where(face[:, None], nh, 0.0)
    r = p - q
    rn = _dot(r, nh)
    in_plane = r - rn[:, None] * nh
    lmax = np.sqrt(lmax2)
    small = _norm(in_plane) <= 4.0 * err_w * (lmax + _norm(p - a)) + 1e-300
    q = np.where((face & small)[:, None], p - rn[:, None] * nh, q)
    dist = np.where(face, _norm(p - q), np.inf)
    better = dist < best
    best = np.where(better, dist, best)
    best_pt = np.where(better[:, None], q, best_pt)
    return best, best_pt


# --------------------------------------------------------------------------------------------
# 6. ray / triangle (Möller–Trumbore); defined before 5 because 5 uses it
# --------------------------------------------------------------------------------------------


def _hit_point_rounding(det: FloatArray, scale2: FloatArray, along: FloatArray) -> FloatArray:
    """How far rounding can move a Möller–Trumbore hit point of a well-conditioned
    crossing (det^2 >= 1e-12 scale2): the relative error of t grows like the condition
    number sqrt(scale2)/|det| (a ray crossing the plane at a shallow angle, a needle-
    shaped triangle); `along` is the hit's distance t|d| from the origin. Zero where the
    crossing is ill-conditioned: those are decided by edge contact instead."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        cond = np.sqrt(scale2) / np.abs(det)
        rounding = 8.0 * np.finfo(np.float64).eps * cond * along
    return np.where(det * det >= 1e-12 * scale2, rounding, 0.0)


def ray_triangle_hits(
    origin: ArrayLike, direction: ArrayLike, v0: ArrayLike, v1: ArrayLike, v2: ArrayLike
) -> FloatArray:
    """Möller–Trumbore ray/triangle intersection.

    Returns ``t`` (shape ``(P,)``, in units of ``direction``) of the hit ``origin + t·direction``
    with ``t >= 0``, or ``nan`` when there is none.  Hits on an edge or a vertex count: apart from
    clearly interior hits, the decision is geometric (the plane hit must lie within 1e-12 of the
    triangle's size from the triangle, plus what rounding can move the hit point of a crossing
    at a shallow angle: 8 eps x condition number x t|d|), so a ray through a shared edge is never lost by both
    neighbours and sliver triangles cannot produce spurious hits.  When the intersection is
    ill-conditioned (ray within ~1e-6 rad of the plane, sliver or zero-area triangle) the ray
    touching an edge or vertex (within 1e-12 of the size) is reported as the hit instead; a ray
    parallel to a well-shaped triangle that does not touch its boundary gives ``nan``.
    """
    o, d, a, b, c = _points(origin, direction, v0, v1, v2)
    e1 = b - a
    e2 = c - a
    pvec = _cross(d, e2)
    det = _dot(e1, pvec)
    tvec = o - a
    qvec = _cross(tvec, e1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        inv = 1.0 / det
        u = _dot(tvec, pvec) * inv
        v = _dot(d, qvec) * inv
        t = _dot(e2, qvec) * inv
        # slack on t: an origin lying on the triangle may give t = -tiny
        t_slack = _BARY_EPS * (_norm(tvec) + np.sqrt(_dot(e1, e1) + _dot(e2, e2))) / _norm(d)
        # no point of the triangle is farther from the origin than |o - a| + |e1| + |e2|: a
        # plane hit beyond twice that is rounding (a ray almost parallel to the plane puts it
        # at ~1e150, where the hit point's arithmetic overflows and can pass the gap test)
        t_reach = 2.0 * (_norm(tvec) + _norm(e1) + _norm(e2)) / _norm(d)
        cand = (det != 0.0) & np.isfinite(t) & (t >= -t_slack) & (t <= t_reach)
        w = 1.0 - u - v
        # clearly inside, with a well-conditioned det: accept on the barycentric test alone
        scale2 = _dot(d, d) * _dot(e1, e1) * _dot(e2, e2)
        clear = cand & (np.minimum(np.minimum(u, v), w) >= 1e-6) & (det * det >= 1e-12 * scale2)
    t = np.where(cand, np.maximum(t, 0.0), np.nan)
    # Everything else (near an edge or a vertex, outside, a ray within ~1e-6 rad of the plane, a
    # sliver or needle triangle whose barycentric coordinates are ill-conditioned) is decided
    # geometrically: the hit counts iff the plane-intersection point lies within 1e-12 of the
    # triangle's size from the triangle.  Edge and vertex hits therefore count, no spurious hit
    # is reported, and a ray through a shared edge is seen by both neighbours.
    check = cand & ~clear
    if np.any(check):
        idx = np.flatnonzero(check)
        x = o[idx] + t[idx, None] * d[idx]
        gap, _ = point_triangle_closest(x, a[idx], b[idx], c[idx])
        size = _norm(e1[idx]) + _norm(e2[idx]) + _norm(x - a[idx])
        tol = _HIT_EPS * size + _hit_point_rounding(det[idx], scale2[idx], t[idx] * _norm(d[idx]))
        t[idx] = np.where(np.isfinite(gap) & (gap <= tol), t[idx], np.nan)
    # Ill-conditioned det (sliver / needle triangle, ray nearly in the plane, or det == 0): the
    # plane hit above may be meaningless, so also look for the ray touching an edge or a vertex
    # (any contact with such a triangle passes within its tiny width of an edge).
    ill = np.isnan(t) & (det * det < 1e-12 * scale2)
    if np.any(ill):
        idx = np.flatnonzero(ill)
        dl = _norm(d[idx])
        reach = (_norm(o[idx] - a[idx]) + _norm(e1[idx]) + _norm(e2[idx])) * 2.0 / dl
        far = o[idx] + reach[:, None] * d[idx]
        size = _norm(e1[idx]) + _norm(e2[idx]) + _norm(o[idx] - a[idx])
        best_t = np.full(idx.size, np.inf)
        for x0, x1 in ((a, b), (b, c), (c, a)):  # earliest edge contact
            gap, s_ray, _ = segment_segment_closest(o[idx], far, x0[idx], x1[idx])
            t_edge = s_ray * reach
            touch = np.isfinite(gap) & (gap <= _HIT_EPS * (size + t_edge * dl))
            best_t = np.minimum(best_t, np.where(touch, t_edge, np.inf))
        t[idx] = np.where(np.isfinite(best_t), best_t, np.nan)
    return t


# --------------------------------------------------------------------------------------------
# 5. segment / triangle
# --------------------------------------------------------------------------------------------


def segment_triangle_distance(
    p0: ArrayLike, p1: ArrayLike, v0: ArrayLike, v1: ArrayLike, v2: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Exact unsigned distance between segment ``p0p1`` and a triangle (0 if they intersect).

    Returns ``(dist, s)`` with ``s`` in ``[0, 1]`` the parameter on the segment of a closest
    point.  The minimum is over: the segment against the three edges, the two endpoints against
    the triangle, and the segment crossing the triangle (distance 0).  This is exhaustive: if the
    closest triangle point is interior and the closest segment point is interior with positive
    distance, the segment is parallel to the plane and sliding along it reaches an endpoint or an
    edge at the same distance; a coplanar intersection passes through an edge or an endpoint.
    """
    pa, pb, a, b, c = _points(p0, p1, v0, v1, v2)
    n_p = pa.shape[0]
    cols = np.arange(n_p)
    # segment against the three edges, stacked into one call
    d_e, s_e, _ = segment_segment_closest(
        np.concatenate([pa, pa, pa]),
        np.concatenate([pb, pb, pb]),
        np.concatenate([a, b, c]),
        np.concatenate([b, c, a]),
    )
    d_e = d_e.reshape(3, n_p)
    k = np.argmin(d_e, axis=0)
    best = d_e[k, cols]
    best_s = s_e.reshape(3, n_p)[k, cols]
    # the two endpoints against the triangle
    d_p, _ = point_triangle_closest(
        np.concatenate([pa, pb]),
        np.concatenate([a, a]),
        np.concatenate([b, b]),
        np.concatenate([c, c]),
    )
    d_p = d_p.reshape(2, n_p)
    for s_fix in (0, 1):
        better = d_p[s_fix] < best
        best = np.where(better, d_p[s_fix], best)
        best_s = np.where(better, float(s_fix), best_s)
    t = ray_triangle_hits(pa, pb - pa, a, b, c)
    crosses = np.isfinite(t) & (t <= 1.0)
    best = np.where(crosses, 0.0, best)
    best_s = np.where(crosses, np.clip(np.nan_to_num(t), 0.0, 1.0), best_s)
    return best, best_s


# --------------------------------------------------------------------------------------------
# 7. ray / triangle grown by a ball
# --------------------------------------------------------------------------------------------


def _ray_swept_triangle_unit(
    o: FloatArray, d: FloatArray, a: FloatArray, b: FloatArray, c: FloatArray, r: FloatArray
) -> FloatArray:
    dist0, _ = point_triangle_closest(o, a, b, c)
    t = np.full(o.shape[0], np.inf)
    # edge capsules (they contain the vertex spheres and the prism's side walls)
    n_p = o.shape[0]
    t_caps = _ray_capsule_unit(
        np.concatenate([o, o, o]),
        np.concatenate([d, d, d]),
        np.concatenate([a, b, c]),
        np.concatenate([b, c, a]),
        np.concatenate([r, r, r]),
    )
    t = np.minimum(t, t_caps.reshape(3, n_p).min(axis=0))
    # the two face planes offset by +-r, restricted to the triangle's prism
    e1 = b - a
    e2 = c - a
    n = _cross(e1, e2)
    nlen = _norm(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        nh = n / nlen[:, None]
    nh = np.where((nlen > 0.0)[:, None], nh, 0.0)
    h0 = _dot(o - a, nh)
    hd = _dot(d, nh)
    ah0 = np.abs(h0)
    approaching = (ah0 > r) & (h0 * hd < 0.0) & (nlen > 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_f = (ah0 - r) / np.abs(hd)
    # Every point within r of the triangle lies within |o - a| + |e1| + |e2| + r of the
    # origin. A ray almost parallel to the face (hd ~ 1e-110) meets the offset plane far
    # beyond that, where the barycentric test below is pure rounding and used to accept
    # t ~ 1e110: such plane hits are not hits (the capsules decide).
    reach = 2.0 * (_norm(o - a) + _norm(e1) + _norm(e2) + r)
    approaching &= t_f <= reach
    x = o + np.where(approaching, t_f, 0.0)[:, None] * d
    nn = nlen * nlen
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        w0 = _dot(_cross(b - x, c - x), n) / nn
        w1 = _dot(_cross(c - x, a - x), n) / nn
        w2 = _dot(_cross(a - x, b - x), n) / nn
    in_prism = (w0 >= -_BARY_EPS) & (w1 >= -_BARY_EPS) & (w2 >= -_BARY_EPS)
    ok = approaching & in_prism & np.isfinite(t_f)
    t = np.minimum(t, np.where(ok, np.maximum(t_f, 0.0), np.inf))
    return np.where(dist0 <= r, 0.0, t)


def ray_swept_triangle_first_hit(
    origin: ArrayLike,
    direction: ArrayLike,
    v0: ArrayLike,
    v1: ArrayLike,
    v2: ArrayLike,
    radius: ArrayLike,
) -> FloatArray:
    """Smallest ``t >= 0`` with ``dist(origin + t·direction, triangle) <= radius``.

    The triangle grown by a ball of ``radius`` is the union of the three edge capsules (which
    contain the vertex spheres) and the prism between the face planes offset by ``±radius``; the
    prism's side walls lie inside the capsules, so the first hit is the minimum of the three
    capsule first hits and of the hits on the two offset face planes whose hit point projects
    inside the triangle.  Returns 0 if the origin is already within ``radius``, ``+inf`` if the
    ray never comes within ``radius``.  ``t`` is in units of ``direction`` (mm for a unit
    direction).  Zero-area triangles reduce to their edge capsules.
    """
    o, dv, a, b, c = _points(origin, direction, v0, v1, v2)
    r = _scalars(radius, o.shape[0])
    du, dlen = _unit(dv)
    t = _ray_swept_triangle_unit(o, du, a, b, c, r)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_scaled = t / dlen
    return np.where(t == 0.0, 0.0, np.where(dlen > 0.0, t_scaled, np.inf))
