"""Compiled (numba) forms of the safety engine's inner loops.

The closed-form geometry is the same as in geometry.py (segment-segment closest
points, ray-capsule first hit, Möller–Trumbore with the geometric edge test), written
for one pair at a time so that the loops over capsules, clusters, triangles and
needles run compiled instead of as many small numpy calls. geometry.py stays the
vectorised reference; tests/test_kernels.py holds the two to each other on random and
degenerate cases, and the oracle tests hold the engine to an independent computation.

Every function here is pure: arrays in, arrays out, no state. Compiled code is cached
beside this file (in __pycache__, or numba's per-user cache when that is not writable),
so only the first run on a machine pays the compile time (about 10 s here); warm_up()
lets the desktop program pay it in the background. Where this file is absent (a bundle
holding bytecode only) nothing can be cached and every start compiles again.

The entry kernels are also compiled ahead of time into the extension module
`_thighmap_kernels`, stamped with this file's SHA-256 (ahead_of_time.py): the one-folder
bundle carries it instead of numba and LLVM (150 MB; packaging/compile_kernels.py), and
other installations build it once into the user's cache folder (prepare(), at the first
check). Where such a module is found and its stamp matches this source, the entry kernels
are taken from it and numba is never imported; otherwise numba compiles them as above.
The bundle ships this module as source so the stamp can be checked
(packaging/thighmap.spec).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import numpy as np


def source_digest() -> int:
    """The first 60 bits of this file's SHA-256, as an integer: ties kernels compiled ahead
    of time to the source they were compiled from."""
    with open(__file__, "rb") as source:
        return int(hashlib.sha256(source.read()).hexdigest()[:15], 16)


def _ahead_of_time_kernels() -> ModuleType | None:
    """The entry kernels compiled ahead of time from this very file, or None: the bundle's
    `_thighmap_kernels` (packaging/compile_kernels.py), else the one built on this machine
    into the user's cache folder (ahead_of_time.py)."""
    if not os.path.isfile(__file__):
        return None  # no source to compare the stamp with
    digest = source_digest()
    try:
        import _thighmap_kernels  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        if _thighmap_kernels.source_digest() == digest:
            return _thighmap_kernels
        # compiled from another version of this file: not used
    from thighmap.safety import ahead_of_time

    return ahead_of_time.load_cached(digest)


_AHEAD_OF_TIME = _ahead_of_time_kernels()


def _load_numba_numpy_support_without_blas() -> None:
    """Load numba's numpy implementations without its probe for a BLAS.

    Numba probes for a BLAS (by importing scipy.linalg, about 0.2-0.7 s with the numpy
    and scipy modules that pulls in) the first time it compiles or loads anything. The
    kernels here use no BLAS function; the probe only decides whether numba-compiled
    np.dot-like code may call one. Answering "no BLAS" once, while numba's array module
    loads, saves that import on every start; numba's own later BLAS checks (np.dot in
    code compiled elsewhere) still import scipy as usual."""
    if "numba.np.arraymath" in sys.modules or "scipy.linalg.cython_blas" in sys.modules:
        return  # already loaded (or the probe would be free)
    from numba.np import linalg

    probe = getattr(linalg, "ensure_blas", None)
    if probe is None:  # another numba: leave its loading alone
        return

    def no_blas() -> None:
        raise ImportError("thighmap's kernels use no BLAS")

    linalg.ensure_blas = no_blas
    try:
        from numba.np import arraymath
    finally:
        linalg.ensure_blas = probe
    arraymath.ensure_blas = probe


if _AHEAD_OF_TIME is None:
    from numba import njit

    _load_numba_numpy_support_without_blas()
else:

    def njit(*args: object, **options: object) -> Callable:
        """Stands in for numba's decorator: the functions below stay plain Python, and the
        entry kernels are replaced by their compiled forms at the end of this module."""
        if args and callable(args[0]):
            return args[0]
        return lambda function: function


_JIT = {
    "cache": os.path.isfile(__file__),
    "nogil": True,  # batches are split across threads (dangers.py)
    "error_model": "numpy",  # x/0 gives inf or nan as in numpy, never an exception
}

_TANGENT_REL = 1e-12  # as geometry._TANGENT_REL
_BARY_EPS = 1e-12  # as geometry._BARY_EPS
_HIT_EPS = 1e-12  # as geometry._HIT_EPS
_EPS = float(np.finfo(np.float64).eps)
# Allowance for rounding in the pruning distances (coordinates of a few hundred mm give
# errors around 1e-5 mm); bounds only decide what is measured exactly, never a result.
PRUNE_SLACK_MM = 1e-3


# ------------------------------------------------------------------ 3-vectors as tuples
def vec3(p: np.ndarray) -> tuple[float, float, float]:
    """A point or direction as the (x, y, z) tuple the kernels take: one compiled form for
    calls from Python and from the batch loops, and no array allocation per call."""
    x, y, z = np.asarray(p, float).reshape(3)
    return float(x), float(y), float(z)


@njit
def _sub(a, b):
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


@njit
def _add(a, b):
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


@njit
def _scale(a, s):
    return (a[0] * s, a[1] * s, a[2] * s)


@njit
def _axpy(p, s, u):
    """p + s*u"""
    return (p[0] + s * u[0], p[1] + s * u[1], p[2] + s * u[2])


@njit
def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


@njit
def _cross(a, b):
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


@njit
def _norm(a):
    return math.sqrt(_dot(a, a))


@njit
def _vec(a):
    return (a[0], a[1], a[2])


@njit
def _project_param(x, a, ab, ab2):
    """Parameter in [0, 1] of the point of segment a + t ab closest to x."""
    if not ab2 > 0.0:
        return 0.0
    t = _dot(_sub(x, a), ab) / ab2
    if t != t:
        return 0.0
    return min(max(t, 0.0), 1.0)


