"""Demonstrations: steps an instructor records into a plan (no Qt).

A step holds everything the audience sees: the camera, the hidden structures and every
changed opacity (structures, danger zones "zone:<id>", trigger-point spreads "tp:<id>"),
which needles are shown (by id: a needle added after the step was recorded stays hidden
when it is played), which needle is selected and which structure outlined, the danger
zones (all, and those switched off one by one), the trigger points, the labels of
structures, landmarks and trigger points, the cross-section, a measurement on show (its
one or two points, with the structure each lies on), the trigger point whose referral
region is shaded, a title, a short text and how long the step is held in a GIF. The
steps live in the plan file under the key "demonstration" (an extra key of the version-1
format, kept by every load and save):

    "demonstration": {"steps": [{"title": "...", "text": "...", "duration_s": 3,
        "camera": {"position": [x, y, z], "focal_point": [x, y, z], "up": [x, y, z],
                   "view_angle": 30},
        "hidden": ["skin"], "opacity": {"subcutaneous_fat": 0.1, "zone:sciatic_nerve": 0.2},
        "needles": ["n1"], "selected": "n1", "focused": "sciatic_nerve",
        "danger_zones": true, "hidden_zones": ["femoral_vein"],
        "trigger_points": true, "hidden_trigger_points": ["bf_lh_prox"],
        "labels": {"structures": false, "landmarks": false, "trigger_points": false},
        "section": {"shown": true, "mode": "long", "follow": "fixed", "level_mm": 210},
        "measurement": [{"point_mm": [x, y, z], "on": "femur"}, {"point_mm": [x, y, z]}],
        "referral": "bfl_nct_mid"}]}

Every key but "title" and "camera" may be missing (plans written before a key existed
still load): a missing "needles" shows every needle, a missing "labels", "trigger_points"
or "section" leaves those as they are on screen; a missing "measurement" or "referral"
shows none (a step shows only what it recorded). Keys this version does not know are
kept. Camera coordinates are those of the drawing (the 3D view's world), in mm; measured
points are in the plan's frame, in mm.

The plain functions at the end (rename_step, move_step, duplicate_step, delete_step,
edit_step) each return a new plan; the window pushes them as undoable edits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from thighmap.planning.model import Plan

DEMO_KEY = "demonstration"
DEFAULT_DURATION_S = 3.0  # how long a step is held in a GIF when the step does not say
DURATION_RANGE_S = (0.2, 60.0)
LABEL_KINDS = ("structures", "landmarks", "trigger_points")
SECTION_MODES = ("long", "across")
SECTION_FOLLOW = ("tip", "fixed")
KNOWN_KEYS = frozenset(
    {
        "title", "text", "duration_s", "camera", "hidden", "opacity", "needles", "selected",
        "focused", "danger_zones", "hidden_zones", "trigger_points", "hidden_trigger_points",
        "labels", "section", "measurement", "referral",
    }
)  # fmt: skip


class DemoError(ValueError):
    """A demonstration that cannot be used; the message names the field and the value."""


@dataclass(frozen=True)
class Camera:
    position: tuple[float, float, float]
    focal_point: tuple[float, float, float]
    up: tuple[float, float, float]
    view_angle: float = 30.0


@dataclass(frozen=True)
class Section:
    """The cross-section panel as recorded: shown or not, its plane and its axial level."""

    shown: bool
    mode: str = "long"  # one of SECTION_MODES
    follow: str = "tip"  # one of SECTION_FOLLOW
    level_mm: float = 0.0


@dataclass(frozen=True)
class MeasuredPoint:
    """A point of a recorded measurement: where (plan frame, mm) and on which structure."""

    point_mm: tuple[float, float, float]
    on: str | None = None


@dataclass(frozen=True)
class DemoStep:
    title: str
    camera: Camera
    text: str = ""
    hidden: tuple[str, ...] = ()
    opacity: dict[str, float] = field(default_factory=dict)
    needles: tuple[str, ...] | None = None  # None (old plans): every needle of the plan
    selected: str | None = None
    danger_zones: bool = True
    duration_s: float = DEFAULT_DURATION_S
    focused: str | None = None  # the outlined structure
    hidden_zones: tuple[str, ...] = ()
    trigger_points: bool | None = None  # None (old plans): as on screen
    hidden_trigger_points: tuple[str, ...] = ()
    labels: dict[str, bool] | None = None  # LABEL_KINDS -> shown; None: as on screen
    section: Section | None = None  # None: as on screen
    measurement: tuple[MeasuredPoint, ...] = ()  # 0, 1 or 2 points on show
    referral: str | None = None  # the trigger point whose referral region is shaded
    unknown: dict[str, Any] = field(default_factory=dict)  # keys of a later version, kept

    def shows_needle(self, nid: str) -> bool:
        return self.needles is None or nid in self.needles


# ---------------------------------------------------------------------- plan <-> steps
def steps_of(plan: Plan) -> list[DemoStep]:
    """The plan's demonstration steps (DemoError names the first problem)."""
    raw = plan.extra.get(DEMO_KEY)
    if raw is None:
        return []
    if not isinstance(raw, dict) or not isinstance(raw.get("steps"), list):
        raise DemoError(f"field '{DEMO_KEY}': value {raw!r}: expected an object with a list 'steps'")
    return [_step_from_json(s, f"{DEMO_KEY}.steps[{i}]") for i, s in enumerate(raw["steps"])]


