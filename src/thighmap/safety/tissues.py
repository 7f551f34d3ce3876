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

CELL_MM = 10.0
DUPLICATE_T_MM = 1e-6  # a line through a shared edge is reported by both triangles


@dataclass(frozen=True)
class Interval:
    structure: str
    enter_mm: float
    exit_mm: float


class TissueIndex:
    def __init__(self, meshes: dict[str, SurfaceMesh]) -> None:
        from thighmap.safety import kernels  # numba: loaded at the first check

        self.ids = list(meshes)
        corners: list[list[np.ndarray]] = [[], [], []]
        owner = []
        for k, sid in enumerate(self.ids):
            m = meshes[sid]
            for j in range(3):
                corners[j].append(m.vertices[m.faces[:, j]])
            owner.append(np.full(len(m.faces), k, np.int32))
        # the triangles' corners, one contiguous (T,3) array each, as the kernels take them
        self.v0, self.v1, self.v2 = (np.concatenate(c) for c in corners)
        self.owner = np.concatenate(owner)
        # the bucket grid, in compressed rows: the triangles of cell k are
        # cell_tris[cell_first[k]:cell_first[k + 1]], each triangle listed in every cell its
        # bounding box touches, in index order
        self.origin, self.box_hi, self.shape, self.cell_first, self.cell_tris = kernels.triangle_grid(
            self.v0, self.v1, self.v2, CELL_MM
        )

    @property
    def tri(self) -> np.ndarray:
        """(T,3,3) the corners of every triangle (built on demand, for tests and tools)."""
        return np.stack([self.v0, self.v1, self.v2], axis=1)

    def crossings(
        self, start: np.ndarray, direction: np.ndarray, length_mm: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every crossing of start + t*direction (unit), t in [0, length_mm], with a
        triangle: (t, triangle index), exact (Möller–Trumbore with the edge test)."""
        from thighmap.safety import kernels  # numba: loaded at the first check

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
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = (lo - point) / direction
            t2 = (hi - point) / direction
        t_far = np.where(direction != 0, np.maximum(t1, t2), np.inf)
        exit_t = float(np.min(t_far))
        if not np.isfinite(exit_t) or exit_t < 0:
            exit_t = 0.0
        return exit_t + 1.0

    def intervals(
        self, entry: np.ndarray, direction: np.ndarray, length_mm: float, *, behind: bool = False
    ) -> list[Interval]:
        """Inside intervals of every structure along entry + t*direction, t in [0, length],
        sorted by entry depth. With behind=True, intervals behind the entry (negative
        depths) are kept too. Parity starts where the line, followed backwards,
        leaves the box around every surface."""
        start, direction, back = self._line_start(entry, direction)
        t, tri = self.crossings(start, direction, back + length_mm)
        return self._intervals(t, tri, back, length_mm, behind)

    def intervals_many(
        self, entry: np.ndarray, direction: np.ndarray, length_mm: np.ndarray, *, behind: bool = False
    ) -> list[list[Interval]]:
        """intervals() of N lines (entry, direction: (N,3); length_mm: (N,)), each list
        exactly what intervals() returns for that line; the crossings are found by one
        compiled call per thread."""
        from thighmap.safety import kernels  # numba: loaded at the first check

        n = len(entry)
        starts, directions, backs = np.empty((n, 3)), np.empty((n, 3)), np.empty(n)
        for j in range(n):
            starts[j], directions[j], backs[j] = self._line_start(entry[j], direction[j])
        length = np.asarray(length_mm, float)
        lengths = backs + length
        parts: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

        def rows(lo: int, hi: int) -> None:
            parts[lo] = kernels.lines_crossings(
                starts[lo:hi],
                directions[lo:hi],
                lengths[lo:hi],
                self.origin,
                self.shape,
                CELL_MM,
                self.cell_first,
                self.cell_tris,
                self.v0,
                self.v1,
                self.v2,
            )

        kernels.in_threads(rows, n)
        out: list[list[Interval]] = []
        for lo in sorted(parts):
            t, tri, first = parts[lo]
            for j in range(len(first) - 1):
                a, b = first[j], first[j + 1]
                out.append(
                    self._intervals(t[a:b], tri[a:b], float(backs[lo + j]), float(length[lo + j]), behind)
                )
        return out

    def _line_start(self, entry: np.ndarray, direction: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """(start outside every surface, unit direction, distance from start to entry)."""
        direction = direction / np.linalg.norm(direction)
        back = self._distance_to_box_exit(entry, -direction)
        return entry - direction * back, direction, back

    def _intervals(
        self, t: np.ndarray, tri: np.ndarray, back: float, length_mm: float, behind: bool
    ) -> list[Interval]:
        """The inside intervals from the crossings (t from the line's start, `back` before
        the entry), by parity per structure."""
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
