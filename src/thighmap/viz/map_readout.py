"""What a skin map says at a point of the skin (no Qt): its value there, interpolated from
the map's per-vertex values over the face under the point, with its unit and the map's
name, for the window's read-out under the cursor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from thighmap.anatomy.meshgen import SurfaceMesh
from thighmap.safety.maps import ApproachMap, DepthMap
from thighmap.viz import probe

STATUS_WORDS = ("clear of every caution zone", "within a caution margin", "in a danger zone")


@dataclass(frozen=True)
class MapLayer:
    """One skin map as read under the cursor: one value per vertex of ``skin``."""

    name: str  # "Depth map", "Approach map to BFlh mid"
    quantity: str  # what the value is
    unit: str
    skin: SurfaceMesh  # the outer skin the map was computed on (plan frame)
    values: np.ndarray  # (V,)
    status: np.ndarray | None = None  # (V,) 0 safe, 1 caution, 2 danger (approach map)


@dataclass(frozen=True)
class MapReading:
    value: float
    point_mm: np.ndarray  # the skin point read
    text: str  # for the status bar and the tooltip


def depth_layer(dmap: DepthMap, skin: SurfaceMesh) -> MapLayer:
    return MapLayer("Depth map", "max safe depth", "mm", skin, np.asarray(dmap.max_safe_depth_mm, float))


def approach_layer(amap: ApproachMap, skin: SurfaceMesh, target: str) -> MapLayer:
    return MapLayer(
        f"Approach map to {target}",
        "path's clearance beyond the nearest caution zone",
        "mm",
        skin,
        np.asarray(amap.caution_clearance_mm, float),
        np.asarray(amap.status),
    )


def read(layer: MapLayer, point_mm: np.ndarray) -> MapReading:
    """The map's value at the skin point nearest ``point_mm`` (linear over its face, as
    the colours are drawn); an approach map adds the status of the face's nearest vertex."""
    value, at = probe.value_at(layer.skin, layer.values, point_mm)
    text = f"{layer.name}: {layer.quantity} {value:.1f} {layer.unit} here"
    if layer.status is not None:
        corner = int(np.asarray(layer.skin.faces)[at.face][int(np.argmax(at.weights))])
        text += f" (path {STATUS_WORDS[int(layer.status[corner])]})"
    return MapReading(value, at.point_mm, text)


__all__ = ["MapLayer", "MapReading", "approach_layer", "depth_layer", "read"]
