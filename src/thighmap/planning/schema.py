"""The JSON Schema of the plan file, version 1 (`thighmap schema` prints it).

Built from the same constants the loader validates with, so the two cannot drift.
The schema describes the shape; the loader checks more (a needle must be stated by
exactly one of entry+direction, angles or a trigger point; depth within the needle;
ids that exist in the atlas) and names file, needle, field and value when it refuses.
"""

from __future__ import annotations

from typing import Any

from thighmap.planning.demo import (
    DEFAULT_DURATION_S,
    DURATION_RANGE_S,
    LABEL_KINDS,
    SECTION_FOLLOW,
    SECTION_MODES,
)
from thighmap.planning.model import (
    CONTRAINDICATION_KEYS,
    COORDINATE_LIMIT_MM,
    GAUGE_RANGE_MM,
    NEEDLE_LENGTH_RANGE_MM,
    PATIENT_BOUNDS,
    SEXES,
    SIDES,
)

SCHEMA_ID = "https://thighmap.invalid/schema/thighplan-1.json"


def _vec3(description: str, *, bounded: bool = True) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "number"}
    if bounded:
        item |= {"minimum": -COORDINATE_LIMIT_MM, "maximum": COORDINATE_LIMIT_MM}
    return {"type": "array", "items": item, "minItems": 3, "maxItems": 3, "description": description}


def plan_schema() -> dict[str, Any]:
    lo_g, hi_g = GAUGE_RANGE_MM
    lo_l, hi_l = NEEDLE_LENGTH_RANGE_MM
    needle = {
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": {"type": "string", "minLength": 1, "description": "unique within the plan"},
            "trigger_point": {"type": "string", "description": "a trigger point id of the atlas"},
            "entry_mm": _vec3("entry point on the skin, mm, atlas frame"),
            "direction": _vec3("direction into the thigh; normalised, must not be zero", bounded=False),
            "angles_deg": {
                "type": "object",
                "required": ["tilt", "azimuth"],
                "properties": {
                    "tilt": {"type": "number", "minimum": 0, "exclusiveMaximum": 90},
                    "azimuth": {"type": "number"},
                },
                "description": "direction relative to the inward skin normal at entry_mm",
            },
            "depth_mm": {"type": "number", "exclusiveMinimum": 0},
            "needle_length_mm": {"type": "number", "minimum": lo_l, "maximum": hi_l},
            "gauge_mm": {"type": "number", "minimum": lo_g, "maximum": hi_g},
            "target": {"type": "string", "description": "structure id of the intended muscle"},
            "note": {"type": "string"},
        },
        "additionalProperties": True,
    }
    patient = {
        "type": "object",
        "properties": {
            **{
                key: {"type": "number", "minimum": lo, "maximum": hi}
                for key, (lo, hi) in PATIENT_BOUNDS.items()
            },
            "sex": {"enum": list(SEXES)},
        },
        "additionalProperties": True,
        "description": "fits the atlas before checking; missing measurements keep the reference adult's",
    }
    demo_step = {
        "type": "object",
        "required": ["title", "camera"],
        "properties": {
            "title": {"type": "string", "minLength": 1},
            "text": {"type": "string"},
            "camera": {
                "type": "object",
                "required": ["position", "focal_point", "up"],
                "properties": {
                    "position": _vec3("camera position in the drawing frame", bounded=False),
                    "focal_point": _vec3("point looked at", bounded=False),
                    "up": _vec3("view-up direction", bounded=False),
                    "view_angle": {"type": "number", "minimum": 1, "maximum": 120},
                },
            },
            "hidden": {"type": "array", "items": {"type": "string"}},
            "opacity": {
                "type": "object",
                "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1},
            },
            "needles": {
                "type": "array",
                "items": {"type": "string"},
                "description": "ids of the needles shown; missing: every needle",
            },
            "selected": {"type": "string"},
            "focused": {"type": "string", "description": "structure id of the outlined structure"},
            "danger_zones": {"type": "boolean"},
            "hidden_zones": {"type": "array", "items": {"type": "string"}},
            "trigger_points": {"type": "boolean"},
            "hidden_trigger_points": {"type": "array", "items": {"type": "string"}},
            "labels": {
                "type": "object",
                "properties": {k: {"type": "boolean"} for k in LABEL_KINDS},
                "additionalProperties": True,
            },
            "section": {
                "type": "object",
                "properties": {
                    "shown": {"type": "boolean"},
                    "mode": {"enum": list(SECTION_MODES)},
                    "follow": {"enum": list(SECTION_FOLLOW)},
                    "level_mm": {"type": "number"},
                },
                "additionalProperties": True,
            },
            "measurement": {
                "type": "array",
                "maxItems": 2,
                "description": "the measurement on show: one or two points (plan frame, mm)",
                "items": {
                    "type": "object",
                    "required": ["point_mm"],
                    "properties": {
                        "point_mm": _vec3("a measured point", bounded=False),
                        "on": {"type": "string", "description": "structure id of the surface"},
                    },
                    "additionalProperties": True,
                },
            },
            "referral": {
                "type": "string",
                "description": "trigger point id whose referral region is shaded; missing: none",
            },
            "duration_s": {
                "type": "number",
                "minimum": DURATION_RANGE_S[0],
                "maximum": DURATION_RANGE_S[1],
                "description": f"how long the step is held; missing: {DEFAULT_DURATION_S:g} s",
            },
        },
        "additionalProperties": True,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "thighmap plan, version 1 (.thighplan.json)",
        "description": "Millimetres; right thigh, prone: +x lateral, +y posterior, +z proximal; origin at "
        "the midpoint of the femoral epicondyles. A left plan is the mirror image in x. Unknown keys "
        "are kept on load and save.",
        "type": "object",
        "required": ["format", "version", "side", "needles"],
        "properties": {
            "format": {"const": "thighmap-plan"},
            "version": {"const": 1},
            "side": {"enum": list(SIDES)},
            "title": {"type": "string"},
            "patient": patient,
            "contraindications": {
                "type": "object",
                "properties": {key: {"type": "boolean"} for key in CONTRAINDICATION_KEYS},
                "additionalProperties": False,
            },
            "needles": {"type": "array", "items": needle},
            "demonstration": {
                "type": "object",
                "required": ["steps"],
                "properties": {"steps": {"type": "array", "items": demo_step}},
            },
        },
        "additionalProperties": True,
    }