@njit
def _point_segment(x, a, ab, ab2):
    t = _project_param(x, a, ab, ab2)
    return _norm(_sub(x, _axpy(a, t, ab))), t


# ------------------------------------------------------------------ segment / segment
@njit(**_JIT)
def segment_segment_closest(p0, p1, q0, q1):
    """(distance, s, t) between segments p0p1 and q0q1: geometry.segment_segment_closest
    for one pair (interior candidate polished by one alternating projection, and the four
    endpoint candidates)."""
    u = _sub(p1, p0)
    v = _sub(q1, q0)
    w = _sub(q0, p0)
    uu = _dot(u, u)
    vv = _dot(v, v)
    n = _cross(u, v)
    nn = _dot(n, n)
    s_i = 0.0
    t_i = 0.0
    if nn > 0.0:
        s_i = _dot(_cross(w, v), n) / nn
        t_i = _dot(_cross(w, u), n) / nn
        if not (math.isfinite(s_i) and math.isfinite(t_i)):
            s_i = 0.0
            t_i = 0.0
    s_i = min(max(s_i, 0.0), 1.0)
    t_i = min(max(t_i, 0.0), 1.0)
    t_i = _project_param(_axpy(p0, s_i, u), q0, v, vv)
    s_i = _project_param(_axpy(q0, t_i, v), p0, u, uu)
    best = _norm(_sub(_axpy(p0, s_i, u), _axpy(q0, t_i, v)))
    best_s = s_i
    best_t = t_i
    d, t = _point_segment(p0, q0, v, vv)
    if d < best:
        best, best_s, best_t = d, 0.0, t
    d, t = _point_segment(p1, q0, v, vv)
    if d < best:
        best, best_s, best_t = d, 1.0, t
    d, s = _point_segment(q0, p0, u, uu)
    if d < best:
        best, best_s, best_t = d, s, 0.0
    d, s = _point_segment(q1, p0, u, uu)
    if d < best:
        best, best_s, best_t = d, s, 1.0
    return best, best_s, best_t


# ------------------------------------------------------------------ ray / capsule
@njit
def _smaller_root(half_b, disc, c, a, scale):
    root = math.sqrt(disc)
    q = -half_b + root
    if q <= _TANGENT_REL * scale * math.sqrt(max(a, 0.0)):
        return (-half_b - root) / a
    return c / q


@njit
def _ray_sphere(o, d, c, r):
    m = _sub(o, c)
    b = _dot(m, d)
    h = _norm(_axpy(m, -b, d))
    mlen = _norm(m)
    c_ = (mlen - r) * (mlen + r)
    if c_ <= 0.0:
        return 0.0
    if not (h <= r + _TANGENT_REL * (mlen + r) and b < 0.0):
        return math.inf
    disc = max((r - h) * (r + h), 0.0)
    return max(_smaller_root(b, disc, c_, 1.0, mlen + r), 0.0)


@njit(**_JIT)
def ray_capsule_first_hit(o, d, a, b, r):
    """Smallest t >= 0 with dist(o + t d, segment ab) <= r, for a unit direction d
    (geometry.ray_capsule_first_hit for one pair): 0 when o is inside, inf if never."""
    ab = _sub(b, a)
    ab2 = _dot(ab, ab)
    length = math.sqrt(ab2)
    d0, _ = _point_segment(o, a, ab, ab2)
    if d0 <= r:
        return 0.0
    t = min(_ray_sphere(o, d, a, r), _ray_sphere(o, d, b, r))
    if length > 1e-150:
        e = _scale(ab, 1.0 / length)
        m = _sub(o, a)
        m_ax = _dot(m, e)
        d_ax = _dot(d, e)
        m_perp = _axpy(m, -m_ax, e)
        d_perp = _axpy(d, -d_ax, e)
        nvec = _cross(d, e)
        aa = _dot(nvec, nvec)
        bb = _dot(m_perp, d_perp)
        mp = _norm(m_perp)
        cc = (mp - r) * (mp + r)
        if aa > 0.0 and cc > 0.0 and bb < 0.0:
            h = abs(_dot(m, nvec)) / math.sqrt(aa)
            mn = _norm(m)
            if h <= r + _TANGENT_REL * (mn + r):
                disc = aa * max((r - h) * (r + h), 0.0)
                t_cyl = _smaller_root(bb, disc, cc, aa, mn + r)
                proj = m_ax + t_cyl * d_ax
                tol_ax = _TANGENT_REL * (abs(m_ax) + length + r)
                if proj >= -tol_ax and proj <= length + tol_ax and math.isfinite(t_cyl):
                    t = min(t, max(t_cyl, 0.0))
    return t


