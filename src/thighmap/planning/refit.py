"""Carrying a plan from one patient fit to another (no Qt, no atlas code here).

A plan with a patient states its coordinates in that patient's frame: the atlas fitted
to the patient's measurements, origin at its epicondyle midpoint (``design.md``,
"Coordinate frame"), which is what ``thighmap check`` fits before it checks. When the
patient of a plan changes, each needle moves with the anatomy, by how it was stated:

* stated by **trigger point** (and not edited since): re-resolved on the new fit, so it
  follows its trigger point exactly as a freshly loaded plan would;
* stated by **angles** (entry + tilt/azimuth, direction not edited since): the entry
  moves as below, and the direction is recomputed from the same angles against the new
  skin normal at the new entry;
* stated by **entry and direction** (or edited in the window): the entry goes through
  the fit's point map and is put back on the new skin along the needle's line, the
  direction goes through the map's linear part at the entry (renormalised).

Depth, in every case but the re-resolved trigger point: the tip follows the mapped tip.
The new depth is the distance from the new entry to the mapped tip measured along the
new direction (its projection onto the needle's line), so a needle aimed into a muscle
still ends in the same part of that muscle; it is kept within (0, needle length] and a
note says when it had to be shortened. (The direction follows the map at the entry, so
where the map bends, near the femur, the new tip passes a fraction of a millimetre beside
the mapped tip.) Needle length, gauge, target and notes never
change.

Putting an entry back on the skin: the fit scales muscles and vessels but gives the
subcutaneous fat the patient's own thickness, so a point of the old skin lands near,
not on, the new skin. The entry goes to where the needle's line first enters the new
skin (an entry that was off the old skin keeps its offset along the line: the plan is
carried, not mended); if that is farther than :data:`SKIN_SNAP_LIMIT_MM` from the mapped
entry (or the line never meets the skin) the mapped entry is kept and a note says so.

Left-side plans: coordinates are mirrored in ``x`` (``resolve.py``); the map works in
the atlas (right-thigh) frame, so points and directions are mirrored in and out.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from thighmap import sides
from thighmap.planning.model import Needle, PatientProfile, Plan
from thighmap.planning.resolve import (
    AngleConventionError,
    AtlasForPlanning,
    direction_at_entry,
    trigger_point_base,
)

# The largest move, along the needle's line, from the mapped entry to the new skin.
# Patient profiles allow 1-80 mm of posterior fat (model.PATIENT_BOUNDS), so a change
# of fat can move the skin by up to about 80 mm; the far side of the thigh is farther.
SKIN_SNAP_LIMIT_MM = 80.0
MIN_DEPTH_MM = 0.1
_GEOMETRY = ("entry_mm", "direction", "depth_mm")
_SAME_TOL = 1e-6


class FitTransfer(Protocol):
    """A map from one fit's atlas frame to another's (see ``anatomy.fitting.FitMap``)."""

    def __call__(self, points_mm: np.ndarray) -> np.ndarray: ...

    def linear_part(self, point_mm: np.ndarray) -> np.ndarray: ...


class AtlasForCarrying(AtlasForPlanning, Protocol):
    """The new fit, as the carrying needs it (atlas frame, mm)."""

    def skin_entry_on_line(self, point_mm: np.ndarray, direction: np.ndarray) -> np.ndarray | None:
        """Where the line through ``point_mm`` along ``direction`` first enters the outer
        skin (from outside), or ``None`` when it never does."""
        ...


@dataclass(frozen=True)
class CarriedPlan:
    plan: Plan
    notes: list[str]  # one sentence per needle that could not follow exactly


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    try:
        return bool(np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=0.0, atol=_SAME_TOL))
    except (TypeError, ValueError):
        return False


def _edited(needle: Needle) -> bool:
    """Has the geometry changed since the statement was resolved (or is it unknown)?"""
    resolved = needle.source.get("resolved")
    if not isinstance(resolved, dict) or not isinstance(needle.source.get("stated"), dict):
        return True
    current = {"entry_mm": needle.entry_mm, "direction": needle.direction, "depth_mm": needle.depth_mm}
    return not all(_same(current[k], resolved.get(k)) for k in _GEOMETRY)


def _to_atlas(v: np.ndarray, side: str) -> np.ndarray:
    return sides.to_atlas_frame(np.asarray(v, float).reshape(3), side)


_to_plan = _to_atlas  # mirroring is its own inverse


def _mapped_line(
    needle: Needle, side: str, fit_map: FitTransfer, atlas: AtlasForCarrying, old_atlas: AtlasForCarrying
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str | None]:
    """(new entry, new direction, mapped tip) in the atlas frame, and a note if the entry
    could not be put on the new skin."""
    entry = _to_atlas(needle.entry_mm, side)
    direction = _to_atlas(needle.direction, side)
    tip = entry + direction * needle.depth_mm
    new_entry = np.asarray(fit_map(entry), float).reshape(3)
    new_tip = np.asarray(fit_map(tip), float).reshape(3)
    # the needle runs from the moved entry to the moved tip, so the tip ends where the
    # map puts it (the map bends near the femur, so its linear part at the entry alone
    # would miss the moved tip by up to about half a millimetre); a needle too short for
    # that chord to be meaningful takes the map's linear part at the entry
    chord = new_tip - new_entry
    if float(np.linalg.norm(chord)) > 1e-6:
        new_direction = _unit(chord)
    else:
        new_direction = _unit(np.asarray(fit_map.linear_part(entry), float) @ direction)
    # how far along its line the entry was from the old skin (0 for an entry on the skin):
    # the moved entry keeps that offset from the new skin, so a plan is carried, not mended
    old_skin = old_atlas.skin_entry_on_line(entry, direction)
    on_skin = atlas.skin_entry_on_line(new_entry, new_direction)
    if (
        old_skin is None
        or on_skin is None
        or float(np.linalg.norm(np.asarray(on_skin) - new_entry)) > SKIN_SNAP_LIMIT_MM
    ):
        return (
            new_entry,
            new_direction,
            new_tip,
            (
                f"needle {needle.id}: its line does not enter the "
                + ("old" if old_skin is None else "new")
                + f" skin within {SKIN_SNAP_LIMIT_MM:g} mm of its entry point; the entry was moved "
                "with the anatomy but not placed relative to the skin"
            ),
        )
    offset = float((np.asarray(old_skin, float) - entry) @ direction)
    return np.asarray(on_skin, float).reshape(3) - offset * new_direction, new_direction, new_tip, None


def _depth_to(
    needle: Needle, entry: np.ndarray, direction: np.ndarray, tip: np.ndarray
) -> tuple[float, str | None]:
    depth = float((tip - entry) @ direction)
    if depth > needle.needle_length_mm:
        return needle.needle_length_mm, (
            f"needle {needle.id}: the moved tip is {depth:.1f} mm along the needle, beyond its "
            f"{needle.needle_length_mm:g} mm length; the depth was set to the length"
        )
    if depth < MIN_DEPTH_MM:
        return MIN_DEPTH_MM, (
            f"needle {needle.id}: the moved tip is not beyond the new entry point "
            f"({depth:.1f} mm); the depth was set to {MIN_DEPTH_MM:g} mm"
        )
    return round(depth, 3), None


def _restated(
    needle: Needle, values: dict[str, Any], drop: tuple[str, ...] = (), extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The needle's source with its geometry re-resolved to ``values`` (plan frame).

    Geometry keys that the statement gave explicitly are rewritten with the new values,
    so that saving writes the statement (trigger point, angles) with the moved values."""
    source = copy.deepcopy(needle.source)
    stated = source.get("stated")
    resolved = source.get("resolved")
    if not isinstance(stated, dict) or not isinstance(resolved, dict):
        return source
    for key in drop:
        stated.pop(key, None)
    for key, value in values.items():
        resolved[key] = value
        if key in stated:
            stated[key] = value
    source.update(extra or {})
    return source


