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
        return _depths(t, back)

    def crossing_depths_many(
        self, entry: np.ndarray, direction: np.ndarray, length_mm: np.ndarray
    ) -> list[np.ndarray]:
        """crossing_depths() of N lines (entry, direction: (N,3); length_mm: (N,)), each
        exactly what crossing_depths() returns for that line; the crossings are found by
        one compiled call per thread."""
        n = len(entry)
        starts, directions, backs = np.empty((n, 3)), np.empty((n, 3)), np.empty(n)
        for j in range(n):
            starts[j], directions[j], backs[j] = self._line_start(entry[j], direction[j])
        parts = self._lines_crossings(starts, directions, backs + np.asarray(length_mm, float))
        out: list[np.ndarray] = []
        for lo in sorted(parts):
            t, _, first = parts[lo]
            for j in range(len(first) - 1):
                out.append(_depths(t[first[j] : first[j + 1]], float(backs[lo + j])))
        return out

    def _lines_crossings(
        self, starts: np.ndarray, directions: np.ndarray, lengths: np.ndarray
    ) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """crossings() of N lines, by one compiled call per thread: {first row: (t,
        triangle, first crossing of each row and one past the last)}."""
        from thighmap.safety import kernels  # numba: loaded at the first check

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

        kernels.in_threads(rows, len(starts))
        return parts

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
        rows = np.flatnonzero(near)
        if len(rows):
            # the same intervals a single line gets (parity from outside every surface),
            # their crossings found by one compiled call per thread
            position = {sid: k for k, sid in enumerate(self.ids)}
            lines = self.intervals_many(entry[rows], direction[rows], length[rows])
            for i, line in zip(rows.tolist(), lines, strict=True):
                for iv in line:
                    if iv.exit_mm > 0.0 and max(iv.enter_mm, 0.0) < depth[i]:
                        depth[i], owner[i] = max(iv.enter_mm, 0.0), position[iv.structure]
        return depth, owner

    def intervals(
        self, entry: np.ndarray, direction: np.ndarray, length_mm: float, *, behind: bool = False
    ) -> list[Interval]:
        """Inside intervals of every structure along entry + t*direction, t in [0, length],
        sorted by entry depth. With behind=True, intervals behind the entry (negative
        depths) are kept too. Parity starts where the line, followed backwards,
        leaves the box around every surface."""
        from thighmap.safety import kernels  # numba: loaded at the first check

        start, direction, back = self._line_start(entry, direction)
        t, tri = self.crossings(start, direction, back + length_mm)
        k, enter, leave, _ = kernels.lines_intervals(
            t, tri, np.array([0, len(t)]), self.owner, np.array([back]), np.array([float(length_mm)]),
            behind, DUPLICATE_T_MM,
        )  # fmt: skip
        return [
            Interval(self.ids[s], a, b)
            for s, a, b in zip(k.tolist(), enter.tolist(), leave.tolist(), strict=True)
        ]

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
        parts = self._lines_crossings(starts, directions, backs + length)
        out: list[list[Interval]] = []
        ids = self.ids
        for lo in sorted(parts):
            t, tri, first = parts[lo]
            hi = lo + len(first) - 1
            k, enter, leave, line_first = kernels.lines_intervals(
                t, tri, first, self.owner, backs[lo:hi], length[lo:hi], behind, DUPLICATE_T_MM
            )
            k, enter, leave = k.tolist(), enter.tolist(), leave.tolist()
            for j in range(len(line_first) - 1):
                rows_j = range(line_first[j], line_first[j + 1])
                out.append([Interval(ids[k[q]], enter[q], leave[q]) for q in rows_j])
        return out

    def _line_start(self, entry: np.ndarray, direction: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """(start outside every surface, unit direction, distance from start to entry)."""
        direction = direction / np.linalg.norm(direction)
        back = self._distance_to_box_exit(entry, -direction)
        return entry - direction * back, direction, back


def _depths(t: np.ndarray, back: float) -> np.ndarray:
    """A line's crossings (t from its start `back` before the entry) as sorted depths from
    the entry, a crossing through a shared edge (two within DUPLICATE_T_MM) counted once."""
    t = np.sort(t) - back
    if len(t) > 1:
        t = t[np.concatenate([[True], np.diff(t) > DUPLICATE_T_MM])]
    return t