# ------------------------------------------------------------------ point / triangle
@njit(**_JIT)
def point_triangle_distance(p, a, b, c):
    """Exact distance from p to triangle abc (geometry.point_triangle_closest for one
    pair: the three edges, and the plane projection when it falls inside)."""
    e1 = _sub(b, a)
    e2 = _sub(c, a)
    bc = _sub(c, b)
    ca = _sub(a, c)
    best, _ = _point_segment(p, a, e1, _dot(e1, e1))
    d, _ = _point_segment(p, b, bc, _dot(bc, bc))
    best = min(best, d)
    d, _ = _point_segment(p, c, ca, _dot(ca, ca))
    best = min(best, d)
    n = _cross(e1, e2)
    nn = _dot(n, n)
    if not nn > 0.0:
        return best
    lmax2 = max(max(_dot(e1, e1), _dot(e2, e2)), _dot(bc, bc))
    nlen = math.sqrt(nn)
    err_w = 16.0 * _EPS * lmax2 / nlen
    if not err_w <= 1e-3:
        return best
    lam = _dot(_sub(p, a), n) / nn
    proj = _axpy(p, -lam, n)
    w1 = _dot(_cross(_sub(c, proj), _sub(a, proj)), n) / nn
    w2 = _dot(_cross(_sub(a, proj), _sub(b, proj)), n) / nn
    w0 = _dot(_cross(_sub(b, proj), _sub(c, proj)), n) / nn
    if not (w0 >= 0.0 and w1 >= 0.0 and w2 >= 0.0 and math.isfinite(w1) and math.isfinite(w2)):
        return best
    wsum = w1 + w2
    if wsum > 1.0:
        w1 /= wsum
        w2 /= wsum
    q = _axpy(_axpy(a, w1, e1), w2, e2)
    nh = _scale(n, 1.0 / nlen)
    r = _sub(p, q)
    rn = _dot(r, nh)
    in_plane = _axpy(r, -rn, nh)
    if _norm(in_plane) <= 4.0 * err_w * (math.sqrt(lmax2) + _norm(_sub(p, a))) + 1e-300:
        q = _axpy(p, -rn, nh)
    return min(best, _norm(_sub(p, q)))


# ------------------------------------------------------------------ ray / triangle
@njit(**_JIT)
def ray_triangle_hit(o, d, a, b, c):
    """geometry.ray_triangle_hits for one pair: t >= 0 of the hit o + t d, or nan."""
    e1 = _sub(b, a)
    e2 = _sub(c, a)
    pvec = _cross(d, e2)
    det = _dot(e1, pvec)
    tvec = _sub(o, a)
    qvec = _cross(tvec, e1)
    inv = 1.0 / det
    u = _dot(tvec, pvec) * inv
    v = _dot(d, qvec) * inv
    t = _dot(e2, qvec) * inv
    dd = _dot(d, d)
    e11 = _dot(e1, e1)
    e22 = _dot(e2, e2)
    t_slack = _BARY_EPS * (_norm(tvec) + math.sqrt(e11 + e22)) / math.sqrt(dd)
    # beyond twice the farthest point of the triangle a plane hit is rounding (as geometry)
    t_reach = 2.0 * (_norm(tvec) + math.sqrt(e11) + math.sqrt(e22)) / math.sqrt(dd)
    cand = det != 0.0 and math.isfinite(t) and t >= -t_slack and t <= t_reach
    scale2 = dd * e11 * e22
    well = det * det >= 1e-12 * scale2
    w = 1.0 - u - v
    if cand:
        t = max(t, 0.0)
        if min(min(u, v), w) >= 1e-6 and well:
            return t
        # near an edge or outside: the plane hit counts iff it lies on the triangle
        x = _axpy(o, t, d)
        gap = point_triangle_distance(x, a, b, c)
        size = math.sqrt(e11) + math.sqrt(e22) + _norm(_sub(x, a))
        tol = _HIT_EPS * size
        if well:  # what rounding can move the hit point (geometry._hit_point_rounding)
            tol += 8.0 * _EPS * (math.sqrt(scale2) / abs(det)) * t * math.sqrt(dd)
        if math.isfinite(gap) and gap <= tol:
            return t
    if well:
        return math.nan
    # ill-conditioned: the earliest contact of the ray with an edge
    dl = math.sqrt(dd)
    reach = (_norm(tvec) + math.sqrt(e11) + math.sqrt(e22)) * 2.0 / dl
    far = _axpy(o, reach, d)
    size = math.sqrt(e11) + math.sqrt(e22) + _norm(tvec)
    best_t = math.inf
    for k in range(3):
        if k == 0:
            x0, x1 = a, b
        elif k == 1:
            x0, x1 = b, c
        else:
            x0, x1 = c, a
        gap, s_ray, _ = segment_segment_closest(o, far, x0, x1)
        t_edge = s_ray * reach
        if math.isfinite(gap) and gap <= _HIT_EPS * (size + t_edge * dl):
            best_t = min(best_t, t_edge)
    return best_t if math.isfinite(best_t) else math.nan


# ------------------------------------------------------------------ capsule chains
@njit
def _centre_distance(centre, p0, u, uu):
    t = _project_param(centre, p0, u, uu)
    return _norm(_sub(centre, _axpy(p0, t, u)))


@njit
def _measure_cluster(
    c,
    p0,
    p1,
    u,
    uu,
    half,
    a,
    b,
    mid,
    half_len,
    radius,
    uncertainty,
    cl_start,
    cl_stop,
    k,
    clearance,
    zone,
    near_cap,
    near_s,
    near_t,
):
    for i in range(cl_start[c], cl_stop[c]):
        # every axis point of capsule i lies within half_len[i] of its midpoint: skip the
        # exact test when that bound already shows it cannot improve either minimum
        near = _centre_distance(mid[i], p0, u, uu) - half_len[i] - radius[i] - half - PRUNE_SLACK_MM
        if near > clearance[k] and near - uncertainty[i] > zone[k]:
            continue
        dist, s, t = segment_segment_closest(p0, p1, a[i], b[i])
        surf = dist - radius[i] - half
        if surf < clearance[k]:
            clearance[k] = surf
            near_cap[k] = i
            near_s[k] = s
            near_t[k] = t
        zn = surf - uncertainty[i]
        if zn < zone[k]:
            zone[k] = zn


