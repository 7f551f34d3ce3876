"""Danger structures as chains of capsules: exact clearances and first hits.

A nerve or vessel of the atlas is the union of capsules joining consecutive samples
of its centreline (shapes.TubeSamples); a flat band (the sciatic nerve) is the union of
several such chains side by side across its width, whose capsules are just thick
enough to contain the band: they reach at most `overreach_mm` beyond it, so a
clearance is exact for a round tube and at most that much too small for a band (for a
needle inside a band, the depth it reports may be up to
TubeSamples.max_inside_shortfall_mm too small; such a needle is in danger either
way). Its danger zone is the same chains with every capsule grown by the positional
uncertainty at that place, and its caution zone is grown again by the caution margin
(grown capsules contain the band grown likewise, and reach no further beyond it than
the capsules beyond the band). The needle is the set of points within gauge/2 of
its axis segment (a cylinder of its gauge with a rounded tip, which contains the
real needle).

Everything is closed form (segment-segment distance, ray-capsule quadratics), run by
the compiled loops of kernels.py; nothing is sampled, and the pruning of far clusters
of capsules uses bounds that provably keep every minimum.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from thighmap.anatomy.atlas import Atlas

CLUSTER_SIZE = 8


@dataclass
class CapsuleChains:
    structure_ids: list[str]
    a: np.ndarray  # (M,3) capsule axis starts
    b: np.ndarray  # (M,3) capsule axis ends
    radius: np.ndarray  # (M,) capsule radius (mm)
    uncertainty: np.ndarray  # (M,) positional uncertainty there (mm)
    structure: np.ndarray  # (M,) index into structure_ids
    caution_margin: np.ndarray  # (S,) per structure
    # (S,) how far the structure's capsules may reach beyond its drawn surface, at most:
    # 0 up to the radius steps for a round tube, a little more for a band's parallel chains
    overreach_mm: np.ndarray
    # (S,) for a needle inside the structure, how much less than its true depth there the
    # clearance may say, at most: 0 for a round tube (TubeSamples.max_inside_shortfall_mm)
    inside_shortfall_mm: np.ndarray
    chain: np.ndarray  # (M,) the chain of consecutive capsules each capsule belongs to
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
    def from_atlas(cls, atlas: Atlas, exclude: Iterable[str] = (), role: str = "danger") -> CapsuleChains:
        """The danger structures of the atlas (less `exclude`) as capsule chains; with
        role="caution", its caution structures instead."""
        ids, a, b, r, u, s, margins = [], [], [], [], [], [], []
        runs: list[np.ndarray] = []
        overreach: list[float] = []
        shortfall: list[float] = []
        n_runs = 0
        skip = set(exclude)
        of_role = atlas.caution_structures() if role == "caution" else atlas.danger_structures()
        tubes = [st for st in of_role if st.id not in skip]
        if not tubes:
            a.append(np.empty((0, 3)))
            b.append(np.empty((0, 3)))
            r.append(np.empty(0))
            u.append(np.empty(0))
            s.append(np.empty(0, np.int64))
            runs.append(np.empty(0, np.int64))
        for k, st in enumerate(tubes):
            assert st.safety is not None
            tube = atlas.tube(st.id)
            seg = np.linalg.norm(np.diff(tube.centres_mm, axis=0), axis=1)
            arc = np.concatenate([[0.0], np.cumsum(seg)])
            ids.append(st.id)
            a.append(tube.capsule_starts_mm)
            b.append(tube.capsule_ends_mm)
            r.append(tube.capsule_radii_mm)
            # the uncertainty is taken as the larger of its values at the two capsule ends
            s_ends = arc / arc[-1]
            unc_ends = st.safety.uncertainty_at(s_ends, atlas.fitted)
            i = tube.capsule_samples
            u.append(np.maximum(unc_ends[i], unc_ends[i + 1]))
            s.append(np.full(len(i), k))
            runs.append(tube.capsule_chain + n_runs)
            n_runs += tube.n_chains
            overreach.append(tube.max_overreach_mm)
            shortfall.append(tube.max_inside_shortfall_mm)
            margins.append(st.safety.caution_margin_mm)
        chains = cls(
            structure_ids=ids,
            a=np.vstack(a),
            b=np.vstack(b),
            radius=np.concatenate(r),
            uncertainty=np.concatenate(u),
            structure=np.concatenate(s).astype(np.int64),
            caution_margin=np.array(margins, float),
            overreach_mm=np.array(overreach, float),
            inside_shortfall_mm=np.array(shortfall, float),
            chain=np.concatenate(runs).astype(np.int64),
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
        self.mid = (self.a + self.b) / 2.0  # capsule axis midpoints, for a per-capsule bound
        self.half_len = np.linalg.norm(self.b - self.a, axis=1) / 2.0 * (1.0 + 1e-12)
        # per capsule, the radius of its caution zone (r + uncertainty + margin)
        self.grown = self.radius + self.uncertainty + self.caution_margin[self.structure]
        if not self.structure_ids:
            return
        starts, stops = [], []
        # clusters never straddle two chains (a band's chains lie side by side)
        bounds = np.flatnonzero(np.diff(self.chain)) + 1
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(self.chain)], strict=True):
            for i in range(int(lo), int(hi), CLUSTER_SIZE):
                starts.append(i)
                stops.append(min(i + CLUSTER_SIZE, int(hi)))
        self.cluster_start = np.array(starts, np.int64)
        self.cluster_stop = np.array(stops, np.int64)
        grown = self.grown
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

    # ------------------------------------------------------------------ kernel arguments
    def _capsule_args(self) -> tuple[np.ndarray, ...]:
        return (self.a, self.b, self.mid, self.half_len, self.radius, self.uncertainty)

    def _cluster_args(self) -> tuple[np.ndarray, ...]:
        return (self.cluster_start, self.cluster_stop, self.cluster_centre, self.cluster_reach)

    # ------------------------------------------------------------------ single needle
    def needle_clearances(self, p0: np.ndarray, p1: np.ndarray, gauge_mm: float) -> dict[str, np.ndarray]:
        """Exact per-structure results for one needle.

        Returns arrays over structures: clearance (to the surface), zone clearance (to
        the danger zone), caution clearance (to the caution zone), and for the nearest
        capsule of each structure the parameter on the needle and the closest points.
        """
        from thighmap.safety import kernels  # numba: loaded at the first check

        S = self.n_structures
        clearance, zone = np.empty(S), np.empty(S)
        near_cap, near_s, near_t = np.empty(S, np.int64), np.empty(S), np.empty(S)
        p0 = np.ascontiguousarray(p0, float)
        p1 = np.ascontiguousarray(p1, float)
        kernels.chain_segment_clearances(
            kernels.vec3(p0),
            kernels.vec3(p1),
            gauge_mm / 2.0,
            *self._capsule_args(),
            *self._cluster_args(),
            self.cluster_tube_radius,
            self.cluster_zone_radius,
            self.cluster_structure,
            S,
            clearance,
            zone,
            near_cap,
            near_s,
            near_t,
        )
        return self.clearance_result(p0, p1, clearance, zone, near_cap, near_s, near_t)

    def clearance_result(
        self,
        p0: np.ndarray,
        p1: np.ndarray,
        clearance: np.ndarray,
        zone: np.ndarray,
        near_cap: np.ndarray,
        near_s: np.ndarray,
        near_t: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """needle_clearances' result from the kernel's per-structure outputs: (S,) arrays
        for one needle p0p1, or (N,S) arrays for N needles (p0, p1: (N,3)), element by
        element the same numbers."""
        p0 = p0[..., None, :]
        on_needle = p0 + near_s[..., None] * (p1[..., None, :] - p0)
        on_axis = self.a[near_cap] + near_t[..., None] * (self.b[near_cap] - self.a[near_cap])
        vec = on_needle - on_axis
        norm = np.linalg.norm(vec, axis=-1, keepdims=True)
        unit = np.divide(vec, norm, out=np.zeros_like(vec), where=norm > 1e-12)
        return {
            "clearance": clearance,
            "zone": zone,
            "caution": zone - self.caution_margin,
            "s": near_s,
            "point_on_structure": on_axis + unit * self.radius[near_cap][..., None],
            "point_on_needle": on_needle,
        }

    def first_caution_hit(
        self, entry: np.ndarray, direction: np.ndarray, gauge_mm: float, reach_mm: float = 200.0
    ) -> np.ndarray:
        """Per structure, the depth along the ray (up to reach_mm) at which the needle
        first enters the caution zone (0 if the entry already is, inf if not by reach)."""
        from thighmap.safety import kernels  # numba: loaded at the first check

        first = np.empty(self.n_structures)
        direction = np.asarray(direction, float)
        kernels.chain_first_caution(
            kernels.vec3(entry),
            kernels.vec3(direction / np.linalg.norm(direction)),
            float(reach_mm),
            gauge_mm / 2.0,
            self.a,
            self.b,
            self.grown,
            *self._cluster_args(),
            self.cluster_radius,
            self.cluster_structure,
            first,
        )
        return first

    # ------------------------------------------------------------------ many needles
    def needles_geometry(
        self,
        entry: np.ndarray,
        tip: np.ndarray,
        ray: np.ndarray,
        gauge_mm: np.ndarray,
        reach_mm: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """For N needles at once, row by row what needle_clearances(entry, tip, gauge)
        computes in the kernel (clearance, zone, near_cap, near_s, near_t) and what
        first_caution_hit(entry, ray, gauge, reach) returns (first); ray must already be
        a unit vector. The rows are split across threads for large N."""
        from thighmap.safety import kernels  # numba: loaded at the first check

        n, S = len(entry), self.n_structures
        out = {
            "clearance": np.empty((n, S)),
            "zone": np.empty((n, S)),
            "near_cap": np.empty((n, S), np.int64),
            "near_s": np.empty((n, S)),
            "near_t": np.empty((n, S)),
            "first": np.empty((n, S)),
        }
        args = [_kernel_array(x) for x in (entry, tip, ray)]
        half = _kernel_array(np.asarray(gauge_mm, float) / 2.0)
        reach = _kernel_array(np.asarray(reach_mm, float))

        def rows(lo: int, hi: int) -> None:
            kernels.chain_needles(
                *(x[lo:hi] for x in args),
                half[lo:hi],
                reach[lo:hi],
                *self._capsule_args(),
                self.grown,
                *self._cluster_args(),
                self.cluster_tube_radius,
                self.cluster_zone_radius,
                self.cluster_radius,
                self.cluster_structure,
                S,
                *(out[k][lo:hi] for k in ("clearance", "zone", "near_cap", "near_s", "near_t", "first")),
            )

        kernels.in_threads(rows, n)
        return out

    def batch(
        self,
        entry: np.ndarray,
        direction: np.ndarray,
        depth_mm: np.ndarray,
        gauge_mm: np.ndarray,
        reach_mm: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Exact results for N needles.

        Returns per needle: `clearance` (N,S) to every structure's surface; `nearest`
        (N,) index of the structure with the smallest clearance and `nearest_clearance`
        (N,) that clearance; `min_caution` (N,) the smallest clearance to any caution
        zone; `min_zone` (N,) the smallest danger-zone clearance; `first_caution_depth`
        (N,) first depth along the ray (up to reach_mm) at which a caution zone is
        entered (inf if not before reach_mm), and `first_caution_structure` (N,) whose
        zone that is (-1 if none).
        """
        from thighmap.safety import kernels  # numba: loaded at the first check

        entry = _kernel_array(np.asarray(entry, float).reshape(-1, 3))
        n = len(entry)
        direction = np.asarray(direction, float).reshape(-1, 3)
        direction = _kernel_array(direction / np.linalg.norm(direction, axis=1, keepdims=True))
        depth = _kernel_array(np.broadcast_to(np.asarray(depth_mm, float), (n,)))
        half = _kernel_array(np.broadcast_to(np.asarray(gauge_mm, float), (n,))) / 2.0
        reach = (
            depth if reach_mm is None else _kernel_array(np.broadcast_to(np.asarray(reach_mm, float), (n,)))
        )
        S = self.n_structures
        clearance = np.empty((n, S))
        min_zone, min_caution, first_depth = np.empty(n), np.empty(n), np.empty(n)
        first_structure = np.empty(n, np.int64)
        kernels.chain_batch(
            entry,
            direction,
            depth,
            half,
            reach,
            *self._capsule_args(),
            self.grown,
            self.caution_margin,
            *self._cluster_args(),
            self.cluster_tube_radius,
            self.cluster_zone_radius,
            self.cluster_radius,
            self.cluster_structure,
            S,
            clearance,
            min_zone,
            min_caution,
            first_depth,
            first_structure,
        )
        nearest = np.argmin(clearance, axis=1)
        return {
            "clearance": clearance,
            "min_zone": min_zone,
            "min_caution": min_caution,
            "nearest": nearest,
            "nearest_clearance": clearance[np.arange(n), nearest],
            "first_caution_depth": first_depth,
            "first_caution_structure": first_structure,
        }


def _kernel_array(x: np.ndarray) -> np.ndarray:
    """A C-ordered, writeable float64 array: the one array type the kernels are compiled
    for (a read-only view, from broadcasting say, would make numba compile again)."""
    return np.require(x, np.float64, ("C", "W"))