def carry_needle(
    needle: Needle,
    side: str,
    fit_map: FitTransfer,
    atlas: AtlasForCarrying,
    old_atlas: AtlasForCarrying,
) -> tuple[Needle, list[str]]:
    """The needle on the new fit, and notes where it could not follow exactly."""
    notes: list[str] = []
    edited = _edited(needle)
    if needle.kind == "trigger_point" and not edited and "trigger_point" in needle.source:
        tp_id = str(needle.source["trigger_point"])
        try:
            technique = trigger_point_base(atlas, tp_id, side)
        except (KeyError, ValueError, TypeError) as exc:
            technique = {}
            notes.append(
                f"needle {needle.id}: trigger point {tp_id} cannot be resolved on the new fit ({exc})"
            )
        stated = needle.source.get("stated", {})
        values = {k: technique[k] for k in _GEOMETRY if k in technique and k not in stated}
        if len(values) == len(_GEOMETRY):
            depth = float(values["depth_mm"])
            if depth > needle.needle_length_mm:
                notes.append(
                    f"needle {needle.id}: trigger point {tp_id} is {depth:.1f} mm deep on the new fit, "
                    f"beyond the needle's {needle.needle_length_mm:g} mm; the depth was set to the length"
                )
                depth = needle.needle_length_mm
            source = _restated(needle, values)
            new = dataclasses.replace(
                needle,
                entry_mm=np.asarray(values["entry_mm"], float),
                direction=np.asarray(values["direction"], float),
                depth_mm=depth,
                source=source,
            )
            return new, notes
        # some geometry is stated explicitly: carried like an explicit needle below

    entry, direction, tip, note = _mapped_line(needle, side, fit_map, atlas, old_atlas)
    if note:
        notes.append(note)
    angles = needle.source.get("angles_deg")
    if needle.kind == "angles" and not edited and isinstance(angles, dict):
        try:
            plan_dir, normal = direction_at_entry(
                atlas, _to_plan(entry, side), float(angles["tilt"]), float(angles["azimuth"]), side
            )
        except (AngleConventionError, ValueError) as exc:
            notes.append(f"needle {needle.id}: its angles cannot be kept at the new entry ({exc})")
        else:
            direction = _to_atlas(plan_dir, side)
            depth, depth_note = _depth_to(needle, entry, direction, tip)
            notes += [depth_note] if depth_note else []
            values = {
                "entry_mm": _to_plan(entry, side).tolist(),
                "direction": _to_plan(direction, side).tolist(),
                "depth_mm": depth,
            }
            source = _restated(needle, values, extra={"inward_normal": np.asarray(normal).tolist()})
            return dataclasses.replace(
                needle,
                entry_mm=np.asarray(values["entry_mm"]),
                direction=np.asarray(values["direction"]),
                depth_mm=depth,
                source=source,
            ), notes

    depth, depth_note = _depth_to(needle, entry, direction, tip)
    notes += [depth_note] if depth_note else []
    values = {
        "entry_mm": _to_plan(entry, side).tolist(),
        "direction": _to_plan(direction, side).tolist(),
        "depth_mm": depth,
    }
    source = copy.deepcopy(needle.source)
    stated = source.get("stated")
    if isinstance(stated, dict) and isinstance(source.get("resolved"), dict):
        # the geometry is now stated explicitly (a trigger point keeps its id, for the
        # record and its other fields; angles give way to the moved direction)
        stated.pop("angles_deg", None)
        for key, value in values.items():
            stated[key] = value
            source["resolved"][key] = value
        if source.get("kind") == "angles":
            source["kind"] = "explicit"
            source.pop("angles_deg", None)
            source.pop("inward_normal", None)
    return dataclasses.replace(
        needle,
        entry_mm=np.asarray(values["entry_mm"]),
        direction=np.asarray(values["direction"]),
        depth_mm=depth,
        source=source,
    ), notes


def carry_plan(
    plan: Plan,
    patient: PatientProfile | None,
    fit_map: FitTransfer,
    atlas: AtlasForCarrying,
    old_atlas: AtlasForCarrying,
) -> CarriedPlan:
    """``plan`` with ``patient`` as its patient and every needle carried onto the new fit.

    ``fit_map`` maps the atlas frame of the plan's current fit (``old_atlas``) to the new
    one (``atlas``), both in the right-thigh frame. See the module's docstring for the
    rules."""
    notes: list[str] = []
    needles = []
    for needle in plan.needles:
        new, needle_notes = carry_needle(needle, plan.side, fit_map, atlas, old_atlas)
        needles.append(new)
        notes += needle_notes
    return CarriedPlan(plan.with_changes(patient=patient, needles=needles), notes)
