"""Danger structures as chains of capsules: exact clearances and first hits, vectorised.

A nerve or vessel of the atlas is the union of capsules joining consecutive samples
of its centreline (shapes.TubeSamples); its danger zone is the same chain with every
capsule grown by the positional uncertainty at that place, and its caution zone is
grown again by the caution margin. The needle is the set of points within gauge/2 of
its axis segment (a cylinder of its gauge with a rounded tip, which contains the
real needle).

Everything is closed form (segment-segment distance, ray-capsule quadratics); the
only approximation is none: pruning uses bounds that provably keep the minimum.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from thighmap.anatomy.atlas import Atlas
from thighmap.safety import geometry

CLUSTER_SIZE = 8
# Allowance for rounding in the pruning distances (coordinates of a few hundred mm give
# errors around 1e-5 mm); bounds only decide what is measured exactly, never a result.
PRUNE_SLACK_MM = 1e-3


@dataclass
class CapsuleChains:
    structure_ids: list[str]
    a: np.ndarray  # (M,3) capsule axis starts
    b: np.ndarray  # (M,3) capsule axis ends
    radius: np.ndarray  # (M,) capsule radius (mm)
    uncertainty: np.ndarray  # (M,) positional uncertainty there (mm)
    structure: np.ndarray  # (M,) index into structure_ids
    caution_margin: np.ndarray  # (S,) per structure
    # clusters of consecutive capsules of one structure, for pruning
    cluster_start: np.ndarray  # (C,)
    cluster_stop: np.ndarray  # (C,)
    cluster_centre: np.ndarray  # (C,3)
    cluster_reach: np.ndarray  # (C,) max distance from centre to any capsule axis point
    cluster_radius: np.ndarray  # (C,) largest grown radius (r + u + margin) in the cluster
    cluster_structure: np.ndarray  # (C,)
    cluster_tube_radius: np.ndarray  # (C,) largest tube radius r in the cluster
    cluster_zone_radius: np.ndarray  # (C,) largest zone radius r + u in the cluster

    @classmethod
    def from_atlas(cls, atlas: Atlas, exclude: Iterable[str] = ()) -> CapsuleChains:
        """The danger structures of the atlas (less `exclude`) as capsule chains."""
        ids, a, b, r, u, s, margins = [], [], [], [], [], [], []
        skip = set(exclude)
        tubes = [st for st in atlas.danger_structures() if st.id not in skip]
        if not tubes:
            a.append(np.empty((0, 3)))
            b.append(np.empty((0, 3)))
            r.append(np.empty(0))
            u.append(np.empty(0))
            s.append(np.empty(0, np.int64))
        for k, st in enumerate(tubes):
            assert st.safety is not None
            tube = atlas.tube(st.id)
            n = len(tube.centres_mm) - 1
            seg = np.linalg.norm(np.diff(tube.centres_mm, axis=0), axis=1)
            arc = np.concatenate([[0.0], np.cumsum(seg)])
            ids.append(st.id)
            a.append(tube.capsule_starts_mm)
            b.append(tube.capsule_ends_mm)
            r.append(tube.capsule_radii_mm)
            # the uncertainty is taken as the larger of its values at the two capsule ends
            s_ends = arc / arc[-1]
            unc_ends = st.safety.uncertainty_at(s_ends, atlas.fitted)
            u.append(np.maximum(unc_ends[:-1], unc_ends[1:]))
            s.append(np.full(n, k))
            margins.append(st.safety.caution_margin_mm)
        chains = cls(
            structure_ids=ids,
            a=np.vstack(a),
            b=np.vstack(b),
            radius=np.concatenate(r),
            uncertainty=np.concatenate(u),
            structure=np.concatenate(s).astype(np.int64),
            caution_margin=np.array(margins, float),
            cluster_start=np.empty(0, np.int64),
            cluster_stop=np.empty(0, np.int64),
            cluster_centre=np.empty((0, 3)),
            cluster_reach=np.empty(0),
            cluster_radius=np.empty(0),
            cluster_structure=np.empty(0, np.int64),
            cluster_tube_radius=np.empty(0),
            cluster_zone_radius=np.empty(0),
        )
        chains._build_clusters()
        return chains

    def _build_clusters(self) -> None:
        if not self.structure_ids:
            return
        starts, stops = [], []
        for k in range(len(self.structure_ids)):
            idx = np.flatnonzero(self.structure == k)
            for i in range(idx[0], idx[-1] + 1, CLUSTER_SIZE):
                starts.append(i)
                stops.append(min(i + CLUSTER_SIZE, idx[-1] + 1))
        self.cluster_start = np.array(starts, np.int64)
        self.cluster_stop = np.array(stops, np.int64)
        grown = self.radius + self.uncertainty + self.caution_margin[self.structure]
        centres, reach, rad, struct = [], [], [], []
        for i0, i1 in zip(starts, stops, strict=True):
            pts = np.vstack([self.a[i0:i1], self.b[i0:i1]])
            c = (pts.min(axis=0) + pts.max(axis=0)) / 2
            centres.append(c)
            reach.append(float(np.max(np.linalg.norm(pts - c, axis=1))))
            rad.append(float(grown[i0:i1].max()))
            struct.append(int(self.structure[i0]))
        self.cluster_centre = np.array(centres)
        self.cluster_reach = np.array(reach)
        self.cluster_radius = np.array(rad)
        self.cluster_structure = np.array(struct, np.int64)
        self.cluster_tube_radius = np.maximum.reduceat(self.radius, self.cluster_start)
        self.cluster_zone_radius = np.maximum.reduceat(self.radius + self.uncertainty, self.cluster_start)

    @property
    def n_structures(self) -> int:
        return len(self.structure_ids)

    # ------------------------------------------------------------------ single needle
    def _cluster_bounds(
        self, d_c: np.ndarray, half: np.ndarray | float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Bounds from the needle's distances d_c to the cluster centres.

        Every capsule axis point of a cluster lies within its reach of the centre, so the
        axis distance to any of its capsules is d_c +- reach. Returns (lower_surface,
        upper_surface, lower_zone, upper_zone): lower bounds of the clearance to every
        capsule's surface (zone), and upper bounds of the smallest of them in the cluster.
        """
        half = np.asarray(half, float)
        near = d_c - self.cluster_reach - half - PRUNE_SLACK_MM
        far = d_c + self.cluster_reach - half + PRUNE_SLACK_MM
        return (
            near - self.cluster_tube_radius,
            far - self.cluster_tube_radius,
            near - self.cluster_zone_radius,
            far - self.cluster_zone_radius,
        )

    def _expand(self, clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Capsule indices of the given clusters, and for each the position in `clusters`."""
        counts = self.cluster_stop[clusters] - self.cluster_start[clusters]
        offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        owner = np.repeat(np.arange(len(clusters)), counts)
        return np.repeat(self.cluster_start[clusters], counts) + offs, owner

    def _clusters_for_segment(self, p0: np.ndarray, p1: np.ndarray, half: float) -> np.ndarray:
        """Capsule indices that may hold, for each structure, the nearest surface or the
        nearest danger zone to the segment (the bounds keep both exact minima)."""
        d_c = _point_segment_distance_matrix(p0[None, :], p1[None, :], self.cluster_centre)[0]
        lo_s, up_s, lo_z, up_z = self._cluster_bounds(d_c, half)
        best_s = np.full(self.n_structures, np.inf)
        np.minimum.at(best_s, self.cluster_structure, up_s)
        best_z = np.full(self.n_structures, np.inf)
        np.minimum.at(best_z, self.cluster_structure, up_z)
        keep = (lo_s <= best_s[self.cluster_structure]) | (lo_z <= best_z[self.cluster_structure])
        return self._expand(np.flatnonzero(keep))[0]

    def needle_clearances(self, p0: np.ndarray, p1: np.ndarray, gauge_mm: float) -> dict[str, np.ndarray]:
        """Exact per-structure results for one needle.

        Returns arrays over structures: clearance (to the surface), zone clearance (to
        the danger zone), caution clearance (to the caution zone), and for the nearest
        capsule of each structure the parameter on the needle and the closest points.
        """
        half = gauge_mm / 2.0
        cap = self._clusters_for_segment(p0, p1, half)
        m = len(cap)
        d_axis, s, t = geometry.segment_segment_closest(
            np.broadcast_to(p0, (m, 3)), np.broadcast_to(p1, (m, 3)), self.a[cap], self.b[cap]
        )
        struct = self.structure[cap]
        surface = d_axis - self.radius[cap] - half
        zone = surface - self.uncertainty[cap]
        caution = zone - self.caution_margin[struct]
        S = self.n_structures
        clearance = np.full(S, np.inf)
        np.minimum.at(clearance, struct, surface)
        zone_min = np.full(S, np.inf)
        np.minimum.at(zone_min, struct, zone)
        caution_min = np.full(S, np.inf)
        np.minimum.at(caution_min, struct, caution)
        # index of the nearest capsule of each structure
        order = np.lexsort((surface, struct))
        first_of = np.searchsorted(struct[order], np.arange(S))
        i = order[np.minimum(first_of, m - 1)]
        on_needle = p0 + s[i, None] * (p1 - p0)
        ci = cap[i]
        on_axis = self.a[ci] + t[i, None] * (self.b[ci] - self.a[ci])
        vec = on_needle - on_axis
        norm = np.linalg.norm(vec, axis=1, keepdims=True)
        unit = np.divide(vec, norm, out=np.zeros_like(vec), where=norm > 1e-12)
        return {
            "clearance": clearance,
            "zone": zone_min,
            "caution": caution_min,
            "s": s[i],
            "point_on_structure": on_axis + unit * self.radius[ci, None],
            "point_on_needle": on_needle,
        }

    def first_caution_hit(
        self, entry: np.ndarray, direction: np.ndarray, gauge_mm: float, reach_mm: float = 200.0
    ) -> np.ndarray:
        """Per structure, the depth along the ray (up to reach_mm) at which the needle
        first enters the caution zone (0 if the entry already is, inf if not by reach)."""
        half = gauge_mm / 2.0
        far = entry + direction * reach_mm
        d_c = _point_segment_distance_matrix(entry[None, :], far[None, :], self.cluster_centre)[0]
        kept = np.flatnonzero(d_c - self.cluster_reach - self.cluster_radius - half <= 0.0)
        per = np.full(self.n_structures, np.inf)
        if len(kept) == 0:
            return per
        counts = self.cluster_stop[kept] - self.cluster_start[kept]
        offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        cap = np.repeat(self.cluster_start[kept], counts) + offs
        m = len(cap)
        grown = self.radius[cap] + self.uncertainty[cap] + self.caution_margin[self.structure[cap]] + half
        t = geometry.ray_capsule_first_hit(
            np.broadcast_to(entry, (m, 3)),
            np.broadcast_to(direction, (m, 3)),
            self.a[cap],
            self.b[cap],
            grown,
        )
        t = np.where(t <= reach_mm, t, np.inf)
        np.minimum.at(per, self.structure[cap], t)
        return per

    # ------------------------------------------------------------------ many needles
    def batch(
        self,
        entry: np.ndarray,
        direction: np.ndarray,
        depth_mm: np.ndarray,
        gauge_mm: np.ndarray,
        reach_mm: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Exact results for N needles with pruning.

        Returns per needle: `clearance` (N,S) exact where it matters, +inf where a bound
        proves the structure is farther than the nearest one and outside its caution
        zone (never nearer than it is); `nearest` (N,) index of the structure with the
        smallest clearance and `nearest_clearance` (N,) that clearance, exact;
        `min_caution` (N,) the smallest clearance to any caution zone, exact; `min_zone`
        (N,) the smallest danger-zone clearance (its sign is exact);
        `first_caution_depth` (N,) first depth along the ray (up to reach_mm) at which a
        caution zone is entered (inf if not before reach_mm), exact, and
        `first_caution_structure` (N,) whose zone that is (-1 if none).
        """
        entry = np.asarray(entry, float)
        direction = np.asarray(direction, float)
        direction = direction / np.linalg.norm(direction, axis=1, keepdims=True)
        depth = np.asarray(depth_mm, float)
        half = np.asarray(gauge_mm, float) / 2.0
        reach = depth if reach_mm is None else np.asarray(reach_mm, float)
        n = len(entry)
        tip = entry + direction * depth[:, None]
        far = entry + direction * reach[:, None]
        S = self.n_structures

        margin_c = self.caution_margin[self.cluster_structure][None, :]
        clearance = np.full((n, S), np.inf)
        zone = np.full((n, S), np.inf)
        caution = np.full((n, S), np.inf)
        first = np.full((n, S), np.inf)

        def measure(pairs_n: np.ndarray, pairs_c: np.ndarray) -> None:
            """Exact clearances of the needles pairs_n to the capsules of clusters pairs_c."""
            cap, owner = self._expand(pairs_c)
            rep_n = pairs_n[owner]
            d_axis, _, _ = geometry.segment_segment_closest(
                entry[rep_n], tip[rep_n], self.a[cap], self.b[cap]
            )
            surf = d_axis - self.radius[cap] - half[rep_n]
            zn = surf - self.uncertainty[cap]
            flat = rep_n * S + self.structure[cap]
            np.minimum.at(clearance.ravel(), flat, surf)
            np.minimum.at(zone.ravel(), flat, zn)
            np.minimum.at(caution.ravel(), flat, zn - self.caution_margin[self.structure[cap]])

        # needle segment: first, for each needle, the cluster most promising for the
        # nearest surface and the one for the nearest caution zone; their exact values
        # bound the minima, so every other cluster that may still beat them is measured
        d_needle = _point_segment_distance_matrix(entry, tip, self.cluster_centre)  # (N,C)
        lo_s, _, lo_z, _ = self._cluster_bounds(d_needle, half[:, None])
        lo_c = lo_z - margin_c
        rows = np.arange(n)
        first_s = np.argmin(lo_s, axis=1)
        first_c = np.argmin(lo_c, axis=1)
        measure(rows, first_s)
        other = first_c != first_s
        measure(rows[other], first_c[other])
        bound_s = clearance.min(axis=1, keepdims=True)
        bound_c = np.maximum(caution.min(axis=1, keepdims=True), 0.0)
        keep_segment = (lo_s <= bound_s) | (lo_c <= bound_c)
        keep_segment[rows, first_s] = False
        keep_segment[rows, first_c] = False
        measure(*np.nonzero(keep_segment))
        # reach segment (entry to entry + reach): clusters whose caution zone it may enter
        if np.array_equal(reach, depth):
            keep_ray = lo_c <= 0.0
        else:
            d_reach = _point_segment_distance_matrix(entry, far, self.cluster_centre)
            keep_ray = self._cluster_bounds(d_reach, half[:, None])[2] - margin_c <= 0.0

        pairs_n, pairs_c = np.nonzero(keep_ray)
        if len(pairs_n):
            cap, owner = self._expand(pairs_c)
            rep_n = pairs_n[owner]
            grown = self.radius[cap] + self.uncertainty[cap] + self.caution_margin[self.structure[cap]]
            t = geometry.ray_capsule_first_hit(
                entry[rep_n], direction[rep_n], self.a[cap], self.b[cap], grown + half[rep_n]
            )
            t = np.where(t <= reach[rep_n], t, np.inf)
            np.minimum.at(first.ravel(), rep_n * S + self.structure[cap], t)
        nearest = np.argmin(clearance, axis=1)
        limiting = np.argmin(first, axis=1)
        return {
            "clearance": clearance,
            "min_zone": zone.min(axis=1),
            "min_caution": caution.min(axis=1),
            "nearest": nearest,
            "nearest_clearance": clearance[rows, nearest],
            "first_caution_depth": first[rows, limiting],
            "first_caution_structure": np.where(np.isfinite(first[rows, limiting]), limiting, -1),
        }


def _point_segment_distance_matrix(p0: np.ndarray, p1: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(N,C) distances from points c (C,3) to segments p0p1 (N,3), for pruning only.

    Dot products are expanded into matrix products (no (N,C,3) temporaries); the rounding
    that adds is far below PRUNE_SLACK_MM, which every bound built on these allows for."""
    d = p1 - p0
    dd = np.einsum("ij,ij->i", d, d)[:, None]
    wd = d @ c.T - np.einsum("ij,ij->i", p0, d)[:, None]  # (c - p0).d
    ww = (c * c).sum(axis=1)[None, :] - 2.0 * (p0 @ c.T) + np.einsum("ij,ij->i", p0, p0)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(dd > 0, np.clip(wd / dd, 0.0, 1.0), 0.0)
    return np.sqrt(np.maximum(ww - 2.0 * t * wd + t * t * dd, 0.0))