@njit(**_JIT)
def chain_segment_clearances(
    p0,
    p1,
    half,
    a,
    b,
    mid,
    half_len,
    radius,
    uncertainty,
    cl_start,
    cl_stop,
    cl_centre,
    cl_reach,
    cl_tube_r,
    cl_zone_r,
    cl_structure,
    n_structures,
    clearance,
    zone,
    near_cap,
    near_s,
    near_t,
):
    """Exact clearances of the needle axis p0p1 (radius `half`) to every structure.

    Fills, per structure: clearance to the surface, clearance to the danger zone, and
    for the nearest capsule its index and the closest-point parameters (on the needle,
    on the capsule axis). A cluster is skipped only when a lower bound of both its
    distances is above what is already measured for its structure, so both minima are
    exact. Each structure starts from its most promising cluster, which makes the
    bounds tight early."""
    n_cl = len(cl_start)
    u = _sub(p1, p0)
    uu = _dot(u, u)
    lb_surface = np.empty(n_cl)
    lb_zone = np.empty(n_cl)
    seed = np.full(n_structures, -1, np.int64)
    for c in range(n_cl):
        near = _centre_distance(cl_centre[c], p0, u, uu) - cl_reach[c] - half - PRUNE_SLACK_MM
        lb_surface[c] = near - cl_tube_r[c]
        lb_zone[c] = near - cl_zone_r[c]
        k = cl_structure[c]
        if seed[k] < 0 or lb_surface[c] < lb_surface[seed[k]]:
            seed[k] = c
    clearance[:] = np.inf
    zone[:] = np.inf
    near_cap[:] = -1
    # first each structure's seed cluster, then every cluster its bounds cannot rule out
    for phase in range(2):
        for c in range(n_cl):
            k = cl_structure[c]
            if phase == 0:
                if c != seed[k]:
                    continue
            elif c == seed[k] or (lb_surface[c] > clearance[k] and lb_zone[c] > zone[k]):
                continue
            _measure_cluster(
                c,
                p0,
                p1,
                u,
                uu,
                half,
                a,
                b,
                mid,
                half_len,
                radius,
                uncertainty,
                cl_start,
                cl_stop,
                k,
                clearance,
                zone,
                near_cap,
                near_s,
                near_t,
            )


@njit(**_JIT)
def chain_first_caution(
    entry,
    direction,
    reach_mm,
    half,
    a,
    b,
    grown,
    cl_start,
    cl_stop,
    cl_centre,
    cl_reach,
    cl_grown_r,
    cl_structure,
    first,
):
    """Per structure, the first depth in [0, reach_mm] at which the needle (radius
    `half`) along the unit `direction` enters a capsule grown to `grown` (+inf if not)."""
    first[:] = np.inf
    far = _axpy(entry, reach_mm, direction)
    u = _sub(far, entry)
    uu = _dot(u, u)
    for c in range(len(cl_start)):
        gap = _centre_distance(cl_centre[c], entry, u, uu) - cl_reach[c] - cl_grown_r[c] - half
        if gap - PRUNE_SLACK_MM > 0.0:
            continue
        k = cl_structure[c]
        for i in range(cl_start[c], cl_stop[c]):
            t = ray_capsule_first_hit(entry, direction, a[i], b[i], grown[i] + half)
            if t <= reach_mm and t < first[k]:
                first[k] = t


@njit(**_JIT)
def chain_batch(
    entry,
    direction,
    depth,
    half,
    reach,
    a,
    b,
    mid,
    half_len,
    radius,
    uncertainty,
    grown,
    margin,
    cl_start,
    cl_stop,
    cl_centre,
    cl_reach,
    cl_tube_r,
    cl_zone_r,
    cl_grown_r,
    cl_structure,
    n_structures,
    clearance,
    min_zone,
    min_caution,
    first_depth,
    first_structure,
):
    """chain_segment_clearances and chain_first_caution for N needles; fills the (N,S)
    clearances, the (N,) smallest danger-zone and caution-zone clearances, and the
    first caution depth along each needle's reach with the structure it belongs to."""
    zone = np.empty(n_structures)
    near_cap = np.empty(n_structures, np.int64)
    near_s = np.empty(n_structures)
    near_t = np.empty(n_structures)
    first = np.empty(n_structures)
    for j in range(len(entry)):
        p0 = _vec(entry[j])
        d = _vec(direction[j])
        p1 = _axpy(p0, depth[j], d)
        chain_segment_clearances(
            p0,
            p1,
            half[j],
            a,
            b,
            mid,
            half_len,
            radius,
            uncertainty,
            cl_start,
            cl_stop,
            cl_centre,
            cl_reach,
            cl_tube_r,
            cl_zone_r,
            cl_structure,
            n_structures,
            clearance[j],
            zone,
            near_cap,
            near_s,
            near_t,
        )
        mz = np.inf
        mc = np.inf
        for k in range(n_structures):
            mz = min(mz, zone[k])
            mc = min(mc, zone[k] - margin[k])
        min_zone[j] = mz
        min_caution[j] = mc
        chain_first_caution(
            p0,
            d,
            reach[j],
            half[j],
            a,
            b,
            grown,
            cl_start,
            cl_stop,
            cl_centre,
            cl_reach,
            cl_grown_r,
            cl_structure,
            first,
        )
        best = np.inf
        who = -1
        for k in range(n_structures):
            if first[k] < best:
                best = first[k]
                who = k
        first_depth[j] = best
        first_structure[j] = who


# ------------------------------------------------------------------ triangles along a line
@njit(**_JIT)
def line_crossings(
    start,
    direction,
    length,
    origin,
    shape,
    cell_mm,
    cell_first,
    cell_tris,
    v0,
    v1,
    v2,
):
    """Parameters t in [0, length] where start + t*direction (unit) crosses a triangle,
    with the triangle's index; candidates from the bucket grid (every cell the segment
    passes within a half cell diagonal of, each triangle tested once)."""
    seen = np.zeros(len(v0), np.int64)
    return _line_crossings(
        start, direction, length, origin, shape, cell_mm, cell_first, cell_tris, v0, v1, v2, seen, 1
    )


