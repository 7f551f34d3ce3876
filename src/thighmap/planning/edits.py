"""Edits of a plan as plain functions: each takes a plan (immutable) and returns a new one.

The window turns each into an undoable step; the rules that decide what an edit does
(the id of a new needle, the default needle at a skin point, the depth kept within the
needle's length) live here, once, and are tested without Qt.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from thighmap.planning.model import Needle, Plan
from thighmap.planning.resolve import direction_from_angles

DEFAULT_LENGTH_MM = 50.0  # the shortest common hamstring needle (NEEDLE_LENGTH_PRESETS_MM)
DEFAULT_GAUGE_MM = 0.25
DEFAULT_DEPTH_MM = 15.0  # a shallow first depth: through skin and fat into the muscle
MIN_DEPTH_MM = 0.1  # a needle always enters the skin a little
DEPTH_DECIMALS = 2  # depths are kept to 0.01 mm (what a slider or a drag can mean)
MIN_AIM_MM = 1.0  # a tip dragged closer than this to the entry does not aim the needle


def new_needle_id(plan: Plan, prefix: str = "n") -> str:
    """The first free id ``n1``, ``n2``, … of the plan."""
    ids = {n.id for n in plan.needles}
    k = 1
    while f"{prefix}{k}" in ids:
        k += 1
    return f"{prefix}{k}"


def clamp_depth_mm(depth_mm: float, needle_length_mm: float) -> float:
    """A depth the needle can reach: at least MIN_DEPTH_MM, at most its length, rounded
    to DEPTH_DECIMALS. A non-finite depth is refused with ValueError."""
    depth = float(depth_mm)
    if not math.isfinite(depth):
        raise ValueError(f"depth_mm must be a finite number, got {depth_mm!r}")
    return round(min(max(depth, MIN_DEPTH_MM), float(needle_length_mm)), DEPTH_DECIMALS)


def default_needle(
    needle_id: str, entry_mm: np.ndarray, inward_normal: np.ndarray, depth_mm: float = DEFAULT_DEPTH_MM
) -> Needle:
    """The needle a click on the skin places: straight in along the inward normal."""
    return Needle(
        needle_id,
        np.asarray(entry_mm, float),
        np.asarray(inward_normal, float),
        clamp_depth_mm(depth_mm, DEFAULT_LENGTH_MM),
        DEFAULT_LENGTH_MM,
        DEFAULT_GAUGE_MM,
    )


def stated_by_trigger_point(needle: Needle, trigger_point_id: str) -> Needle:
    """A needle resolved from a trigger point's technique, marked as stated by that
    trigger point (so that it is saved as one and follows the site when the patient
    changes); ``resolved`` keeps the values it resolved to."""
    resolved = {
        "entry_mm": needle.entry_mm.tolist(),
        "direction": needle.direction.tolist(),
        "depth_mm": needle.depth_mm,
        "needle_length_mm": needle.needle_length_mm,
        "gauge_mm": needle.gauge_mm,
        "target": needle.target,
    }
    source = {**needle.source, "stated": {"trigger_point": trigger_point_id}, "resolved": resolved}
    return needle.with_changes(source=source)


def add_needle(plan: Plan, needle: Needle) -> Plan:
    if any(n.id == needle.id for n in plan.needles):
        raise ValueError(f"the plan already has a needle {needle.id!r}")
    return plan.with_changes(needles=[*plan.needles, needle])


def replace_needle(plan: Plan, needle: Needle) -> Plan:
    """The plan with the needle of the same id replaced (KeyError if there is none)."""
    plan.needle(needle.id)
    return plan.with_changes(needles=[needle if n.id == needle.id else n for n in plan.needles])


def remove_needle(plan: Plan, needle_id: str) -> tuple[Plan, str | None]:
    """The plan without the needle, and the needle to select next (the one that took its
    place in the list, else the one before, else none). KeyError if there is none."""
    ids = [n.id for n in plan.needles]
    k = ids.index(needle_id) if needle_id in ids else -1
    if k < 0:
        raise KeyError(needle_id)
    keep = [n for n in plan.needles if n.id != needle_id]
    nxt = keep[min(k, len(keep) - 1)].id if keep else None
    return plan.with_changes(needles=keep), nxt


def duplicate_needle(plan: Plan, needle_id: str) -> tuple[Plan, str]:
    """The plan with a copy of the needle under a new id, placed after it; the copy is
    stated explicitly (its own values, not its original's trigger point)."""
    original = plan.needle(needle_id)
    nid = new_needle_id(plan)
    copy = original.with_changes(id=nid, source={"kind": "explicit"})
    needles: list[Needle] = []
    for n in plan.needles:
        needles.append(n)
        if n.id == needle_id:
            needles.append(copy)
    return plan.with_changes(needles=needles), nid


def set_depth(plan: Plan, needle_id: str, depth_mm: float) -> Plan:
    needle = plan.needle(needle_id)
    return replace_needle(
        plan, needle.with_changes(depth_mm=clamp_depth_mm(depth_mm, needle.needle_length_mm))
    )


def set_needle_length(plan: Plan, needle_id: str, needle_length_mm: float) -> Plan:
    """A new length; a depth beyond the new length is brought back to it."""
    needle = plan.needle(needle_id)
    length = float(needle_length_mm)
    depth = min(needle.depth_mm, length)
    return replace_needle(plan, needle.with_changes(needle_length_mm=length, depth_mm=depth))


def set_needle_fields(plan: Plan, needle_id: str, **changes: Any) -> Plan:
    """Other fields of a needle (gauge_mm, target, note, direction)."""
    if "needle_length_mm" in changes or "depth_mm" in changes:
        raise ValueError("use set_needle_length or set_depth: they keep the depth within the length")
    return replace_needle(plan, plan.needle(needle_id).with_changes(**changes))


def set_angles(
    plan: Plan, needle_id: str, tilt_deg: float, azimuth_deg: float, inward_normal: np.ndarray
) -> Plan:
    """Aim the needle by its angles to the skin normal at its entry (see
    planning.resolve.direction_from_angles); raises AngleConventionError/ValueError for
    angles that cannot be used."""
    direction = direction_from_angles(tilt_deg, azimuth_deg, inward_normal, plan.side)
    return replace_needle(plan, plan.needle(needle_id).with_changes(direction=direction))


def aim_at(plan: Plan, needle_id: str, tip_mm: np.ndarray) -> Plan | None:
    """Aim the needle at a point (its new tip): direction from the entry to the point,
    depth the distance, within the needle's length. None when the point is too close to
    the entry (MIN_AIM_MM) to give a direction."""
    needle = plan.needle(needle_id)
    v = np.asarray(tip_mm, float) - needle.entry_mm
    dist = float(np.linalg.norm(v))
    if not math.isfinite(dist) or dist < MIN_AIM_MM:
        return None
    depth = clamp_depth_mm(dist, needle.needle_length_mm)
    return replace_needle(plan, needle.with_changes(direction=v / dist, depth_mm=depth))


def next_selection(plan: Plan, wanted: str | None, current: str | None) -> str | None:
    """Which needle is selected once ``plan`` is current: ``wanted`` if the plan has it,
    else ``current`` if it still exists, else the first needle, else none."""
    ids = [n.id for n in plan.needles]
    if wanted in ids:
        return wanted
    if current in ids:
        return current
    return ids[0] if ids else None


__all__ = [
    "DEFAULT_DEPTH_MM",
    "DEFAULT_GAUGE_MM",
    "DEFAULT_LENGTH_MM",
    "MIN_DEPTH_MM",
    "add_needle",
    "aim_at",
    "clamp_depth_mm",
    "default_needle",
    "duplicate_needle",
    "new_needle_id",
    "next_selection",
    "remove_needle",
    "replace_needle",
    "set_angles",
    "set_depth",
    "set_needle_fields",
    "set_needle_length",
    "stated_by_trigger_point",
]
