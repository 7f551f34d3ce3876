"""Drawing the skin maps (safety/maps.py): the outer skin coloured per vertex, a legend,
and for the approach map the target, the best entry and its path. No Qt."""

from __future__ import annotations

import numpy as np
import pyvista as pv

from thighmap.safety.engine import SafetyModel
from thighmap.safety.maps import ApproachMap, DepthMap
from thighmap.viz import scene

# Clearance bands of the approach map beyond the caution margin (mm), light to dark green.
APPROACH_BANDS_MM: tuple[float, ...] = (5.0, 10.0, 20.0)
_GREENS = ("#b9e4a8", "#7cc46a", "#3f9e46", "#1d6b31")
_DIM = 0.45  # how far colours of entries no needle can use are blended toward grey
MAP_OPACITY = 1.0  # the map is read on the skin itself: nothing behind it should show


def _rgb(hex_colour: str) -> np.ndarray:
    h = hex_colour.lstrip("#")
    return np.array([int(h[i : i + 2], 16) for i in (0, 2, 4)], float) / 255.0


def approach_colours(amap: ApproachMap) -> np.ndarray:
    """(V,3) RGB in [0,1]: red danger, amber caution, greens by clearance beyond the
    caution margin; entries too long or too oblique for a needle are dimmed."""
    band = np.searchsorted(np.asarray(APPROACH_BANDS_MM), amap.caution_clearance_mm, side="right")
    greens = np.array([_rgb(c) for c in _GREENS])
    rgb = greens[band]
    rgb[amap.status == 1] = _rgb(scene.STATUS_COLOURS["caution"])
    rgb[amap.status == 2] = _rgb(scene.STATUS_COLOURS["danger"])
    grey = np.full(3, 0.55)
    dim = ~amap.usable
    rgb[dim] = (1 - _DIM) * rgb[dim] + _DIM * grey
    return rgb


def approach_legend() -> list[tuple[str, str]]:
    lo = (0.0, *APPROACH_BANDS_MM)
    rows = [
        ("danger zone", scene.STATUS_COLOURS["danger"]),
        ("caution margin or caution structure", scene.STATUS_COLOURS["caution"]),
    ]
    for k, colour in enumerate(_GREENS):
        rows.append(
            (
                f"{lo[k]:.0f}-{lo[k + 1]:.0f} mm clear" if k + 1 < len(lo) else f"> {lo[k]:.0f} mm clear",
                colour,
            )
        )
    rows.append(("dim: unusable", "#8c8c8c"))
    return rows


def skin_polydata(model: SafetyModel) -> pv.PolyData:
    return scene.surface_to_polydata(model.outer_skin())


def add_approach_map(plotter: pv.Plotter, model: SafetyModel, amap: ApproachMap, name: str = "map") -> None:
    poly = skin_polydata(model)
    poly.point_data["rgb"] = (approach_colours(amap) * 255).astype(np.uint8)
    plotter.add_mesh(
        poly, scalars="rgb", rgb=True, opacity=MAP_OPACITY, smooth_shading=True, name=f"{name}-skin"
    )
    target = scene.to_display(amap.target_mm)
    plotter.add_mesh(pv.Sphere(radius=3.0, center=target), color="#ffffff", name=f"{name}-target")
    if amap.best_entry_mm is not None:
        entry = scene.to_display(amap.best_entry_mm)
        plotter.add_mesh(pv.Sphere(radius=3.0, center=entry), color="#1a1a1a", name=f"{name}-best")
        plotter.add_mesh(pv.Line(entry, target), color="#1a1a1a", line_width=4, name=f"{name}-path")
    plotter.add_legend(
        [[text, colour] for text, colour in approach_legend()],
        bcolor="#20242b",
        border=True,
        face="rectangle",
        size=(0.25, 0.18),
        loc="upper left",
        name=f"{name}-legend",
    )


def add_depth_map(plotter: pv.Plotter, model: SafetyModel, dmap: DepthMap, name: str = "map") -> None:
    poly = skin_polydata(model)
    poly.point_data["max safe depth (mm)"] = dmap.max_safe_depth_mm
    plotter.add_mesh(
        poly,
        scalars="max safe depth (mm)",
        cmap="RdYlGn",
        clim=(0.0, dmap.needle_length_mm),
        opacity=MAP_OPACITY,
        smooth_shading=True,
        name=f"{name}-skin",
        scalar_bar_args={
            "title": "safe depth\n(mm)",
            "vertical": True,
            "position_x": 0.07,
            "position_y": 0.3,
            "width": 0.07,
            "height": 0.45,
            "fmt": "%.0f",
            "n_labels": 6,
            "title_font_size": 14,
            "label_font_size": 12,
            "color": "#e8eaee",
        },
    )
