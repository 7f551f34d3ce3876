"""Demonstrations: steps an instructor records into a plan (no Qt).

A step holds what the audience sees: the camera, the hidden structures and changed
opacities, which needles are shown and which is selected, whether the danger zones
are drawn, a title and a short text. The steps live in the plan file under the key
"demonstration" (an extra key of the version-1 format, kept by every load and save):

    "demonstration": {"steps": [{"title": "...", "text": "...",
        "camera": {"position": [x, y, z], "focal_point": [x, y, z], "up": [x, y, z],
                   "view_angle": 30},
        "hidden": ["skin"], "opacity": {"subcutaneous_fat": 0.1},
        "needles": ["n1"], "selected": "n1", "danger_zones": true}]}

Camera coordinates are those of the drawing (the 3D view's world), in mm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from thighmap.planning.model import Plan

DEMO_KEY = "demonstration"


class DemoError(ValueError):
    """A demonstration that cannot be used; the message names the field and the value."""


@dataclass(frozen=True)
class Camera:
    position: tuple[float, float, float]
    focal_point: tuple[float, float, float]
    up: tuple[float, float, float]
    view_angle: float = 30.0


@dataclass(frozen=True)
class DemoStep:
    title: str
    camera: Camera
    text: str = ""
    hidden: tuple[str, ...] = ()
    opacity: dict[str, float] = field(default_factory=dict)
    needles: tuple[str, ...] | None = None  # None: every needle of the plan
    selected: str | None = None
    danger_zones: bool = True


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
    }
    if step.needles is not None:
        out["needles"] = list(step.needles)
    if step.selected is not None:
        out["selected"] = step.selected
    return out


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
    zones = raw.get("danger_zones", True)
    if not isinstance(zones, bool):
        raise DemoError(f"field '{where}.danger_zones': value {zones!r}: expected true or false")
    return DemoStep(title, camera, text, hidden, opacity, needle_ids, selected, zones)


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