def with_steps(plan: Plan, steps: Sequence[DemoStep]) -> Plan:
    extra = dict(plan.extra)
    if steps:
        extra[DEMO_KEY] = {"steps": [step_to_json(s) for s in steps]}
    else:
        extra.pop(DEMO_KEY, None)
    return plan.with_changes(extra=extra)


def step_to_json(step: DemoStep) -> dict[str, Any]:
    out: dict[str, Any] = {
        "title": step.title,
        "text": step.text,
        "camera": {
            "position": [round(v, 3) for v in step.camera.position],
            "focal_point": [round(v, 3) for v in step.camera.focal_point],
            "up": [round(v, 6) for v in step.camera.up],
            "view_angle": step.camera.view_angle,
        },
        "hidden": list(step.hidden),
        "opacity": {k: round(v, 3) for k, v in step.opacity.items()},
        "danger_zones": step.danger_zones,
        "duration_s": round(step.duration_s, 3),
    }
    if step.needles is not None:
        out["needles"] = list(step.needles)
    if step.selected is not None:
        out["selected"] = step.selected
    if step.focused is not None:
        out["focused"] = step.focused
    if step.hidden_zones:
        out["hidden_zones"] = list(step.hidden_zones)
    if step.trigger_points is not None:
        out["trigger_points"] = step.trigger_points
    if step.hidden_trigger_points:
        out["hidden_trigger_points"] = list(step.hidden_trigger_points)
    if step.labels is not None:
        out["labels"] = dict(step.labels)
    if step.section is not None:
        out["section"] = {
            "shown": step.section.shown,
            "mode": step.section.mode,
            "follow": step.section.follow,
            "level_mm": round(step.section.level_mm, 3),
        }
    if step.measurement:
        out["measurement"] = [
            {"point_mm": [round(v, 4) for v in p.point_mm], **({"on": p.on} if p.on is not None else {})}
            for p in step.measurement
        ]
    if step.referral is not None:
        out["referral"] = step.referral
    return {**step.unknown, **out}


