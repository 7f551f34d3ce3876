"""All danger and caution structures of a model behind one interface: tubes checked as capsule chains
(safety/tubes.py, analytically) and mesh-only structures checked exactly against their
triangles (safety/mesh_distance.py), e.g. surfaces imported from another atlas.

A mesh-only structure has no centreline, so its positional uncertainty is taken as the
largest value of its profile (the cautious choice). Both paths use the same sign
convention: the clearance is the signed distance from the needle's axis to the surface
minus half the gauge, negative (the penetration depth) when the needle enters it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from thighmap.anatomy.atlas import Atlas
from thighmap.safety.geometry import point_triangle_closest
from thighmap.safety.mesh_distance import TriangleMeshDistance
from thighmap.safety.tubes import CapsuleChains


class MeshDangers:
    """Mesh-only danger structures, each an exact TriangleMeshDistance."""

    def __init__(self, atlas: Atlas, ids: Iterable[str]) -> None:
        self.structure_ids = list(ids)
        self.meshes: list[TriangleMeshDistance] = []
        unc, margins = [], []
        for sid in self.structure_ids:
            st = atlas.structures[sid]
            if st.safety is None:
                raise ValueError(f"structure {sid!r} has no safety parameters (uncertainty, caution margin)")
            mesh = atlas.mesh(sid)
            self.meshes.append(TriangleMeshDistance(mesh.vertices, mesh.faces))
            unc.append(float(np.max(st.safety.uncertainty_at(np.linspace(0.0, 1.0, 201), atlas.fitted))))
            margins.append(st.safety.caution_margin_mm)
        self.uncertainty = np.array(unc, float)
        self.caution_margin = np.array(margins, float)

    def needle_clearances(self, p0: np.ndarray, p1: np.ndarray, gauge_mm: float) -> dict[str, np.ndarray]:
        half = gauge_mm / 2.0
        n = len(self.meshes)
        clearance, s = np.empty(n), np.empty(n)
        on_needle, on_structure = np.empty((n, 3)), np.empty((n, 3))
        for k, mesh in enumerate(self.meshes):
            d, s[k] = mesh.segment_signed_distance(p0, p1)
            clearance[k] = d - half
            on_needle[k] = p0 + s[k] * (p1 - p0)
            _, j = mesh.point_distance(on_needle[k])
            _, closest = point_triangle_closest(
                on_needle[k][None], mesh.v0[j][None], mesh.v1[j][None], mesh.v2[j][None]
            )
            on_structure[k] = closest[0]
        zone = clearance - self.uncertainty
        return {
            "clearance": clearance,
            "zone": zone,
            "caution": zone - self.caution_margin,
            "s": s,
            "point_on_structure": on_structure,
            "point_on_needle": on_needle,
        }

    def first_caution_hit(
        self, entry: np.ndarray, direction: np.ndarray, gauge_mm: float, reach_mm: float = 200.0
    ) -> np.ndarray:
        grown = self.uncertainty + self.caution_margin + gauge_mm / 2.0
        t = np.array(
            [m.first_hit_within(entry, direction, float(r)) for m, r in zip(self.meshes, grown, strict=True)]
        )
        return np.where(t <= reach_mm, t, np.inf)


class _Group:
    """The structures of one role: tubes first (capsule chains), then mesh-only ones."""

    def __init__(self, chains: CapsuleChains, meshes: MeshDangers | None) -> None:
        self.chains = chains
        self.meshes = meshes
        self.structure_ids = list(self.chains.structure_ids) + (
            self.meshes.structure_ids if self.meshes else []
        )
        self.caution_margin = np.concatenate(
            [self.chains.caution_margin, self.meshes.caution_margin if self.meshes else []]
        )

    def needle_clearances(self, p0: np.ndarray, p1: np.ndarray, gauge_mm: float) -> dict[str, np.ndarray]:
        res = self.chains.needle_clearances(p0, p1, gauge_mm) if self.chains.structure_ids else None
        if self.meshes is None:
            assert res is not None
            return res
        more = self.meshes.needle_clearances(p0, p1, gauge_mm)
        if res is None:
            return more
        return {key: np.concatenate([res[key], more[key]]) for key in res}

    def first_caution_hit(
        self, entry: np.ndarray, direction: np.ndarray, gauge_mm: float, reach_mm: float = 200.0
    ) -> np.ndarray:
        parts = []
        if self.chains.structure_ids:
            parts.append(self.chains.first_caution_hit(entry, direction, gauge_mm, reach_mm))
        if self.meshes is not None:
            parts.append(self.meshes.first_caution_hit(entry, direction, gauge_mm, reach_mm))
        return np.concatenate(parts)

    def batch(
        self,
        entry: np.ndarray,
        direction: np.ndarray,
        depth_mm: np.ndarray,
        gauge_mm: np.ndarray,
        reach_mm: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        if self.meshes is None:
            return _in_parallel(self.chains.batch, entry, direction, depth_mm, gauge_mm, reach_mm)
        entry = np.asarray(entry, float)
        direction = np.asarray(direction, float)
        direction = direction / np.linalg.norm(direction, axis=1, keepdims=True)
        depth = np.asarray(depth_mm, float)
        gauge = np.broadcast_to(np.asarray(gauge_mm, float), depth.shape)
        reach = depth if reach_mm is None else np.asarray(reach_mm, float)
        n, s_tube = len(entry), len(self.chains.structure_ids)
        m = len(self.meshes.structure_ids)
        clearance, zone, caution = np.empty((n, m)), np.empty((n, m)), np.empty((n, m))
        first = np.empty((n, m))
        for i in range(n):
            tip = entry[i] + direction[i] * depth[i]
            res = self.meshes.needle_clearances(entry[i], tip, float(gauge[i]))
            clearance[i], zone[i], caution[i] = res["clearance"], res["zone"], res["caution"]
            first[i] = self.meshes.first_caution_hit(entry[i], direction[i], float(gauge[i]), float(reach[i]))
        if s_tube:
            tubes = self.chains.batch(entry, direction, depth, gauge, reach)
            clearance = np.hstack([tubes["clearance"], clearance])
            min_zone = np.minimum(tubes["min_zone"], zone.min(axis=1))
            min_caution = np.minimum(tubes["min_caution"], caution.min(axis=1))
            tube_first, tube_first_k = tubes["first_caution_depth"], tubes["first_caution_structure"]
        else:
            min_zone, min_caution = zone.min(axis=1), caution.min(axis=1)
            tube_first, tube_first_k = np.full(n, np.inf), np.full(n, -1)
        rows = np.arange(n)
        k_mesh = np.argmin(first, axis=1)
        mesh_first = first[rows, k_mesh]
        use_mesh = mesh_first < tube_first
        first_depth = np.where(use_mesh, mesh_first, tube_first)
        first_k = np.where(use_mesh, s_tube + k_mesh, tube_first_k)
        nearest = np.argmin(clearance, axis=1)
        return {
            "clearance": clearance,
            "min_zone": min_zone,
            "min_caution": min_caution,
            "nearest": nearest,
            "nearest_clearance": clearance[rows, nearest],
            "first_caution_depth": first_depth,
            "first_caution_structure": np.where(np.isfinite(first_depth), first_k, -1),
        }


class DangerSet:
    """The structures a needle is measured against, in one order: the danger structures
    (tubes first, then mesh-only ones), then the caution structures (likewise). Both are
    measured with the same exact geometry; what differs is what their zones mean: a
    danger structure's zone is a danger and its margin a caution, while a caution
    structure's zone and margin are a caution only (`is_caution`)."""

    def __init__(self, atlas: Atlas, mesh_only: Iterable[str] = ()) -> None:
        danger = [st.id for st in atlas.danger_structures()]
        caution = [st.id for st in atlas.caution_structures()]
        forced = set(mesh_only)
        unknown = forced - set(danger) - set(caution)
        if unknown:
            raise ValueError(f"not danger or caution structures of this atlas: {', '.join(sorted(unknown))}")
        as_mesh = [sid for sid in danger + caution if sid in forced or not atlas.structures[sid].is_tube]
        # the danger structures' chains and meshes, as before caution structures existed
        self.chains = CapsuleChains.from_atlas(atlas, exclude=as_mesh)
        danger_mesh = [sid for sid in danger if sid in as_mesh]
        self.meshes = MeshDangers(atlas, danger_mesh) if danger_mesh else None
        self._danger = _Group(self.chains, self.meshes)
        self.caution_chains: CapsuleChains | None = None
        self.caution_meshes: MeshDangers | None = None
        self._caution: _Group | None = None
        if caution:
            self.caution_chains = CapsuleChains.from_atlas(atlas, exclude=as_mesh, role="caution")
            caution_mesh = [sid for sid in caution if sid in as_mesh]
            self.caution_meshes = MeshDangers(atlas, caution_mesh) if caution_mesh else None
            self._caution = _Group(self.caution_chains, self.caution_meshes)
        self.danger_ids = self._danger.structure_ids
        self.caution_ids = self._caution.structure_ids if self._caution else []
        self.structure_ids = self.danger_ids + self.caution_ids
        self.n_danger = len(self.danger_ids)
        self.is_caution = np.arange(len(self.structure_ids)) >= self.n_danger
        self.caution_margin = np.concatenate(
            [self._danger.caution_margin, self._caution.caution_margin if self._caution else []]
        )

    @property
    def mesh_structure_ids(self) -> list[str]:
        """The structures checked against their triangles (one needle at a time in a batch)."""
        return (self.meshes.structure_ids if self.meshes else []) + (
            self.caution_meshes.structure_ids if self.caution_meshes else []
        )

    def needle_clearances(self, p0: np.ndarray, p1: np.ndarray, gauge_mm: float) -> dict[str, np.ndarray]:
        res = self._danger.needle_clearances(p0, p1, gauge_mm)
        if self._caution is None:
            return res
        more = self._caution.needle_clearances(p0, p1, gauge_mm)
        return {key: np.concatenate([res[key], more[key]]) for key in res}

    def first_caution_hit(
        self, entry: np.ndarray, direction: np.ndarray, gauge_mm: float, reach_mm: float = 200.0
    ) -> np.ndarray:
        """Per structure, the depth along the ray at which the needle first comes within
        its caution margin (for a caution structure as for a danger one)."""
        first = self._danger.first_caution_hit(entry, direction, gauge_mm, reach_mm)
        if self._caution is None:
            return first
        return np.concatenate([first, self._caution.first_caution_hit(entry, direction, gauge_mm, reach_mm)])

    def batch(
        self,
        entry: np.ndarray,
        direction: np.ndarray,
        depth_mm: np.ndarray,
        gauge_mm: np.ndarray,
        reach_mm: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """CapsuleChains.batch over every danger and caution structure (mesh-only ones one
        needle at a time: exact, but far slower than the tubes). `min_zone`, `nearest` and
        `nearest_clearance` are of the danger structures only; `min_caution` is to the
        nearest caution zone of any structure (a danger structure's margin or a caution
        structure's), and `first_caution_depth` / `first_caution_structure` likewise
        (an index into structure_ids); `nearest_caution` (-1: none) and
        `nearest_caution_clearance` are of the caution structures (absent when the atlas
        has none)."""
        out = self._danger.batch(entry, direction, depth_mm, gauge_mm, reach_mm)
        if self._caution is None:
            return out  # as before caution structures existed
        more = self._caution.batch(entry, direction, depth_mm, gauge_mm, reach_mm)
        # ties go to the danger structure, as argmin over structure_ids does for one needle
        use_caution = more["first_caution_depth"] < out["first_caution_depth"]
        first_depth = np.where(use_caution, more["first_caution_depth"], out["first_caution_depth"])
        return {
            "clearance": np.hstack([out["clearance"], more["clearance"]]),
            "min_zone": out["min_zone"],
            "min_caution": np.minimum(out["min_caution"], more["min_caution"]),
            "nearest": out["nearest"],
            "nearest_clearance": out["nearest_clearance"],
            "nearest_caution": self.n_danger + more["nearest"],
            "nearest_caution_clearance": more["nearest_clearance"],
            "first_caution_depth": first_depth,
            "first_caution_structure": np.where(
                use_caution, self.n_danger + more["first_caution_structure"], out["first_caution_structure"]
            ),
        }


# Large batches are split across threads: numpy releases the GIL in the array kernels,
# so on a multi-core machine the halves run side by side (about 1.5-2x on 2 cores).
PARALLEL_MIN_NEEDLES = 4096
_POOL: ThreadPoolExecutor | None = None


def _in_parallel(
    batch: Callable[..., dict[str, np.ndarray]],
    entry: np.ndarray,
    direction: np.ndarray,
    depth_mm: np.ndarray,
    gauge_mm: np.ndarray,
    reach_mm: np.ndarray | None,
) -> dict[str, np.ndarray]:
    global _POOL
    n = len(entry)
    workers = min(os.cpu_count() or 1, 4)
    if n < PARALLEL_MIN_NEEDLES or workers < 2:
        return batch(entry, direction, depth_mm, gauge_mm, reach_mm)
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="thighmap-batch")
    depth = np.broadcast_to(np.asarray(depth_mm, float), (n,))
    gauge = np.broadcast_to(np.asarray(gauge_mm, float), (n,))
    reach = None if reach_mm is None else np.broadcast_to(np.asarray(reach_mm, float), (n,))
    bounds = np.linspace(0, n, workers + 1).astype(int)
    parts = list(
        _POOL.map(
            lambda ab: batch(
                entry[ab[0] : ab[1]],
                direction[ab[0] : ab[1]],
                depth[ab[0] : ab[1]],
                gauge[ab[0] : ab[1]],
                None if reach is None else reach[ab[0] : ab[1]],
            ),
            itertools.pairwise(bounds),
        )
    )
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