@njit
def _line_crossings(
    start,
    direction,
    length,
    origin,
    shape,
    cell_mm,
    cell_first,
    cell_tris,
    v0,
    v1,
    v2,
    seen,
    mark,
):
    """line_crossings, with `seen[tri] == mark` for a triangle already tested on this
    line (a new mark per line lets a batch reuse one array)."""
    end = _axpy(start, length, direction)
    lo = np.empty(3, np.int64)
    hi = np.empty(3, np.int64)
    for k in range(3):
        a = (min(start[k], end[k]) - origin[k]) / cell_mm
        b = (max(start[k], end[k]) - origin[k]) / cell_mm
        lo[k] = min(max(math.floor(a), 0), shape[k] - 1)
        hi[k] = min(max(math.floor(b), 0), shape[k] - 1)
    u = _sub(end, start)
    uu = _dot(u, u)
    reach = cell_mm * 0.8661  # just above half the cell diagonal (sqrt(3)/2)
    out_t = np.empty(64)
    out_tri = np.empty(64, np.int64)
    n = 0
    for ix in range(lo[0], hi[0] + 1):
        for iy in range(lo[1], hi[1] + 1):
            for iz in range(lo[2], hi[2] + 1):
                centre = (
                    origin[0] + (ix + 0.5) * cell_mm,
                    origin[1] + (iy + 0.5) * cell_mm,
                    origin[2] + (iz + 0.5) * cell_mm,
                )
                if _centre_distance(centre, start, u, uu) > reach:
                    continue
                cell = (ix * shape[1] + iy) * shape[2] + iz
                for q in range(cell_first[cell], cell_first[cell + 1]):
                    tri = cell_tris[q]
                    if seen[tri] == mark:
                        continue
                    seen[tri] = mark
                    t = ray_triangle_hit(start, direction, v0[tri], v1[tri], v2[tri])
                    if t == t and t <= length:
                        if n == len(out_t):
                            out_t = np.concatenate((out_t, np.empty(n)))
                            out_tri = np.concatenate((out_tri, np.empty(n, np.int64)))
                        out_t[n] = t
                        out_tri[n] = tri
                        n += 1
    return out_t[:n], out_tri[:n]


@njit(**_JIT)
def lines_crossings(
    start,
    direction,
    length,
    origin,
    shape,
    cell_mm,
    cell_first,
    cell_tris,
    v0,
    v1,
    v2,
):
    """line_crossings for N lines (start, direction: (N,3); length: (N,)): the crossings
    of line j are t[first[j]:first[j + 1]] with their triangles tri[...], each exactly
    as line_crossings gives them."""
    seen = np.zeros(len(v0), np.int64)
    first = np.zeros(len(start) + 1, np.int64)
    out_t = np.empty(16 * len(start) + 64)
    out_tri = np.empty(len(out_t), np.int64)
    n = 0
    for j in range(len(start)):
        t, tri = _line_crossings(
            _vec(start[j]),
            _vec(direction[j]),
            length[j],
            origin,
            shape,
            cell_mm,
            cell_first,
            cell_tris,
            v0,
            v1,
            v2,
            seen,
            j + 1,
        )
        while n + len(t) > len(out_t):
            out_t = np.concatenate((out_t, np.empty(len(out_t))))
            out_tri = np.concatenate((out_tri, np.empty(len(out_tri), np.int64)))
        out_t[n : n + len(t)] = t
        out_tri[n : n + len(t)] = tri
        n += len(t)
        first[j + 1] = n
    return out_t[:n], out_tri[:n], first


@njit(**_JIT)
def lines_intervals(t, tri, first, owner, back, length, behind, dup_mm):
    """The inside intervals of every structure along N lines from their crossings (t, tri
    of line j in first[j]:first[j + 1], as lines_crossings gives them; t from the line's
    start, back[j] before its entry): per structure (owner of the triangle) the sorted
    depths, a crossing within dup_mm of the previous one dropped (a shared edge), then
    enter/exit pairs by parity; kept when they reach [0, length[j]] (with behind, also
    those behind the entry). Returns (structure, enter, exit, line_first), each line's
    intervals sorted by (enter, exit), structures in index order among equals - the
    order TissueIndex.intervals gives."""
    n_lines = len(first) - 1
    cap = 16 * n_lines + 16
    out_k = np.empty(cap, np.int64)
    out_a = np.empty(cap)
    out_b = np.empty(cap)
    line_first = np.zeros(n_lines + 1, np.int64)
    n = 0
    for j in range(n_lines):
        lo, hi = first[j], first[j + 1]
        m = hi - lo
        ts = np.empty(m)
        ks = np.empty(m, np.int64)
        for q in range(m):
            ts[q] = t[lo + q] - back[j]
            ks[q] = owner[tri[lo + q]]
        start = n
        for k in np.unique(ks):
            tk = np.sort(ts[ks == k])
            kept = np.empty(len(tk))
            c = 0
            for q in range(len(tk)):
                if q == 0 or tk[q] - tk[q - 1] > dup_mm:
                    kept[c] = tk[q]
                    c += 1
            for i in range(0, c, 2):
                enter = kept[i]
                leave = kept[i + 1] if i + 1 < c else np.inf
                if enter > length[j] or (leave < 0.0 and not behind):
                    continue
                a = enter if behind else max(enter, 0.0)
                b = length[j] if length[j] < leave else leave
                if n == len(out_k):
                    out_k = np.concatenate((out_k, np.empty(n, np.int64)))
                    out_a = np.concatenate((out_a, np.empty(n)))
                    out_b = np.concatenate((out_b, np.empty(n)))
                # insertion into the line's sorted run (stable: after equal keys)
                p = n
                while p > start and (out_a[p - 1] > a or (out_a[p - 1] == a and out_b[p - 1] > b)):
                    out_k[p] = out_k[p - 1]
                    out_a[p] = out_a[p - 1]
                    out_b[p] = out_b[p - 1]
                    p -= 1
                out_k[p] = k
                out_a[p] = a
                out_b[p] = b
                n += 1
        line_first[j + 1] = n
    return out_k[:n], out_a[:n], out_b[:n], line_first


