"""Drawing a checked needle: shaft coloured by status, the closest point on the nearest
danger structure joined to the needle (and, in amber, on a caution structure a caution
finding names), and a marker at the maximum safe depth."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyvista as pv

from thighmap.safety.report import NeedleReport
from thighmap.viz import scene


def needle_actors_for_report(
    report: NeedleReport, shaft_radius_mm: float = 0.6
) -> list[tuple[pv.DataSet, dict[str, Any]]]:
    """(dataset, add_mesh keyword arguments) pairs, in the drawing frame.

    The shaft is drawn thicker than a real 0.25 mm needle so that it can be seen.
    """
    colour = scene.STATUS_COLOURS[report.status]
    entry, tip = report.entry_mm, report.tip_mm
    handle = entry - report.direction * (report.needle_length_mm - report.depth_mm)
    out: list[tuple[pv.DataSet, dict[str, Any]]] = []
    a, b = scene.to_display(np.array([entry, tip]))
    inserted = pv.Tube(pointa=a, pointb=b, radius=shaft_radius_mm, n_sides=12)
    out.append((inserted, {"color": colour, "smooth_shading": True}))
    a, b = scene.to_display(np.array([handle, entry]))
    outside = pv.Tube(pointa=a, pointb=b, radius=shaft_radius_mm, n_sides=12)
    out.append((outside, {"color": "#c8c8c8", "smooth_shading": True}))
    out.append((pv.Sphere(radius=1.6, center=scene.to_display(handle)), {"color": "#8a8a8a"}))
    nd = report.nearest_danger
    if nd is not None:
        a = scene.to_display(nd.point_on_needle_mm)
        b = scene.to_display(nd.point_on_structure_mm)
        out.append((pv.Line(a, b), {"color": colour, "line_width": 3}))
        out.append((pv.Sphere(radius=1.2, center=b), {"color": colour}))
    nc = scene.caution_reached(report)  # a cutaneous nerve or superficial vein reached: amber
    if nc is not None:
        a = scene.to_display(nc.point_on_needle_mm)
        b = scene.to_display(nc.point_on_structure_mm)
        out.append((pv.Line(a, b), {"color": scene.CAUTION_COLOUR, "line_width": 3}))
        out.append((pv.Sphere(radius=1.2, center=b), {"color": scene.CAUTION_COLOUR}))
    if report.max_safe_depth_mm < report.needle_length_mm:
        p = scene.to_display(report.entry_mm + report.direction * report.max_safe_depth_mm)
        out.append((pv.Sphere(radius=1.4, center=p), {"color": "#ffffff"}))
    return out
