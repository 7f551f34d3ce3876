"""Needles, landmarks and trigger points as 3D Slicer Markups files (.mrk.json).

The documents follow Slicer's markups schema, version 1.0.3
(Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.3.json in the 3D Slicer
repository; a copy is in tests/data/ for the tests): a ``Line`` markup per needle with
its entry and tip as the two control points, and ``Fiducial`` markups for point lists.
Positions are in the file's ``coordinateSystem`` (LPS or RAS), in mm.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thighmap.export.frames import to_space

MARKUPS_SCHEMA_URL = (
    "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/"
    "Schema/markups-schema-v1.0.3.json#"
)
STATUS_RGB: dict[str, tuple[float, float, float]] = {  # as the window draws them (viz.scene)
    "safe": (0x1F / 255, 0x9E / 255, 0x4A / 255),
    "caution": (0xE8 / 255, 0xA3 / 255, 0x17 / 255),
    "danger": (0xD7 / 255, 0x26 / 255, 0x3D / 255),
}


def _position(point_mm: np.ndarray, space: str) -> list[float]:
    return [round(float(v), 4) for v in to_space(point_mm, space)]


def _control_point(index: int, label: str, description: str, position: list[float]) -> dict[str, Any]:
    return {
        "id": str(index + 1),
        "label": label,
        "description": description,
        "associatedNodeID": "",
        "position": position,
        "selected": True,
        "locked": True,
        "visibility": True,
        "positionStatus": "defined",
    }


def _display(colour: tuple[float, float, float], labels: bool) -> dict[str, Any]:
    rgb = [round(c, 4) for c in colour]
    return {
        "visibility": True,
        "opacity": 1.0,
        "color": rgb,
        "selectedColor": rgb,
        "activeColor": [0.4, 1.0, 0.0],
        "propertiesLabelVisibility": labels,
        "pointLabelsVisibility": labels,
        "textScale": 3.0,
        "glyphType": "Sphere3D",
        "glyphScale": 1.0,
        "glyphSize": 3.0,
        "useGlyphScale": True,
        "sliceProjection": False,
        "lineThickness": 0.2,
    }


def document(markups: list[dict[str, Any]]) -> dict[str, Any]:
    return {"@schema": MARKUPS_SCHEMA_URL, "markups": markups}


def needle_status_text(report: Any, names: dict[str, str]) -> str:
    """One paragraph: status, nearest danger structure and clearance (and the nearest
    caution structure, a cutaneous nerve or superficial vein, when the report has one),
    maximum safe depth."""
    nd = report.nearest_danger
    nearest = (
        f"nearest danger structure {names.get(nd.structure, nd.structure)} ({nd.structure}), "
        f"clearance {nd.clearance_mm:.1f} mm"
        if nd is not None
        else "no danger structure near"
    )
    nc = getattr(report, "nearest_caution", None)
    if nc is not None:
        nearest += (
            f"; nearest caution structure {names.get(nc.structure, nc.structure)} ({nc.structure}), "
            f"clearance {nc.clearance_mm:.1f} mm"
        )
    return (
        f"thighmap check: {report.status.upper()}; {nearest}; maximum safe depth "
        f"{report.max_safe_depth_mm:.1f} mm (planned {report.depth_mm:.1f} mm, needle "
        f"{report.needle_length_mm:.0f} mm x {report.gauge_mm:.2f} mm). {report.key_sentence()}"
    )


def needle_markup(report: Any, space: str, names: dict[str, str]) -> dict[str, Any]:
    """A Line markup from a checked needle (safety.report.NeedleReport), entry then tip."""
    text = needle_status_text(report, names)
    tip_in = names.get(report.tip_in, report.tip_in) if report.tip_in else "no structure"
    entry = _control_point(
        0, f"{report.id} entry", f"Entry on the skin. {text}", _position(report.entry_mm, space)
    )
    tip = _control_point(
        1,
        f"{report.id} tip",
        f"Tip at the planned depth {report.depth_mm:.1f} mm, in {tip_in}. {text}",
        _position(report.tip_mm, space),
    )
    return {
        "type": "Line",
        "name": f"{report.id} ({report.status})",
        "description": text,
        "coordinateSystem": space,
        "coordinateUnits": "mm",
        "locked": True,
        "fixedNumberOfControlPoints": True,
        "labelFormat": "%N-%d",
        "controlPoints": [entry, tip],
        "measurements": [{"name": "length", "enabled": True, "units": "mm", "printFormat": "%-#4.4g%s"}],
        "display": _display(STATUS_RGB[report.status], labels=True),
        "thighmap": {
            "status": report.status,
            "nearest_danger": None
            if report.nearest_danger is None
            else {
                "structure": report.nearest_danger.structure,
                "clearance_mm": round(float(report.nearest_danger.clearance_mm), 3),
            },
            "nearest_caution": nearest_json(getattr(report, "nearest_caution", None)),
            "max_safe_depth_mm": round(float(report.max_safe_depth_mm), 3),
            "depth_mm": round(float(report.depth_mm), 3),
            "target": report.target,
        },
    }


def nearest_json(nearest: Any) -> dict[str, Any] | None:
    """A report's nearest danger or caution structure as the export writes it."""
    if nearest is None:
        return None
    return {"structure": nearest.structure, "clearance_mm": round(float(nearest.clearance_mm), 3)}


def point_list_markup(
    name: str,
    points: list[tuple[str, str, np.ndarray]],
    space: str,
    colour: tuple[float, float, float] = (0.4, 1.0, 1.0),
) -> dict[str, Any]:
    """A Fiducial markup: ``points`` are (label, description, position in thighmap's frame)."""
    return {
        "type": "Fiducial",
        "name": name,
        "coordinateSystem": space,
        "coordinateUnits": "mm",
        "locked": True,
        "fixedNumberOfControlPoints": True,
        "labelFormat": "%N-%d",
        "controlPoints": [
            _control_point(i, label, text, _position(p, space)) for i, (label, text, p) in enumerate(points)
        ],
        "display": _display(colour, labels=True),
    }
