"""Checking many needles at once (a plan): the same reports as one check_needle call per
needle, faster.

The geometry of a chunk of needles (clearances to every danger and caution structure, the first
caution hit along each line, the tissue crossings) is computed by the batch kernels,
which run compiled, split across threads, and give every needle exactly what the
single-needle kernels give it. The per-needle check then runs unchanged on a view of the
model whose danger set and tissue index serve those results: a query they hold is
answered from the batch, any other query (different arguments) is computed as usual. So
the reports cannot differ from check_needle's, only the time does
(tests/test_prefetch.py compares the two on large plans, left and right).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from thighmap import sides
from thighmap.planning import Needle
from thighmap.safety import rules
from thighmap.safety.report import NeedleReport
from thighmap.safety.tissues import Interval

if TYPE_CHECKING:
    from thighmap.safety.engine import SafetyModel

CHUNK_NEEDLES = 4096  # needles whose geometry is held at once
MIN_NEEDLES = 4  # below this the batch set-up costs more than it saves


def check_needles(
    model: SafetyModel, needles: Sequence[Needle], contraindications: dict[str, bool] | None = None
) -> Iterator[NeedleReport]:
    """model.check_needle(n, contraindications) for every needle, in order."""
    if len(needles) < MIN_NEEDLES:
        for n in needles:
            yield model.check_needle(n, contraindications)
        return
    for lo in range(0, len(needles), CHUNK_NEEDLES):
        chunk = needles[lo : lo + CHUNK_NEEDLES]
        view = _prefetched(model, chunk)
        for n in chunk:
            yield view.check_needle(n, contraindications)


def _prefetched(model: SafetyModel, needles: Sequence[Needle]) -> SafetyModel:
    """A shallow copy of the model answering these needles' geometry from the batch."""
    right = [sides.mirror_needle(n) for n in needles] if sides.is_mirrored(model.side) else list(needles)
    n = len(right)
    entry, direction, tip, ray = (np.empty((n, 3)) for _ in range(4))
    depth, gauge, reach, length = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    for j, needle in enumerate(right):
        # the values SafetyModel._check_right computes, by the same operations
        e = np.asarray(needle.entry_mm, float)
        d = np.asarray(needle.direction, float)
        d = d / np.linalg.norm(d)
        depth[j] = float(needle.depth_mm)
        entry[j], direction[j] = e, d
        tip[j] = e + d * depth[j]
        gauge[j] = float(needle.gauge_mm)
        length[j] = float(needle.needle_length_mm)
        reach[j] = max(length[j], depth[j])
        ray[j] = d / np.linalg.norm(d)  # as CapsuleChains.first_caution_hit normalises
    view = copy.copy(model)
    dangers = model.dangers
    first = None
    if not dangers.mesh_structure_ids and dangers.chains.structure_ids:
        # the danger structures' chains, then the caution structures' (the danger set's order)
        groups = [dangers.chains] + ([dangers.caution_chains] if dangers.caution_chains is not None else [])
        results, firsts = [], []
        for chains in groups:
            geometry = chains.needles_geometry(entry, tip, ray, gauge, reach)
            results.append(
                chains.clearance_result(
                    entry,
                    tip,
                    geometry["clearance"],
                    geometry["zone"],
                    geometry["near_cap"],
                    geometry["near_s"],
                    geometry["near_t"],
                )
            )
            firsts.append(geometry["first"])
        first = np.concatenate(firsts, axis=1)
        result = {key: np.concatenate([r[key] for r in results], axis=1) for key in results[0]}
        view.dangers = _ServedDangers(dangers, entry, direction, tip, gauge, reach, result, first)  # type: ignore[assignment]
    # the whole line to the needle's reach, as _check_right asks for it
    lines = model.tissues.intervals_many(entry, direction, reach, behind=True)
    view.tissues = _ServedTissues(model.tissues, entry, direction, reach, lines)  # type: ignore[assignment]
    if first is not None:
        _serve_max_safe_depth(model, view, entry, direction, length, gauge, first, lines)
    if model.atlas.rules.entry is not None:
        _serve_skin_frames(model, view, entry)
        _serve_outer_skin_crossings(model, view, entry, direction, depth)
    return view


def _serve_max_safe_depth(
    model: SafetyModel,
    view: SafetyModel,
    entry: np.ndarray,
    direction: np.ndarray,
    length: np.ndarray,
    gauge: np.ndarray,
    first: np.ndarray,
    lines: list[list[Interval]],
) -> None:
    """_max_safe_depth of every needle in one call, with the arguments _check_right gives
    it (the first caution hit and the bone from the batch); served to the view when the
    arguments match exactly."""
    n = len(entry)
    k_first = np.argmin(first, axis=1)
    caution = first[np.arange(n), k_first]
    structure = np.where(np.isfinite(caution), k_first, -1)
    bone = model.atlas.rules.bone_strike
    bone_enter = np.full(n, np.inf)
    bone_structure: list[str | None] = [None] * n
    if bone is not None:
        for j, line in enumerate(lines):
            hit = rules.first_enter(line, bone.structures)
            if hit:
                bone_structure[j], bone_enter[j] = hit[0], hit[1]
    max_safe, rule, limiting = model._max_safe_depth(
        entry, direction, length, caution, structure, bone_enter, bone_structure, gauge
    )
    served = {}
    for j in range(n):
        args = (entry[j], direction[j], length[j : j + 1], caution[j : j + 1], structure[j : j + 1])
        key = (*_key(*args, bone_enter[j : j + 1], gauge[j : j + 1]), bone_structure[j])
        served[key] = (max_safe[j : j + 1].copy(), [rule[j]], [limiting[j]])

    def max_safe_depth(
        entry: np.ndarray,
        direction: np.ndarray,
        needle_length_mm: np.ndarray,
        caution: np.ndarray,
        caution_structure: np.ndarray,
        bone_enter_mm: np.ndarray,
        bone_structure: list[str | None],
        gauge_mm: np.ndarray,
    ) -> tuple[np.ndarray, list[str | None], list[str | None]]:
        args = (entry, direction, needle_length_mm, caution, caution_structure, bone_enter_mm)
        if len(bone_structure) == 1:
            hit = served.get((*_key(*args, gauge_mm), bone_structure[0]))
            if hit is not None:
                return hit[0].copy(), list(hit[1]), list(hit[2])
        return model._max_safe_depth(*args, bone_structure, gauge_mm)

    view._max_safe_depth = max_safe_depth  # type: ignore[method-assign]