def _step_from_json(raw: Any, where: str) -> DemoStep:
    if not isinstance(raw, dict):
        raise DemoError(f"field '{where}': value {raw!r}: expected an object")
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip():
        raise DemoError(f"field '{where}.title': value {title!r}: expected non-empty text")
    text = raw.get("text", "")
    if not isinstance(text, str):
        raise DemoError(f"field '{where}.text': value {text!r}: expected text")
    cam = raw.get("camera")
    if not isinstance(cam, dict):
        raise DemoError(f"field '{where}.camera': value {cam!r}: expected an object")
    camera = Camera(
        position=_vec3(cam.get("position"), f"{where}.camera.position"),
        focal_point=_vec3(cam.get("focal_point"), f"{where}.camera.focal_point"),
        up=_vec3(cam.get("up"), f"{where}.camera.up"),
        view_angle=_number(cam.get("view_angle", 30.0), f"{where}.camera.view_angle", 1.0, 120.0),
    )
    if (
        np.linalg.norm(np.subtract(camera.position, camera.focal_point)) == 0
        or np.linalg.norm(camera.up) == 0
    ):
        raise DemoError(f"field '{where}.camera': value {cam!r}: the camera has no direction")
    hidden = _strings(raw.get("hidden", []), f"{where}.hidden")
    opacity_raw = raw.get("opacity", {})
    if not isinstance(opacity_raw, dict):
        raise DemoError(f"field '{where}.opacity': value {opacity_raw!r}: expected an object")
    opacity = {str(k): _number(v, f"{where}.opacity.{k}", 0.0, 1.0) for k, v in opacity_raw.items()}
    needles = raw.get("needles")
    needle_ids = None if needles is None else _strings(needles, f"{where}.needles")
    selected = raw.get("selected")
    if selected is not None and not isinstance(selected, str):
        raise DemoError(f"field '{where}.selected': value {selected!r}: expected a needle id")
    zones = _bool(raw.get("danger_zones", True), f"{where}.danger_zones")
    duration = _number(raw.get("duration_s", DEFAULT_DURATION_S), f"{where}.duration_s", *DURATION_RANGE_S)
    focused = raw.get("focused")
    if focused is not None and not isinstance(focused, str):
        raise DemoError(f"field '{where}.focused': value {focused!r}: expected a structure id")
    tps = raw.get("trigger_points")
    tps = None if tps is None else _bool(tps, f"{where}.trigger_points")
    labels_raw = raw.get("labels")
    labels = None
    if labels_raw is not None:
        if not isinstance(labels_raw, dict):
            raise DemoError(f"field '{where}.labels': value {labels_raw!r}: expected an object")
        labels = {k: _bool(labels_raw.get(k, False), f"{where}.labels.{k}") for k in LABEL_KINDS}
    return DemoStep(
        title,
        camera,
        text,
        hidden,
        opacity,
        needle_ids,
        selected,
        zones,
        duration_s=duration,
        focused=focused,
        hidden_zones=_strings(raw.get("hidden_zones", []), f"{where}.hidden_zones"),
        trigger_points=tps,
        hidden_trigger_points=_strings(
            raw.get("hidden_trigger_points", []), f"{where}.hidden_trigger_points"
        ),
        labels=labels,
        section=_section(raw.get("section"), f"{where}.section"),
        measurement=_measurement(raw.get("measurement", []), f"{where}.measurement"),
        referral=_optional_id(raw.get("referral"), f"{where}.referral", "a trigger point id"),
        unknown={k: v for k, v in raw.items() if k not in KNOWN_KEYS},
    )


def _section(raw: Any, where: str) -> Section | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise DemoError(f"field '{where}': value {raw!r}: expected an object")
    mode = raw.get("mode", "long")
    if mode not in SECTION_MODES:
        raise DemoError(f"field '{where}.mode': value {mode!r}: expected one of {', '.join(SECTION_MODES)}")
    follow = raw.get("follow", "tip")
    if follow not in SECTION_FOLLOW:
        raise DemoError(
            f"field '{where}.follow': value {follow!r}: expected one of {', '.join(SECTION_FOLLOW)}"
        )
    return Section(
        shown=_bool(raw.get("shown", False), f"{where}.shown"),
        mode=mode,
        follow=follow,
        level_mm=_number(raw.get("level_mm", 0.0), f"{where}.level_mm"),
    )


def _measurement(raw: Any, where: str) -> tuple[MeasuredPoint, ...]:
    if not isinstance(raw, list) or len(raw) > 2:
        raise DemoError(f"field '{where}': value {raw!r}: expected a list of at most two points")
    points = []
    for i, p in enumerate(raw):
        if not isinstance(p, dict):
            raise DemoError(f"field '{where}[{i}]': value {p!r}: expected an object with 'point_mm'")
        points.append(
            MeasuredPoint(
                _vec3(p.get("point_mm"), f"{where}[{i}].point_mm"),
                _optional_id(p.get("on"), f"{where}[{i}].on", "a structure id"),
            )
        )
    return tuple(points)