@njit(**_JIT)
def chain_needles(
    entry,
    tip,
    ray,
    half,
    reach,
    a,
    b,
    mid,
    half_len,
    radius,
    uncertainty,
    grown,
    cl_start,
    cl_stop,
    cl_centre,
    cl_reach,
    cl_tube_r,
    cl_zone_r,
    cl_grown_r,
    cl_structure,
    n_structures,
    clearance,
    zone,
    near_cap,
    near_s,
    near_t,
    first,
):
    """chain_segment_clearances (axis entry[j] to tip[j]) and chain_first_caution (along
    the unit ray[j] up to reach[j]) for N needles of radius half[j], into row j of the
    (N,S) outputs: each row exactly what the two kernels give for that needle alone."""
    for j in range(len(entry)):
        chain_segment_clearances(
            _vec(entry[j]),
            _vec(tip[j]),
            half[j],
            a,
            b,
            mid,
            half_len,
            radius,
            uncertainty,
            cl_start,
            cl_stop,
            cl_centre,
            cl_reach,
            cl_tube_r,
            cl_zone_r,
            cl_structure,
            n_structures,
            clearance[j],
            zone[j],
            near_cap[j],
            near_s[j],
            near_t[j],
        )
        chain_first_caution(
            _vec(entry[j]),
            _vec(ray[j]),
            reach[j],
            half[j],
            a,
            b,
            grown,
            cl_start,
            cl_stop,
            cl_centre,
            cl_reach,
            cl_grown_r,
            cl_structure,
            first[j],
        )


# ------------------------------------------------------------------ closest skin point
@njit
def _edot(a, b):
    """a.b summed as numpy's einsum("ij,ij->i") sums three terms here: (x + z) + y
    (engine.compiled_skin_search_agrees checks that on this machine)."""
    return (a[0] * b[0] + a[2] * b[2]) + a[1] * b[1]


@njit
def _enorm(a):
    return math.sqrt(_edot(a, a))


@njit(error_model="numpy")
def _closest_on_triangle(p, a, b, c):
    """(distance, closest point) from p to triangle abc: geometry.point_triangle_closest
    for one pair, operation for operation (the same roundings, so the same bits); the
    distance is NaN when an edge's is (np.argmin's choice is then left to numpy)."""
    e1 = _sub(b, a)
    e2 = _sub(c, a)
    n = _cross(e1, e2)
    nn = _edot(n, n)
    # the three edges a->b, b->c, c->a; the first nearest wins (np.argmin)
    best = np.inf
    best_pt = a
    for k in range(3):
        if k == 0:
            x0, seg = a, e1
        elif k == 1:
            x0, seg = b, _sub(c, b)
        else:
            x0, seg = c, _sub(a, c)
        ab2 = _edot(seg, seg)
        t = 0.0
        if ab2 > 0.0:
            t = _edot(_sub(p, x0), seg) / ab2
            if t != t:
                t = 0.0
        t = min(max(t, 0.0), 1.0)
        q = _axpy(x0, t, seg)
        d = _enorm(_sub(p, q))
        if d != d:
            return d, p
        if k == 0 or d < best:
            best = d
            best_pt = q
    # the face candidate
    bc = _sub(c, b)
    lmax2 = max(max(_edot(e1, e1), _edot(e2, e2)), _edot(bc, bc))
    nlen = math.sqrt(nn)
    err_w = 16.0 * _EPS * lmax2 / nlen
    lam = _edot(_sub(p, a), n) / nn
    proj = (p[0] - lam * n[0], p[1] - lam * n[1], p[2] - lam * n[2])
    w1 = _edot(_cross(_sub(c, proj), _sub(a, proj)), n) / nn
    w2 = _edot(_cross(_sub(a, proj), _sub(b, proj)), n) / nn
    w0 = _edot(_cross(_sub(b, proj), _sub(c, proj)), n) / nn
    if not (
        nn > 0.0
        and err_w <= 1e-3
        and w0 >= 0.0
        and w1 >= 0.0
        and w2 >= 0.0
        and math.isfinite(w1)
        and math.isfinite(w2)
    ):
        return best, best_pt
    wsum = w1 + w2
    if wsum > 1.0:
        shrink = 1.0 / wsum
        w1 = w1 * shrink
        w2 = w2 * shrink
    q = _axpy(_axpy(a, w1, e1), w2, e2)
    nh = (n[0] / nlen, n[1] / nlen, n[2] / nlen)
    r = _sub(p, q)
    rn = _edot(r, nh)
    in_plane = (r[0] - rn * nh[0], r[1] - rn * nh[1], r[2] - rn * nh[2])
    lmax = math.sqrt(lmax2)
    if _enorm(in_plane) <= 4.0 * err_w * (lmax + _enorm(_sub(p, a))) + 1e-300:
        q = (p[0] - rn * nh[0], p[1] - rn * nh[1], p[2] - rn * nh[2])
    d = _enorm(_sub(p, q))
    if d < best:
        return d, q
    return best, best_pt