def _serve_skin_frames(model: SafetyModel, view: SafetyModel, entry: np.ndarray) -> None:
    """The closest outer-skin point and inward normal at every entry, found in one
    compiled call; served to the view for exactly these points."""
    frames = model._skin_frames_right(entry)
    served = {_key(entry[j]): frames[j] for j in range(len(entry))}

    def skin_frame_right(point: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        frame = served.get(_key(point))
        if frame is None:
            return model._skin_frame_right(point)
        return frame[0].copy(), frame[1].copy()

    view._skin_frame_right = skin_frame_right  # type: ignore[method-assign]


def _serve_outer_skin_crossings(
    model: SafetyModel, view: SafetyModel, entry: np.ndarray, direction: np.ndarray, depth: np.ndarray
) -> None:
    """The outer-skin crossings of every needle's line to its depth, in one batch; served
    to the view when the arguments match exactly."""
    depths = model._outer_skin_index().crossing_depths_many(entry, direction, depth)
    served = {
        _key(entry[j], direction[j], depth[j : j + 1]): [float(v) for v in depths[j]]
        for j in range(len(entry))
    }

    def outer_skin_crossings(entry: np.ndarray, direction: np.ndarray, length_mm: float) -> list[float]:
        hit = served.get(_key(entry, direction, np.array([length_mm], float)))
        if hit is None:
            return model._outer_skin_crossings(entry, direction, length_mm)
        return list(hit)

    view._outer_skin_crossings = outer_skin_crossings  # type: ignore[method-assign]


def _key(*arrays: Any) -> tuple[bytes, ...]:
    """Exact identity of float arguments (bit patterns; the shape is fixed by the caller)."""
    return tuple(np.ascontiguousarray(a, float).tobytes() for a in arrays)


class _ServedDangers:
    """A DangerSet answering the prefetched needles from the batch results."""

    def __init__(
        self,
        base: Any,
        entry: np.ndarray,
        direction: np.ndarray,
        tip: np.ndarray,
        gauge: np.ndarray,
        reach: np.ndarray,
        results: dict[str, np.ndarray],
        first: np.ndarray,
    ) -> None:
        self._base = base
        self.structure_ids = base.structure_ids
        self.n_danger = base.n_danger
        self._first = first
        # needle_clearances' results for every needle at once (rows served below)
        self._results = results
        self._segments = {
            (entry[j].tobytes(), tip[j].tobytes(), float(gauge[j])): j for j in range(len(entry))
        }
        self._rays = {
            (entry[j].tobytes(), direction[j].tobytes(), float(gauge[j]), float(reach[j])): j
            for j in range(len(entry))
        }

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)

    def needle_clearances(self, p0: np.ndarray, p1: np.ndarray, gauge_mm: float) -> dict[str, np.ndarray]:
        p0 = np.ascontiguousarray(p0, float)
        p1 = np.ascontiguousarray(p1, float)
        j = self._segments.get((p0.tobytes(), p1.tobytes(), float(gauge_mm)))
        if j is None:
            return self._base.needle_clearances(p0, p1, gauge_mm)
        return {key: value[j].copy() for key, value in self._results.items()}

    def first_caution_hit(
        self, entry: np.ndarray, direction: np.ndarray, gauge_mm: float, reach_mm: float = 200.0
    ) -> np.ndarray:
        key = (
            np.ascontiguousarray(entry, float).tobytes(),
            np.ascontiguousarray(direction, float).tobytes(),
            float(gauge_mm),
            float(reach_mm),
        )
        j = self._rays.get(key)
        if j is None:
            return self._base.first_caution_hit(entry, direction, gauge_mm, reach_mm)
        return self._first[j].copy()


class _ServedTissues:
    """A TissueIndex answering the prefetched needles' lines from the batch results."""

    def __init__(
        self,
        base: Any,
        entry: np.ndarray,
        direction: np.ndarray,
        length_mm: np.ndarray,
        lines: list[list[Interval]],
    ) -> None:
        self._base = base
        self._lines = {
            (entry[j].tobytes(), direction[j].tobytes(), float(length_mm[j])): lines[j]
            for j in range(len(entry))
        }

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)

    def intervals(
        self, entry: np.ndarray, direction: np.ndarray, length_mm: float, *, behind: bool = False
    ) -> list[Interval]:
        if behind:
            key = (
                np.ascontiguousarray(entry, float).tobytes(),
                np.ascontiguousarray(direction, float).tobytes(),
                float(length_mm),
            )
            line = self._lines.get(key)
            if line is not None:
                return list(line)
        return self._base.intervals(entry, direction, length_mm, behind=behind)
