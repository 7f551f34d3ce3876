"""Skin maps for instructors and clinicians: from where on the skin a target can be
reached safely (approach map), and how deep a perpendicular needle may go (depth map).

Both are computed for every vertex of the outer skin with the exact batch check
(SafetyModel.check_many), on whatever atlas the model holds (the reference adult or
one fitted to a patient), so they change when the patient profile changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from thighmap.planning import GAUGE_PRESETS_MM, NEEDLE_LENGTH_PRESETS_MM, Needle
from thighmap.safety.engine import BatchResult, SafetyModel

# progress(done, total) -> False to stop. Called between chunks of skin vertices, so a
# window can show progress and offer Cancel (a map over surfaces without centrelines,
# from an imported atlas, takes minutes: every path is checked against the triangles).
Progress = Callable[[int, int], bool]
# vertices per chunk when some danger structure is checked against its triangles
MESH_PATH_CHUNK = 16


class MapCancelled(Exception):
    """The progress callback asked to stop."""


# An entry is offered as the best one only if a straight needle from it can be used as
# taught: the path keeps the shaft rule of landmarks.json for the longest common needle
# (rules.shaft_outside_skin: no deeper than that fraction of its length) and is within
# this angle of the inward skin normal (chosen: steeper insertions are taught for the
# hamstrings; a needle laid nearly along the skin travels in the fat and is hard to control).
MAX_ANGLE_FROM_NORMAL_DEG = 60.0


@dataclass
class ApproachMap:
    """For one target, the straight path from every skin vertex to it."""

    target_mm: np.ndarray  # (3,)
    points_mm: np.ndarray  # (V,3) skin vertices (entries)
    inward_normals: np.ndarray  # (V,3)
    length_mm: np.ndarray  # (V,) path length, entry to target
    angle_from_normal_deg: np.ndarray  # (V,)
    status: np.ndarray  # (V,) 0 safe, 1 caution, 2 danger (danger zones and caution margins)
    caution_clearance_mm: np.ndarray  # (V,) to the nearest caution zone; negative inside
    nearest_structure: list[str]
    usable: np.ndarray  # (V,) bool: length and angle a needle can be used at
    max_usable_depth_mm: float
    best_index: int | None  # the usable safe entry with the largest clearance
    max_inserted_fraction: float = 1.0  # the atlas's shaft rule (1: the atlas has none)

    @property
    def best_entry_mm(self) -> np.ndarray | None:
        return None if self.best_index is None else self.points_mm[self.best_index]

    def needle_at(self, index: int, needle_id: str, gauge_mm: float = 0.25) -> Needle:
        """A needle from skin vertex `index` to the target, on the shortest common needle
        that keeps the shaft rule."""
        depth = float(self.length_mm[index])
        length = next(
            (n for n in NEEDLE_LENGTH_PRESETS_MM if depth <= self.max_inserted_fraction * n + 1e-9),
            NEEDLE_LENGTH_PRESETS_MM[-1],
        )
        return Needle(
            id=needle_id,
            entry_mm=self.points_mm[index].copy(),
            direction=self.target_mm - self.points_mm[index],
            depth_mm=round(depth, 2),
            needle_length_mm=length,
            gauge_mm=gauge_mm,
        )

    def summary(self) -> dict[str, float | int]:
        n = len(self.status)
        return {
            "skin_vertices": n,
            "danger_fraction": float(np.mean(self.status == 2)),
            "caution_fraction": float(np.mean(self.status == 1)),
            "safe_fraction": float(np.mean(self.status == 0)),
            "usable_safe_vertices": int(np.sum(self.usable & (self.status == 0))),
        }


@dataclass
class DepthMap:
    """Maximum safe depth of a needle along the inward normal at every skin vertex."""

    points_mm: np.ndarray  # (V,3)
    max_safe_depth_mm: np.ndarray  # (V,), every depth rule (the shaft rule caps it below needle_length_mm)
    limiting_structure: list[str | None]
    needle_length_mm: float


def approach_map(
    model: SafetyModel,
    target_mm: np.ndarray,
    gauge_mm: float = GAUGE_PRESETS_MM[2],
    max_angle_deg: float = MAX_ANGLE_FROM_NORMAL_DEG,
    progress: Progress | None = None,
) -> ApproachMap:
    """The approach map to `target_mm`. Raises MapCancelled if `progress` says stop."""
    target = np.asarray(target_mm, float).reshape(3)
    pts, normals = model.skin_points()
    path = target[None, :] - pts
    length = np.linalg.norm(path, axis=1)
    safe_length = np.where(length > 0, length, 1.0)
    cos = np.einsum("ij,ij->i", path, normals) / safe_length
    angle = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    res = _check_in_chunks(
        model,
        pts,
        np.where(length[:, None] > 0, path, normals),
        np.maximum(length, 1e-6),
        gauge_mm,
        None,
        progress,
        max_safe_depth=False,
    )
    fraction = shaft_fraction(model)
    max_depth = fraction * NEEDLE_LENGTH_PRESETS_MM[-1]
    usable = (length > 0) & (length <= max_depth) & (angle <= max_angle_deg)
    candidates = np.flatnonzero(usable & (res.status == 0))
    best = None
    if len(candidates):
        # largest clearance; among equals (to 0.1 mm) the shorter path
        key = np.round(res.caution_clearance_mm[candidates], 1) - 1e-6 * length[candidates]
        best = int(candidates[np.argmax(key)])
    return ApproachMap(
        target_mm=target,
        points_mm=pts,
        inward_normals=normals,
        length_mm=length,
        angle_from_normal_deg=angle,
        status=res.status,
        caution_clearance_mm=res.caution_clearance_mm,
        nearest_structure=res.nearest_structure,
        usable=usable,
        max_usable_depth_mm=max_depth,
        best_index=best,
        max_inserted_fraction=fraction,
    )


def shaft_fraction(model: SafetyModel) -> float:
    """How much of a needle may be inserted, from the atlas's shaft rule (1 if it has none)."""
    shaft = model.atlas.rules.shaft
    return 1.0 if shaft is None else shaft.max_inserted_fraction