@njit(**_JIT)
def closest_on_vertex_faces(points, near, vf_faces, vf_start, vf_stop, vertices, faces, out_q, out_face):
    """For each point j: the closest point on the faces around the vertices near[j]
    (those faces in increasing order, the first nearest winning, as np.unique and
    np.argmin order them) into out_q[j], and that face into out_face[j]. Returns, per
    point, whether it was decided here (False: the point or a distance was not a finite
    number, and the choice is left to the caller's numpy)."""
    ok = np.ones(len(points), np.bool_)
    for j in range(len(points)):
        count = 0
        for v in near[j]:
            count += vf_stop[v] - vf_start[v]
        cand = np.empty(count, np.int64)
        m = 0
        for v in near[j]:
            for i in range(vf_start[v], vf_stop[v]):
                cand[m] = vf_faces[i]
                m += 1
        cand = np.sort(cand)
        p = _vec(points[j])
        if not (math.isfinite(p[0]) and math.isfinite(p[1]) and math.isfinite(p[2])):
            ok[j] = False
            continue
        best = np.inf
        best_face = -1
        best_q = p
        for i in range(len(cand)):
            if i > 0 and cand[i] == cand[i - 1]:
                continue
            f = cand[i]
            d, q = _closest_on_triangle(
                p, _vec(vertices[faces[f, 0]]), _vec(vertices[faces[f, 1]]), _vec(vertices[faces[f, 2]])
            )
            if d != d:
                ok[j] = False
                break
            if best_face < 0 or d < best:
                best, best_face, best_q = d, f, q
        out_face[j] = best_face
        out_q[j, 0], out_q[j, 1], out_q[j, 2] = best_q
    return ok


@njit(**_JIT)
def triangle_grid(v0, v1, v2, cell_mm):
    """The bucket grid of the triangles v0 v1 v2 (T,3 each) with cubic cells of cell_mm:
    (origin, box_hi, shape, first, items). The grid starts at `origin` (1 mm below every
    corner), `box_hi` is 1 mm above every corner; each triangle is listed in every cell its
    bounding box touches, and the triangles of cell k (ix * shape[1] + iy) * shape[2] + iz
    are items[first[k]:first[k + 1]], in increasing index order (a counting sort)."""
    n = len(v0)
    lo = np.empty((n, 3))
    hi = np.empty((n, 3))
    origin = np.full(3, np.inf)
    top = np.full(3, -np.inf)
    for i in range(n):
        for k in range(3):
            lo[i, k] = min(min(v0[i, k], v1[i, k]), v2[i, k])
            hi[i, k] = max(max(v0[i, k], v1[i, k]), v2[i, k])
            origin[k] = min(origin[k], lo[i, k])
            top[k] = max(top[k], hi[i, k])
    shape = np.empty(3, np.int64)
    for k in range(3):
        origin[k] -= 1.0
        top[k] += 1.0
        shape[k] = math.ceil((top[k] - origin[k]) / cell_mm) + 1
    c0 = np.empty((n, 3), np.int64)
    c1 = np.empty((n, 3), np.int64)
    for i in range(n):
        for k in range(3):
            c0[i, k] = math.floor((lo[i, k] - origin[k]) / cell_mm)
            c1[i, k] = math.floor((hi[i, k] - origin[k]) / cell_mm)
    n_cells = shape[0] * shape[1] * shape[2]
    first = np.zeros(n_cells + 1, np.int64)
    for i in range(n):
        for ix in range(c0[i, 0], c1[i, 0] + 1):
            for iy in range(c0[i, 1], c1[i, 1] + 1):
                for iz in range(c0[i, 2], c1[i, 2] + 1):
                    first[(ix * shape[1] + iy) * shape[2] + iz + 1] += 1
    for k in range(n_cells):
        first[k + 1] += first[k]
    fill = first[:-1].copy()
    items = np.empty(first[n_cells], np.int64)
    for i in range(n):
        for ix in range(c0[i, 0], c1[i, 0] + 1):
            for iy in range(c0[i, 1], c1[i, 1] + 1):
                for iz in range(c0[i, 2], c1[i, 2] + 1):
                    cell = (ix * shape[1] + iy) * shape[2] + iz
                    items[fill[cell]] = i
                    fill[cell] += 1
    return origin, top, shape, first, items


_POOL: list[ThreadPoolExecutor] = []
THREAD_MIN_ROWS = 256  # below this a batch runs in the calling thread


def in_threads(rows: Callable[[int, int], None], n: int) -> None:
    """Run rows(lo, hi) over [0, n) in one slice per processor (at most 4), side by side:
    the batch kernels release the GIL. Every row is computed as it would be alone."""
    workers = min(os.cpu_count() or 1, 4)
    if n < THREAD_MIN_ROWS or workers < 2:
        rows(0, n)
        return
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(max_workers=workers, thread_name_prefix="thighmap-rows"))
    bounds = np.linspace(0, n, workers + 1).astype(int)
    for done in [_POOL[0].submit(rows, int(lo), int(hi)) for lo, hi in itertools.pairwise(bounds)]:
        done.result()


# The kernels called from Python (the others are compiled into these): what warm_up()
# compiles.
ENTRY_KERNELS = (
    "chain_segment_clearances",
    "chain_first_caution",
    "chain_batch",
    "chain_needles",
    "line_crossings",
    "lines_crossings",
    "lines_intervals",
    "triangle_grid",
    "closest_on_vertex_faces",
)
COMPILING_MESSAGE = "compiling the safety kernels for this machine (first run only, about 10 s)…"


