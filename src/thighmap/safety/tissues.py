"""Which structures a straight needle passes through, exactly, against the triangles.

All surfaces go into one bucket grid (triangles listed in every cell their bounding box
touches). A query takes the cells the line passes, intersects the line exactly with
their triangles (Möller–Trumbore, compiled in kernels.py), and turns each structure's
sorted crossings into inside intervals by parity, starting from a point far outside
the body.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from thighmap.anatomy.meshgen import SurfaceMesh
from thighmap.safety import kernels

CELL_MM = 10.0
DUPLICATE_T_MM = 1e-6  # a line through a shared edge is reported by both triangles


@dataclass(frozen=True)
class Interval:
    structure: str
    enter_mm: float
    exit_mm: float


class TissueIndex:
    def __init__(self, meshes: dict[str, SurfaceMesh]) -> None:
        self.ids = list(meshes)
        tris = []
        owner = []
        for k, sid in enumerate(self.ids):
            m = meshes[sid]
            tris.append(m.vertices[m.faces])
            owner.append(np.full(len(m.faces), k, np.int32))
        self.tri = np.concatenate(tris)  # (T,3,3)
        self.owner = np.concatenate(owner)
        lo = self.tri.min(axis=1)
        hi = self.tri.max(axis=1)
        self.origin = lo.min(axis=0) - 1.0
        self.box_hi = hi.max(axis=0) + 1.0
        self.shape = np.ceil((hi.max(axis=0) + 1.0 - self.origin) / CELL_MM).astype(int) + 1
        c0 = np.floor((lo - self.origin) / CELL_MM).astype(np.int64)
        c1 = np.floor((hi - self.origin) / CELL_MM).astype(np.int64)
        ext = c1 - c0 + 1
        counts = ext.prod(axis=1)
        tri_idx = np.repeat(np.arange(len(self.tri)), counts)
        local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        e = ext[tri_idx]
        ix = c0[tri_idx, 0] + local // (e[:, 1] * e[:, 2])
        iy = c0[tri_idx, 1] + (local // e[:, 2]) % e[:, 1]
        iz = c0[tri_idx, 2] + local % e[:, 2]
        cell = (ix * self.shape[1] + iy) * self.shape[2] + iz
        order = np.argsort(cell, kind="stable")
        # compressed rows: the triangles of cell k are cell_tris[cell_first[k]:cell_first[k + 1]]
        self.cell_tris = tri_idx[order]
        self.cell_first = np.searchsorted(cell[order], np.arange(int(self.shape.prod()) + 1))
        self.v0 = np.ascontiguousarray(self.tri[:, 0])
        self.v1 = np.ascontiguousarray(self.tri[:, 1])
        self.v2 = np.ascontiguousarray(self.tri[:, 2])

    def crossings(
        self, start: np.ndarray, direction: np.ndarray, length_mm: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every crossing of start + t*direction (unit), t in [0, length_mm], with a
        triangle: (t, triangle index), exact (Möller–Trumbore with the edge test)."""
        return kernels.line_crossings(
            kernels.vec3(start),
            kernels.vec3(direction),
            float(length_mm),
            self.origin,
            self.shape,
            CELL_MM,
            self.cell_first,
            self.cell_tris,
            self.v0,
            self.v1,
            self.v2,
        )

    def _distance_to_box_exit(self, point: np.ndarray, direction: np.ndarray) -> float:
        """How far along `direction` the point must go to leave the box around every
        surface (plus 1 mm): from there the line starts outside all structures."""
        lo = self.origin
        hi = self.box_hi
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            t1 = (lo - point) / direction
            t2 = (hi - point) / direction
        t_far = np.where(direction != 0, np.maximum(t1, t2), np.inf)
        exit_t = float(np.min(t_far))
        if not np.isfinite(exit_t) or exit_t < 0:
            exit_t = 0.0
        return exit_t + 1.0

    def crossing_depths(self, entry: np.ndarray, direction: np.ndarray, length_mm: float) -> np.ndarray:
        """Sorted depths (negative behind the entry) at which the line entry + t*direction
        crosses any surface of the index, from where it starts outside every surface up
        to `length_mm`; a crossing through a shared edge counts once."""
        direction = direction / np.linalg.norm(direction)
        back = self._distance_to_box_exit(entry, -direction)
        t, _ = self.crossings(entry - direction * back, direction, back + length_mm)
        t = np.sort(t) - back
        if len(t) > 1:
            t = t[np.concatenate([[True], np.diff(t) > DUPLICATE_T_MM])]
        return t

    def first_entries(
        self, entry: np.ndarray, direction: np.ndarray, length_mm: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """For N lines: the depth in [0, length] at which each first enters one of the
        index's closed surfaces (0 when its entry is inside one; inf if it never does),
        and that structure's position in `ids` (-1: none). Lines whose segment misses the
        box around every surface are answered without tracing them."""
        entry = np.asarray(entry, float).reshape(-1, 3)
        direction = np.asarray(direction, float).reshape(-1, 3)
        direction = direction / np.linalg.norm(direction, axis=1, keepdims=True)
        length = np.broadcast_to(np.asarray(length_mm, float), (len(entry),))
        depth = np.full(len(entry), np.inf)
        owner = np.full(len(entry), -1, np.int64)
        end = entry + direction * length[:, None]
        lo, hi = np.minimum(entry, end), np.maximum(entry, end)
        near = np.all((hi >= self.origin) & (lo <= self.box_hi), axis=1)
        inside_box = np.all((entry >= self.origin) & (entry <= self.box_hi), axis=1)
        for i in np.flatnonzero(near):
            if inside_box[i]:  # the entry may lie inside a surface: parity from outside
                for iv in self.intervals(entry[i], direction[i], float(length[i])):
                    if iv.exit_mm > 0.0 and max(iv.enter_mm, 0.0) < depth[i]:
                        depth[i], owner[i] = max(iv.enter_mm, 0.0), self.ids.index(iv.structure)
                continue
            t, tri = self.crossings(entry[i], direction[i], float(length[i]))
            if len(t):  # from outside every surface, the first crossing enters one
                k = int(np.argmin(t))
                depth[i], owner[i] = float(t[k]), int(self.owner[tri[k]])
        return depth, owner

    def intervals(
        self, entry: np.ndarray, direction: np.ndarray, length_mm: float, *, behind: bool = False
    ) -> list[Interval]:
        """Inside intervals of every structure along entry + t*direction, t in [0, length],
        sorted by entry depth. With behind=True, intervals behind the entry (negative
        depths) are kept too. Parity starts where the line, followed backwards,
        leaves the box around every surface."""
        direction = direction / np.linalg.norm(direction)
        back = self._distance_to_box_exit(entry, -direction)
        start = entry - direction * back
        t, tri = self.crossings(start, direction, back + length_mm)
        owners = self.owner[tri]
        ts = t - back
        out: list[Interval] = []
        for k in np.unique(owners):
            tk = np.sort(ts[owners == k])
            if len(tk) > 1:
                keep = np.concatenate([[True], np.diff(tk) > DUPLICATE_T_MM])
                tk = tk[keep]
            # parity: crossings alternate enter/exit from outside
            for i in range(0, len(tk), 2):
                enter = tk[i]
                leave = tk[i + 1] if i + 1 < len(tk) else np.inf
                if enter > length_mm or (leave < 0.0 and not behind):
                    continue
                lo = enter if behind else max(enter, 0.0)
                out.append(Interval(self.ids[k], lo, min(leave, length_mm)))
        out.sort(key=lambda iv: (iv.enter_mm, iv.exit_mm))
        return out
