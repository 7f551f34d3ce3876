"""Exact distance, containment and ray queries against a closed triangle mesh.

:class:`TriangleMeshDistance` wraps a closed, outward-oriented triangle mesh (a nerve or vessel
sheath, a muscle, ...) and answers needle queries with the exact kernels of
:mod:`thighmap.safety.geometry`.  To avoid testing every triangle, each triangle gets a bounding
sphere (centroid, radius = farthest vertex); a query first computes, vectorised over all
spheres, a lower bound of its distance to every triangle, evaluates the exact kernel on the few
triangles with the smallest bounds to get an upper bound ``U``, and then runs the exact kernel
only on the triangles whose lower bound is ``<= U``.  Culling never changes a result: a triangle
is skipped only when it provably cannot beat the best exact value.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from thighmap.safety.geometry import (
    point_triangle_closest,
    ray_swept_triangle_first_hit,
    ray_triangle_hits,
    segment_triangle_distance,
)

__all__ = ["PenetrationResult", "TriangleMeshDistance"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
_ExactFn = Callable[[NDArray[np.intp]], tuple[FloatArray, FloatArray]]

_SEED_COUNT = 8  # triangles evaluated exactly to obtain the first upper bound
_WINDING_CHUNK = 200_000  # point-triangle pairs per winding-number chunk (~1.6 MB per temporary)


@dataclass(frozen=True)
class PenetrationResult:
    """Deepest penetration of a segment into a mesh.

    ``depth`` is the largest point-to-surface distance found over the inside part of the segment
    (0 if no part is inside); it is attained at parameter ``s`` (in ``[0, 1]``) and is therefore a
    guaranteed lower bound of the true maximum.  ``upper_bound`` is a certified upper bound of the
    true maximum (``upper_bound - depth <= tol`` unless the evaluation budget ran out).
    ``inside`` tells whether any part of the segment is inside the mesh.
    """

    inside: bool
    depth: float
    s: float
    upper_bound: float


def _row_dist(points: FloatArray, p: FloatArray) -> FloatArray:
    diff = points - p
    return np.sqrt(np.einsum("ij,ij->i", diff, diff))


class TriangleMeshDistance:
    """Exact queries against a closed, outward-oriented triangle mesh.

    Parameters
    ----------
    vertices:
        ``(V, 3)`` float array (mm).
    faces:
        ``(F, 3)`` integer array of vertex indices, counter-clockwise seen from outside.
    depth_tol:
        Target gap (mm) between the reported penetration depth and its certified upper bound.
    depth_max_evals:
        Budget of point-to-surface evaluations for one penetration-depth maximisation.
    """

    def __init__(
        self,
        vertices: ArrayLike,
        faces: ArrayLike,
        *,
        depth_tol: float = 1e-6,
        depth_max_evals: int = 2000,
    ) -> None:
        verts = np.asarray(vertices, dtype=np.float64)
        tris = np.asarray(faces, dtype=np.int64)
        if verts.ndim != 2 or verts.shape[1] != 3:
            raise ValueError(f"vertices must have shape (V, 3), got {verts.shape}")
        if tris.ndim != 2 or tris.shape[1] != 3 or tris.shape[0] == 0:
            raise ValueError(f"faces must have shape (F, 3) with F > 0, got {tris.shape}")
        if tris.min() < 0 or tris.max() >= verts.shape[0]:
            raise ValueError("faces reference vertices that do not exist")
        self.vertices = verts
        self.faces = tris
        self.v0 = np.ascontiguousarray(verts[tris[:, 0]])
        self.v1 = np.ascontiguousarray(verts[tris[:, 1]])
        self.v2 = np.ascontiguousarray(verts[tris[:, 2]])
        self.centres = (self.v0 + self.v1 + self.v2) / 3.0
        rad = np.maximum.reduce(
            [np.linalg.norm(v - self.centres, axis=1) for v in (self.v0, self.v1, self.v2)]
        )
        lo = verts.min(axis=0)
        hi = verts.max(axis=0)
        self.scale = float(np.linalg.norm(hi - lo)) + 1e-300
        self._mid = 0.5 * (lo + hi)
        # tiny inflation so that rounding can never make a bounding sphere too small
        self.radii = rad * (1.0 + 1e-12) + 1e-12 * self.scale
        self._components = tuple(
            tuple(np.ascontiguousarray(v[:, k])[None, :] for k in range(3))
            for v in (self.v0, self.v1, self.v2)
        )
        self.depth_tol = float(depth_tol)
        self.depth_max_evals = int(depth_max_evals)

    @property
    def n_faces(self) -> int:
        return int(self.faces.shape[0])

    # ------------------------------------------------------------------ containment

    def winding_numbers(self, points: ArrayLike) -> FloatArray:
        """Generalised winding number of each point (≈1 inside, ≈0 outside).

        Sum over triangles of the signed solid angle (Van Oosterom–Strackee formula) / 4π,
        computed in chunks.  For a closed mesh it is an integer up to rounding except within a
        few ulps of the surface.
        """
        pts = np.atleast_2d(np.asarray(points, dtype=np.float64))
        out = np.empty(pts.shape[0])
        chunk = max(1, _WINDING_CHUNK // self.n_faces)
        (ax, ay, az), (bx, by, bz), (cx, cy, cz) = self._components
        for i in range(0, pts.shape[0], chunk):
            p = pts[i : i + chunk]
            px, py, pz = (p[:, k : k + 1] for k in range(3))
            x1, y1, z1 = ax - px, ay - py, az - pz
            x2, y2, z2 = bx - px, by - py, bz - pz
            x3, y3, z3 = cx - px, cy - py, cz - pz
            la = np.sqrt(x1 * x1 + y1 * y1 + z1 * z1)
            lb = np.sqrt(x2 * x2 + y2 * y2 + z2 * z2)
            lc = np.sqrt(x3 * x3 + y3 * y3 + z3 * z3)
            det = x1 * (y2 * z3 - z2 * y3) + y1 * (z2 * x3 - x2 * z3) + z1 * (x2 * y3 - y2 * x3)
            den = (
                la * lb * lc
                + (x1 * x2 + y1 * y2 + z1 * z2) * lc
                + (x2 * x3 + y2 * y3 + z2 * z3) * la
                + (x3 * x1 + y3 * y1 + z3 * z1) * lb
            )
            out[i : i + chunk] = np.arctan2(det, den).sum(axis=1) / (2.0 * np.pi)
        return out

    def contains(self, points: ArrayLike) -> BoolArray:
        """Inside test for ``(K, 3)`` points via the generalised winding number (> 1/2).

        Robust everywhere except for points within rounding distance of the surface, whose
        classification is arbitrary (their distance to the surface is then ~0 anyway).  The
        absolute value is used, so an inward-oriented mesh gives the same answer.
        """
        pts = np.atleast_2d(np.asarray(points, dtype=np.float64))
        return np.abs(self.winding_numbers(pts)) > 0.5

    # ------------------------------------------------------------------ distances

    def _culled(self, lower: FloatArray, exact: _ExactFn) -> tuple[float, int, float]:
        """Minimum of ``exact`` over triangles, skipping those whose ``lower`` bound is too big.

        ``exact(idx)`` returns (values, params) for the triangle indices ``idx``.  Returns
        (best value, best triangle index, its parameter).
        """
        k = min(_SEED_COUNT, lower.shape[0])
        seed = np.argpartition(lower, k - 1)[:k]
        vals, params = exact(seed)
        upper = float(vals.min())
        cand = np.flatnonzero(lower <= upper)
        vals, params = exact(cand)
        j = int(np.argmin(vals))
        return float(vals[j]), int(cand[j]), float(params[j])

    def point_distance(self, point: ArrayLike) -> tuple[float, int]:
        """Exact unsigned distance from one point to the surface, and the nearest triangle."""
        p = np.asarray(point, dtype=np.float64).reshape(3)
        lower = _row_dist(self.centres, p) - self.radii

        def exact(idx: NDArray[np.intp]) -> tuple[FloatArray, FloatArray]:
            d, _ = point_triangle_closest(p, self.v0[idx], self.v1[idx], self.v2[idx])
            return d, np.zeros_like(d)

        d, j, _ = self._culled(lower, exact)
        return d, j

    def point_distances(self, points: ArrayLike) -> FloatArray:
        """Exact unsigned distances from ``(K, 3)`` points to the surface."""
        pts = np.atleast_2d(np.asarray(points, dtype=np.float64))
        return np.array([self.point_distance(p)[0] for p in pts])

    def segment_distance(self, p0: ArrayLike, p1: ArrayLike) -> tuple[float, float]:
        """Exact unsigned distance between segment ``p0p1`` and the surface, and its ``s``."""
        a = np.asarray(p0, dtype=np.float64).reshape(3)
        b = np.asarray(p1, dtype=np.float64).reshape(3)
        ab = b - a
        ab2 = float(ab @ ab)
        rel = self.centres - a
        t = np.clip(rel @ ab / ab2, 0.0, 1.0) if ab2 > 0.0 else np.zeros(self.n_faces)
        lower = _row_dist(rel, t[:, None] * ab) - self.radii

        def exact(idx: NDArray[np.intp]) -> tuple[FloatArray, FloatArray]:
            return segment_triangle_distance(a, b, self.v0[idx], self.v1[idx], self.v2[idx])

        d, _, s = self._culled(lower, exact)
        return d, s

    # ------------------------------------------------------------------ rays

    def _ray_candidates(self, o: FloatArray, d: FloatArray, pad: float) -> NDArray[np.intp]:
        """Triangles whose bounding sphere grown by ``pad`` meets the ray (``d`` unit)."""
        rel = self.centres - o
        along = rel @ d
        perp2 = np.einsum("ij,ij->i", rel, rel) - along * along
        rr = self.radii + pad
        # generous: |perp| <= rr and the sphere not entirely behind the origin
        keep = (perp2 <= rr * rr * (1.0 + 1e-9) + 1e-18 * self.scale**2) & (along >= -rr)
        return np.flatnonzero(keep)

    def _raw_hits(self, o: FloatArray, d: FloatArray) -> FloatArray:
        idx = self._ray_candidates(o, d, 0.0)
        if idx.size == 0:
            return np.empty(0)
        t = ray_triangle_hits(o, d, self.v0[idx], self.v1[idx], self.v2[idx])
        return np.sort(t[np.isfinite(t)])

    def _crossings_with_status(self, origin: ArrayLike, direction: ArrayLike) -> tuple[FloatArray, BoolArray]:
        """Surface crossings along a ray and the inside/outside status between them.

        Returns ``(ts, status)`` with ``ts`` sorted (length k, t in mm along the normalised
        direction) and ``status`` of length k + 1: ``status[i]`` is True when the ray is inside
        the mesh between ``ts[i-1]`` and ``ts[i]`` (``status[0]`` just before the first crossing,
        ``status[k]`` after the last one, always False for a closed mesh).

        Raw Möller–Trumbore hits closer than ~1e-9 of the mesh size are merged into one event
        (a ray through a shared edge or vertex hits several triangles); an event is kept as a
        crossing only if the winding-number status differs on its two sides (so a ray touching
        a ridge from outside, which hits two triangles at the same t, produces no crossing).
        """
        o = np.asarray(origin, dtype=np.float64).reshape(3)
        d = np.asarray(direction, dtype=np.float64).reshape(3)
        dlen = float(np.linalg.norm(d))
        if dlen == 0.0:
            raise ValueError("direction must be non-zero")
        d = d / dlen
        hits = self._raw_hits(o, d)
        if hits.size == 0:
            return np.empty(0), np.array([bool(self.contains(o[None])[0])])
        merge_tol = 1e-9 * (self.scale + float(np.linalg.norm(o - self._mid)))
        starts = np.concatenate([[0], np.flatnonzero(np.diff(hits) > merge_tol) + 1])
        events = hits[starts]  # earliest t of each merged group
        # probe points strictly between events
        behind = events[0] <= merge_tol
        first_probe = -1e-6 * self.scale if behind else 0.5 * events[0]
        probes_t = np.concatenate([[first_probe], 0.5 * (events[:-1] + events[1:])])
        status_between = self.contains(o + probes_t[:, None] * d)
        status = np.concatenate([status_between, [False]])
        keep = status[:-1] != status[1:]
        kept_t = events[keep]
        kept_status = np.concatenate([[status[0]], status[1:][keep]])
        return kept_t, kept_status

    def ray_crossings(self, origin: ArrayLike, direction: ArrayLike) -> FloatArray:
        """Sorted ``t >= 0`` of all surface crossings of the ray ``origin + t·direction``.

        Exact hits from :func:`ray_triangle_hits` on the culled triangles; hits where the ray
        passes through a shared edge or vertex are merged, and touching events that do not change
        inside/outside are dropped, so ``len(result) % 2`` equals "origin is inside" for an
        origin off the surface.  ``t`` is in units of ``direction`` (mm for a unit direction).
        """
        d = np.asarray(direction, dtype=np.float64).reshape(3)
        ts, _ = self._crossings_with_status(origin, d)
        return ts / float(np.linalg.norm(d))

    def first_hit_within(self, origin: ArrayLike, direction: ArrayLike, radius: float) -> float:
        """Smallest ``t >= 0`` at which the ray comes within ``radius`` of the surface or inside.

        0 if the origin is inside the mesh or within ``radius`` of the surface, ``+inf`` if
        never.  Exact: minimum of :func:`ray_swept_triangle_first_hit` (and, redundantly, of
        :func:`ray_triangle_hits`) over the triangles whose bounding sphere grown by ``radius``
        is reached no later than the best hit found so far.  ``t`` is in units of ``direction``.
        """
        if radius < 0.0 or not np.isfinite(radius):
            raise ValueError("radius must be finite and >= 0")
        o = np.asarray(origin, dtype=np.float64).reshape(3)
        dv = np.asarray(direction, dtype=np.float64).reshape(3)
        dlen = float(np.linalg.norm(dv))
        if dlen == 0.0:
            raise ValueError("direction must be non-zero")
        d = dv / dlen
        if bool(self.contains(o[None])[0]):
            return 0.0
        # lower bound of the hit parameter of every triangle: first hit of its grown sphere
        rel = o - self.centres
        b = rel @ d
        rlen = np.sqrt(np.einsum("ij,ij->i", rel, rel))
        rr = self.radii + radius
        h2 = np.maximum(rlen * rlen - b * b, 0.0)
        disc = np.maximum(rr * rr - h2, 0.0)
        lower = np.where(h2 <= rr * rr * (1.0 + 1e-9), -b - np.sqrt(disc), np.inf)
        lower = np.where(rlen <= rr, 0.0, np.where(b < 0.0, lower, np.inf))
        lower = np.maximum(lower - 1e-9 * self.scale, 0.0)  # keep the bound conservative
        order = np.argsort(lower)
        order = order[np.isfinite(lower[order])]
        best = np.inf
        chunk = 64
        for i in range(0, order.size, chunk):
            idx = order[i : i + chunk]
            if lower[idx[0]] > best:
                break
            t = ray_swept_triangle_first_hit(o, d, self.v0[idx], self.v1[idx], self.v2[idx], radius)
            th = ray_triangle_hits(o, d, self.v0[idx], self.v1[idx], self.v2[idx])
            th = np.where(np.isnan(th), np.inf, th)
            best = min(best, float(t.min()), float(th.min()))
        return best / dlen

    # ------------------------------------------------------------------ needles

    def penetration(self, p0: ArrayLike, p1: ArrayLike) -> PenetrationResult:
        """Deepest penetration of segment ``p0p1`` into the mesh (see :class:`PenetrationResult`).

        The inside intervals of the segment come from the exact crossings
        (:meth:`_crossings_with_status`).  On them, the point-to-surface distance
        ``f(s) = min_j g_j(s)`` (``g_j`` = exact distance to triangle ``j``) is maximised by
        branch and bound: on ``[a, b]`` the maximum of ``f`` is at most
        ``(f(a) + f(b) + |b - a|) / 2`` (``f`` is 1-Lipschitz) and at most
        ``max(g_j(a), g_j(b))`` for any ``j`` (each ``g_j`` is convex along a line); the
        interval with the largest bound is bisected until the bound is within ``depth_tol`` of
        the best value found or ``depth_max_evals`` evaluations are spent.
        """
        dist, _ = self.segment_distance(p0, p1)
        return self._penetration(p0, p1, dist)

    def _penetration(self, p0: ArrayLike, p1: ArrayLike, dist: float) -> PenetrationResult:
        """:meth:`penetration` given the exact unsigned segment distance ``dist``."""
        a = np.asarray(p0, dtype=np.float64).reshape(3)
        b = np.asarray(p1, dtype=np.float64).reshape(3)
        u = b - a
        length = float(np.linalg.norm(u))
        if dist > 1e-9 * self.scale:
            # the segment does not touch the surface: it is entirely inside or entirely outside,
            # and any of its points (all farther than dist from the surface) classifies it
            if not bool(self.contains(a[None])[0]):
                return PenetrationResult(False, 0.0, 0.0, 0.0)
            if length == 0.0:
                return PenetrationResult(True, dist, 0.0, dist)
            depth, t_best, upper = self._maximise_depth(a, u / length, [(0.0, length)])
            return PenetrationResult(True, depth, t_best / length, upper)
        if length == 0.0:
            if bool(self.contains(a[None])[0]):
                dist, _ = self.point_distance(a)
                return PenetrationResult(True, dist, 0.0, dist)
            return PenetrationResult(False, 0.0, 0.0, 0.0)
        d = u / length
        ts, status = self._crossings_with_status(a, d)
        inner = ts[(ts > 0.0) & (ts < length)]
        bounds = np.concatenate([[0.0], inner, [length]])
        mids = 0.5 * (bounds[:-1] + bounds[1:])
        inside = status[np.searchsorted(ts, mids, side="right")]
        if not inside.any():
            return PenetrationResult(False, 0.0, 0.0, 0.0)
        intervals = [(float(bounds[i]), float(bounds[i + 1])) for i in np.flatnonzero(inside)]
        depth, t_best, upper = self._maximise_depth(a, d, intervals)
        return PenetrationResult(True, depth, t_best / length, upper)

    def _maximise_depth(
        self, a: FloatArray, d: FloatArray, intervals: list[tuple[float, float]]
    ) -> tuple[float, float, float]:
        cache: dict[float, tuple[float, int]] = {}
        evals = 0

        def f(t: float) -> tuple[float, int]:
            nonlocal evals
            if t not in cache:
                cache[t] = self.point_distance(a + t * d)
                evals += 1
            return cache[t]

        def tri_dist(j: int, ts: list[float]) -> FloatArray:
            pts = a[None] + np.asarray(ts)[:, None] * d[None]
            dist, _ = point_triangle_closest(pts, self.v0[j], self.v1[j], self.v2[j])
            return dist

        def bound(lo: float, hi: float) -> float:
            flo, jlo = f(lo)
            fhi, jhi = f(hi)
            lips = 0.5 * (flo + fhi + (hi - lo))
            g = tri_dist(jlo, [hi])[0], tri_dist(jhi, [lo])[0]
            return min(lips, max(flo, float(g[0])), max(fhi, float(g[1])))

        best, t_best = -1.0, 0.0
        heap: list[tuple[float, float, float]] = []
        for lo, hi in intervals:
            for t in (lo, hi):
                val = f(t)[0]
                if val > best:
                    best, t_best = val, t
            heapq.heappush(heap, (-bound(lo, hi), lo, hi))
        tol = self.depth_tol
        while heap:
            neg_ub, lo, hi = heap[0]
            if -neg_ub <= best + tol or evals >= self.depth_max_evals or hi - lo <= 1e-12:
                break
            heapq.heappop(heap)
            mid = 0.5 * (lo + hi)
            val = f(mid)[0]
            if val > best:
                best, t_best = val, mid
            heapq.heappush(heap, (-bound(lo, mid), lo, mid))
            heapq.heappush(heap, (-bound(mid, hi), mid, hi))
        upper = max(best, -heap[0][0]) if heap else best
        return best, t_best, upper

    def segment_signed_distance(self, p0: ArrayLike, p1: ArrayLike) -> tuple[float, float]:
        """Signed distance between needle segment ``p0p1`` and the mesh, and its parameter ``s``.

        * Outside (no part of the segment inside the mesh): ``(d, s)`` with ``d >= 0`` the exact
          unsigned segment-to-surface distance (minimum of :func:`segment_triangle_distance`
          over the culled triangles; 0 when the segment only touches the surface) and ``s`` the
          parameter of a closest point.
        * Inside (an endpoint inside, or the segment crosses the surface): ``(-depth, s)``.  The
          sign is exact (exact crossings plus winding-number status).  ``depth`` is the maximum
          over the inside part of the segment of the exact point-to-surface distance, found by a
          certified branch and bound (see :meth:`penetration`): it is attained at ``s``, so it
          never overstates the true maximum, and it is within ``depth_tol`` (default 1e-6 mm) of
          it unless ``depth_max_evals`` ran out.  For a segment that crosses the surface but
          barely enters, ``depth`` may be 0.0 (the result is then ``-0.0``).
        """
        dist, s = self.segment_distance(p0, p1)
        pen = self._penetration(p0, p1, dist)
        if pen.inside:
            return -pen.depth, pen.s
        return dist, s

    def segments_signed_distance(self, p0: ArrayLike, p1: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Batched :meth:`segment_signed_distance` for ``(N, 3)`` endpoint arrays."""
        a = np.atleast_2d(np.asarray(p0, dtype=np.float64))
        b = np.atleast_2d(np.asarray(p1, dtype=np.float64))
        if a.shape != b.shape or a.shape[1] != 3:
            raise ValueError("p0 and p1 must both have shape (N, 3)")
        out = np.array([self.segment_signed_distance(x, y) for x, y in zip(a, b, strict=True)])
        if out.size == 0:
            return np.empty(0), np.empty(0)
        return out[:, 0], out[:, 1]