def depth_map(
    model: SafetyModel,
    needle_length_mm: float = NEEDLE_LENGTH_PRESETS_MM[-1],
    gauge_mm: float = 0.25,
    progress: Progress | None = None,
) -> DepthMap:
    """The depth map of the outer skin. Raises MapCancelled if `progress` says stop."""
    pts, normals = model.skin_points()
    res = _check_in_chunks(model, pts, normals, np.full(len(pts), 1.0), gauge_mm, needle_length_mm, progress)
    return DepthMap(
        points_mm=pts,
        max_safe_depth_mm=res.max_safe_depth_mm,
        limiting_structure=res.limiting_structure,
        needle_length_mm=float(needle_length_mm),
    )


def _check_in_chunks(
    model: SafetyModel,
    entry: np.ndarray,
    direction: np.ndarray,
    depth: np.ndarray,
    gauge_mm: float,
    needle_length_mm: float | None,
    progress: Progress | None,
    max_safe_depth: bool = True,
) -> BatchResult:
    """model.check_many over all vertices: in one go when every danger structure is a
    capsule chain (a fraction of a second; caution structures too), in chunks reporting progress otherwise."""
    n = len(entry)
    step = n if progress is None or not model.dangers.mesh_structure_ids else MESH_PATH_CHUNK
    parts: list[BatchResult] = []
    for start in range(0, n, max(step, 1)):
        stop = min(start + step, n)
        parts.append(
            model.check_many(
                entry[start:stop],
                direction[start:stop],
                depth[start:stop],
                gauge_mm,
                needle_length_mm,
                max_safe_depth=max_safe_depth,
            )
        )
        if progress is not None and not progress(stop, n):
            raise MapCancelled()
    if len(parts) == 1:
        return parts[0]
    joined = {}
    for f in fields(BatchResult):
        values = [getattr(p, f.name) for p in parts]
        if values[0] is None:
            joined[f.name] = None
        elif isinstance(values[0], np.ndarray):
            joined[f.name] = np.concatenate(values)
        else:
            joined[f.name] = [item for part in values for item in part]
    return BatchResult(**joined)