def _use_ahead_of_time(module: ModuleType) -> None:
    """Take the entry kernels from a module compiled ahead of time from this file (callers
    reach them as kernels.NAME, so they follow)."""
    global _AHEAD_OF_TIME
    globals().update({name: getattr(module, name) for name in ENTRY_KERNELS})
    _AHEAD_OF_TIME = module


if _AHEAD_OF_TIME is not None:
    _use_ahead_of_time(_AHEAD_OF_TIME)


def cache_is_cold(names: tuple[str, ...] = ENTRY_KERNELS) -> bool:
    """Whether calling these kernels will compile them rather than load them from numba's
    cache (none cached for this source and this processor, or nowhere to cache them).

    Cheap: reads the small cache index of each kernel; nothing is compiled or loaded."""
    if _AHEAD_OF_TIME is not None:
        return False  # compiled when the bundle was built
    try:
        from numba.core.registry import cpu_target

        magic = cpu_target.target_context.codegen().magic_tuple()
        for name in names:
            cache_file = getattr(getattr(globals()[name], "_cache", None), "_cache_file", None)
            if cache_file is None:  # no cache for this module (bytecode only): always compiles
                return True
            index = cache_file._load_index()
            if not any(key[1] == magic for key in index):
                return True
        return False
    except Exception:  # numba's internals moved: no message rather than a failure
        return False


def first_run_message() -> str | None:
    """What :func:`prepare` will be doing, to say while it does (it takes half a minute),
    or None when the kernels are ready to use at once (compiled ahead of time, or in
    numba's cache where no module can be built ahead of time)."""
    if _AHEAD_OF_TIME is not None:
        return None
    from thighmap.safety import ahead_of_time

    if os.path.isfile(__file__) and ahead_of_time.can_build(source_digest()):
        return ahead_of_time.COMPILING_MESSAGE
    return COMPILING_MESSAGE if cache_is_cold() else None


def prepare() -> str | None:
    """Make the kernels ready before the first check: build the module compiled ahead of
    time into the user's cache folder (once per version of this file; later starts then
    import no numba) and use it from now on; where that cannot be done, compile the
    kernels with numba (or load them from its cache). Returns None, or why no module
    could be built (numba's kernels are used instead)."""
    if _AHEAD_OF_TIME is not None:
        return None
    from thighmap.safety import ahead_of_time

    digest = source_digest() if os.path.isfile(__file__) else None
    problem = None
    if digest is not None and ahead_of_time.can_build(digest):
        problem = ahead_of_time.build_in_cache(digest)
        built = ahead_of_time.load_cached(digest) if problem is None else None
        if built is not None:
            _use_ahead_of_time(built)
            return None
        problem = problem or "the module built does not load"
    warm_up()
    return problem


def warm_up() -> None:
    """Compile (or load from the cache) every kernel for the argument types the engine
    uses, on a one-capsule chain and a one-triangle grid. The desktop program calls this
    in the background at start so that the first check does not wait for the compiler."""
    p0, p1, d = (0.0, 0.0, 0.0), (0.0, 0.0, 10.0), (0.0, 0.0, 1.0)
    a, b = np.array([[5.0, 0.0, 0.0]]), np.array([[5.0, 0.0, 10.0]])
    one, ints = np.ones(1), np.zeros(1, np.int64)
    stop = np.ones(1, np.int64)
    centre, s_out, i_out = np.array([[5.0, 0.0, 5.0]]), np.empty(1), np.empty(1, np.int64)
    args = (a, b, (a + b) / 2.0, one * 5.0, one, one, ints, stop, centre, one * 5.0, one, one)
    chain_segment_clearances(p0, p1, 0.125, *args, ints, 1, s_out, np.empty(1), i_out, np.empty(1), s_out)
    chain_first_caution(
        p0, d, 10.0, 0.125, a, b, one * 3.0, ints, stop, centre, one * 5.0, one * 3.0, ints, s_out
    )
    chain_batch(
        np.zeros((1, 3)), np.array([[0.0, 0.0, 1.0]]), one * 10.0, one * 0.125, one * 10.0,
        *args[:6], one * 3.0, one, *args[6:], one * 3.0, ints, 1,
        np.empty((1, 1)), np.empty(1), np.empty(1), np.empty(1), np.empty(1, np.int64),
    )  # fmt: skip
    tri = np.array([[-1.0, -1.0, 5.0]]), np.array([[1.0, -1.0, 5.0]]), np.array([[0.0, 1.0, 5.0]])
    shape = np.ones(3, np.int64)
    grid = (np.full(3, -10.0), shape, 20.0, np.array([0, 1]), ints, *tri)
    line_crossings(p0, d, 10.0, *grid)
    lines_crossings(np.zeros((1, 3)), np.array([[0.0, 0.0, 1.0]]), one * 10.0, *grid)
    triangle_grid(*tri, 10.0)
    closest_on_vertex_faces(
        np.zeros((1, 3)), np.zeros((1, 1), np.int64), ints, ints, stop, np.concatenate(tri),
        np.array([[0, 1, 2]]), np.empty((1, 3)), np.empty(1, np.int64),
    )  # fmt: skip
    lines_intervals(np.empty(0), ints[:0], np.zeros(2, np.int64), np.zeros(1, np.int32), one, one, True, 1e-6)
    rows = [np.empty((1, 1)) for _ in range(5)]
    chain_needles(
        np.zeros((1, 3)), np.array([[0.0, 0.0, 10.0]]), np.array([[0.0, 0.0, 1.0]]), one * 0.125, one * 10.0,
        *args[:6], one * 3.0, *args[6:], one * 3.0, ints, 1,
        rows[0], rows[1], np.empty((1, 1), np.int64), rows[2], rows[3], rows[4],
    )  # fmt: skip