def _optional_id(value: Any, where: str, what: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise DemoError(f"field '{where}': value {value!r}: expected {what}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise DemoError(f"field '{where}': value {value!r}: expected true or false")
    return value


def _vec3(value: Any, where: str) -> tuple[float, float, float]:
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise DemoError(f"field '{where}': value {value!r}: expected three numbers")
    return tuple(_number(v, where) for v in value)  # type: ignore[return-value]


def _number(value: Any, where: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DemoError(f"field '{where}': value {value!r}: expected a finite number")
    if not lo <= value <= hi:
        raise DemoError(f"field '{where}': value {value!r}: expected a number from {lo:g} to {hi:g}")
    return float(value)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DemoError(f"field '{where}': value {value!r}: expected a list of ids")
    return tuple(value)


# ---------------------------------------------------------------------- camera moves
def interpolate_camera(a: Camera, b: Camera, t: float) -> Camera:
    """The camera a fraction t (0..1, eased) of the way from a to b: the focal point
    moves in a straight line, the viewing direction turns on the great circle, the
    distance and view angle change evenly, so the model does not swing through itself."""
    s = 0.5 - 0.5 * math.cos(math.pi * min(max(t, 0.0), 1.0))  # ease in and out
    fa, fb = np.asarray(a.focal_point), np.asarray(b.focal_point)
    oa, ob = np.asarray(a.position) - fa, np.asarray(b.position) - fb
    da, db = np.linalg.norm(oa), np.linalg.norm(ob)
    focal = fa + (fb - fa) * s
    direction = _slerp(oa / da, ob / db, s)
    up = _slerp(_unit(a.up), _unit(b.up), s)
    up = up - np.dot(up, direction) * direction  # keep it perpendicular to the view
    if np.linalg.norm(up) < 1e-9:
        up = _unit(b.up)
    return Camera(
        position=tuple(focal + direction * (da + (db - da) * s)),
        focal_point=tuple(focal),
        up=tuple(_unit(up)),
        view_angle=a.view_angle + (b.view_angle - a.view_angle) * s,
    )


def _unit(v: Sequence[float]) -> np.ndarray:
    arr = np.asarray(v, float)
    return arr / np.linalg.norm(arr)


def _slerp(u: np.ndarray, v: np.ndarray, s: float) -> np.ndarray:
    dot = float(np.clip(np.dot(u, v), -1.0, 1.0))
    angle = math.acos(dot)
    if angle < 1e-6:
        return _unit(u + (v - u) * s)
    if math.pi - angle < 1e-6:  # opposite: turn about any perpendicular axis
        axis = np.cross(u, [0.0, 0.0, 1.0])
        if np.linalg.norm(axis) < 1e-6:
            axis = np.cross(u, [1.0, 0.0, 0.0])
        axis = _unit(axis)
        w = np.cross(axis, u)
        return _unit(math.cos(math.pi * s) * u + math.sin(math.pi * s) * w)
    return (math.sin((1 - s) * angle) * u + math.sin(s * angle) * v) / math.sin(angle)


# ---------------------------------------------------------------------- editing steps
def _checked_steps(plan: Plan, index: int) -> list[DemoStep]:
    steps = steps_of(plan)
    if not 0 <= index < len(steps):
        raise DemoError(f"step {index + 1}: the plan has {len(steps)} step(s)")
    return steps


def _title(title: str) -> str:
    if not isinstance(title, str) or not title.strip():
        raise DemoError(f"field 'title': value {title!r}: expected non-empty text")
    return title.strip()


def rename_step(plan: Plan, index: int, title: str) -> Plan:
    """The plan with step `index` (from 0) called `title`."""
    steps = _checked_steps(plan, index)
    steps[index] = replace(steps[index], title=_title(title))
    return with_steps(plan, steps)


def edit_step(
    plan: Plan,
    index: int,
    *,
    title: str | None = None,
    text: str | None = None,
    duration_s: float | None = None,
) -> Plan:
    """The plan with step `index`'s title, text and/or duration changed."""
    steps = _checked_steps(plan, index)
    step = steps[index]
    if title is not None:
        step = replace(step, title=_title(title))
    if text is not None:
        step = replace(step, text=str(text))
    if duration_s is not None:
        step = replace(step, duration_s=_number(duration_s, "duration_s", *DURATION_RANGE_S))
    steps[index] = step
    return with_steps(plan, steps)


def move_step(plan: Plan, index: int, to: int) -> Plan:
    """The plan with step `index` moved to position `to` (both from 0; `to` is clamped)."""
    steps = _checked_steps(plan, index)
    step = steps.pop(index)
    steps.insert(max(0, min(to, len(steps))), step)
    return with_steps(plan, steps)


def move_step_up(plan: Plan, index: int) -> Plan:
    return move_step(plan, index, index - 1)


def move_step_down(plan: Plan, index: int) -> Plan:
    return move_step(plan, index, index + 1)


def duplicate_step(plan: Plan, index: int) -> Plan:
    """The plan with a copy of step `index` right after it, titled "... (copy)"."""
    steps = _checked_steps(plan, index)
    steps.insert(index + 1, replace(steps[index], title=f"{steps[index].title} (copy)"))
    return with_steps(plan, steps)


def delete_step(plan: Plan, index: int) -> Plan:
    steps = _checked_steps(plan, index)
    del steps[index]
    return with_steps(plan, steps)
