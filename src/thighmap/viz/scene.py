"""Scene building blocks: anatomical colours, the display transform, and PyVista meshes.

Display transform. The atlas frame (+x lateral, +y posterior, +z proximal for a right
thigh) is a left-handed arrangement of the body's directions, while VTK draws in a
right-handed world. Drawing the numbers as they are would show the mirror image of a
right thigh (lateral on the viewer's left in a posterior view). Every point is
therefore drawn at (-x, y, z): the picture is anatomically correct, and picks are
mapped back with the same (self-inverse) transform. Left-thigh atlases are mirrored in
x in their files, so the same transform shows them correctly too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pyvista as pv

from thighmap import sides
from thighmap.anatomy.meshgen import SurfaceMesh

KIND_COLOURS: dict[str, str] = {
    "muscle": "#a3483a",
    "tendon": "#ece6d6",
    "bone": "#f0e6cc",
    "nerve": "#f2cd32",
    "artery": "#d42a2a",
    "vein": "#3056c8",
    "skin": "#e9bfa3",
    "fat": "#f3d98f",
    "fascia": "#d8d2c4",
}
STATUS_COLOURS: dict[str, str] = {"safe": "#1f9e4a", "caution": "#e8a317", "danger": "#d7263d"}
CAUTION_RULE = "caution_structure"  # the safety engine's finding of a caution structure reached
CAUTION_COLOUR = STATUS_COLOURS["caution"]  # caution structures' zones, group swatch, labels
CAUTION_PALE = 0.5  # a caution structure's colour: its kind's colour this far towards white
ROLE_COLOURS: dict[str, str] = {
    "danger": STATUS_COLOURS["danger"],
    "caution": STATUS_COLOURS["caution"],
    "target": "#4a7bd0",
    "context": "#9aa3ad",
}
MUSCLE_TINTS: dict[str, str] = {
    "biceps_femoris_long_head": "#a3483a",
    "biceps_femoris_short_head": "#8f3b30",
    "semitendinosus": "#b4574a",
    "semimembranosus": "#9a4034",
    "adductor_magnus": "#874338",
}
TRIGGER_POINT_COLOURS: dict[str, str] = {
    "biceps_femoris_long_head": "#ff7f0e",
    "biceps_femoris_short_head": "#9467bd",
    "semitendinosus": "#17becf",
    "semimembranosus": "#2ca02c",
    "adductor_magnus": "#e377c2",
}
DEFAULT_OPACITY: dict[str, float] = {"skin": 0.18, "fat": 0.12, "fascia": 0.07}
ZONE_OPACITY = 0.13  # danger and caution zones: an envelope to see through
SPREAD_OPACITY = 0.22  # a trigger point's spread sphere


def to_display(points: np.ndarray) -> np.ndarray:
    """Atlas frame -> drawing frame (mirror x); also its own inverse."""
    return sides.mirror_points(points)


from_display = to_display


def surface_to_polydata(mesh: SurfaceMesh) -> pv.PolyData:
    """PyVista surface in the drawing frame, outward-oriented, with smooth normals."""
    faces = mesh.faces[:, ::-1]  # mirroring flips orientation; reverse to keep it outward
    cells = np.hstack([np.full((len(faces), 1), 3), faces]).astype(np.int64).ravel()
    poly = pv.PolyData(to_display(mesh.vertices), cells)
    return poly.compute_normals(
        cell_normals=False, point_normals=True, split_vertices=False, auto_orient_normals=False
    )


def polyline(points: Iterable[np.ndarray]) -> pv.PolyData:
    return pv.lines_from_points(to_display(np.asarray(list(points), float)))


# ---------------------------------------------------------------- measurement, referral
MEASURE_COLOUR = "#ffd54a"  # the measuring tool's points, line and label box
MEASURE_TEXT = "#1a1a1a"
MEASURE_POINT_MM = 2.4  # radius of a measured point's marker
REFERRAL_COLOUR = (235, 70, 255)  # a trigger point's referral region (magenta: apart from muscle red)
REFERRAL_MAX_ALPHA = 0.75  # opacity where the region's weight is 1
REFERRAL_LIFT_MM = 0.6  # drawn this far out of the skin, so that it is not hidden in it


def measurement_shapes(points_mm: Iterable[np.ndarray]) -> list[pv.PolyData]:
    """The measuring tool's picked points (plan frame) as markers, and for two, the line
    between them (drawing frame)."""
    pts = [to_display(np.asarray(p, float)) for p in points_mm]
    shapes = [
        pv.Sphere(radius=MEASURE_POINT_MM, center=p, theta_resolution=16, phi_resolution=12) for p in pts
    ]
    if len(pts) == 2:
        shapes.append(pv.Line(pts[0], pts[1]))
    return shapes


def referral_shading(skin: SurfaceMesh, weights: Any) -> pv.PolyData | None:
    """The skin's faces a referral region covers, lifted out of the skin, with an RGBA
    point array "referral" (its colour, opacity by weight); None when it covers none.
    ``weights``: one per skin vertex, 0..1."""
    poly = surface_to_polydata(skin)
    w = np.clip(np.asarray(weights, float), 0.0, 1.0)
    if w.shape != (poly.n_points,):
        raise ValueError(f"expected one weight per skin vertex ({poly.n_points}), got {w.shape}")
    poly.points = poly.points + poly.point_data["Normals"] * REFERRAL_LIFT_MM
    rgba = np.zeros((len(w), 4), np.uint8)
    rgba[:, :3] = REFERRAL_COLOUR
    rgba[:, 3] = np.round(w * REFERRAL_MAX_ALPHA * 255).astype(np.uint8)
    faces = poly.regular_faces
    shaded = faces[w[faces].max(axis=1) > 0.01]
    if len(shaded) == 0:
        return None
    part = pv.PolyData(poly.points, np.hstack([np.full((len(shaded), 1), 3), shaded]).ravel())
    part.point_data["referral"] = rgba
    part.point_data["Normals"] = poly.point_data["Normals"]
    return part


# A muscle's cord-like parts are drawn as tendon: rings of mean radius below TENDON_MM
# fully, blending into muscle up to BELLY_MM (chosen: the hamstring tendons are about
# 4-8 mm across, their bellies several centimetres).
TENDON_MM, BELLY_MM = 4.5, 6.5


def tendon_weights(structure: Any, mesh: SurfaceMesh) -> np.ndarray | None:
    """Per vertex, 0 (muscle) to 1 (tendon), from the radius of the loft's rings or, for a
    packed muscle, of the sections its recipe draws; None for other surfaces."""
    from thighmap.anatomy.meshgen import LOFT_CAP_STEPS

    recipe = getattr(structure, "recipe", {}) or {}
    if recipe.get("type") == "packed":
        return _packed_tendon_weights(structure, mesh)
    n = int(recipe.get("segments", 0)) if recipe.get("type") == "loft" else 0
    v = mesh.vertices
    if n <= 0 or (len(v) - 2) % n != 0:
        return None
    rings = v[:-2].reshape(-1, n, 3)
    radius = np.linalg.norm(rings - rings.mean(axis=1, keepdims=True), axis=2).mean(axis=1)
    cap = LOFT_CAP_STEPS - 1
    if len(radius) <= 2 * cap:
        return None
    radius[:cap] = radius[cap]  # the end domes take their neighbour's value
    radius[-cap:] = radius[-cap - 1]
    w = np.clip((BELLY_MM - radius) / (BELLY_MM - TENDON_MM), 0.0, 1.0)
    w = w * w * (3 - 2 * w)
    return np.concatenate([np.repeat(w, n), [w[0], w[-1]]])


def _packed_tendon_weights(structure: Any, mesh: SurfaceMesh) -> np.ndarray:
    """A packed muscle's tendon weights: from the mean radius of the section its recipe
    draws at each vertex's level (the packing keeps a tendon's drawn section, see
    anatomy/packing.py, so where the drawing is a cord the surface is one)."""
    from thighmap.anatomy.packing import member_from_recipe

    member = member_from_recipe(structure.id, structure.recipe)
    drawn = np.sqrt(member.half_width * member.half_depth)
    radius = np.interp(mesh.vertices[:, 2], member.z, drawn)
    w = np.clip((BELLY_MM - radius) / (BELLY_MM - TENDON_MM), 0.0, 1.0)
    return w * w * (3 - 2 * w)


def structure_colours(structure: Any, sid: str, mesh: SurfaceMesh) -> np.ndarray | None:
    """Per-vertex RGB (0-255) for a muscle with tendons, else None (one colour)."""
    if structure.kind != "muscle":
        return None
    w = tendon_weights(structure, mesh)
    if w is None or not np.any(w > 0):
        return None
    muscle = _hex_rgb(structure_colour("muscle", sid))
    tendon = _hex_rgb(KIND_COLOURS["tendon"])
    return ((1 - w)[:, None] * muscle + w[:, None] * tendon).astype(np.uint8)


def _hex_rgb(colour: str) -> np.ndarray:
    h = colour.lstrip("#")
    return np.array([int(h[i : i + 2], 16) for i in (0, 2, 4)], float)


def structure_colour(kind: str, sid: str, role: str | None = None) -> str:
    """A structure's colour: its kind's (a muscle's own tint); a caution structure (a
    cutaneous nerve, a superficial vein) is its kind's colour paled towards white, so that
    it stands apart from the danger nerves and vessels of the same kind."""
    if kind == "muscle":
        return MUSCLE_TINTS.get(sid, KIND_COLOURS["muscle"])
    colour = KIND_COLOURS.get(kind, "#cccccc")
    if role == "caution":
        return _paler(colour, CAUTION_PALE)
    return colour


def colour_of(structure: Any) -> str:
    """``structure_colour`` of an atlas structure (by its kind, id and role)."""
    return structure_colour(structure.kind, structure.id, getattr(structure, "role", None))


def zone_colour(structure: Any) -> str:
    """The colour of a structure's zone: a danger structure's zone takes the structure's
    colour, a caution structure's the caution colour (amber)."""
    if getattr(structure, "role", None) == "caution":
        return CAUTION_COLOUR
    return colour_of(structure)


def role_colour(role: str) -> str:
    """The colour that marks a role in lists and tables (danger red, caution amber)."""
    return ROLE_COLOURS.get(role, "#9aa3ad")


def caution_reached(report: Any) -> Any | None:
    """A needle report's nearest caution structure (its ``nearest_caution``), when a
    caution finding names it; None otherwise (and for a report without caution checks)."""
    nc = getattr(report, "nearest_caution", None)
    if nc is None:
        return None
    named = any(f.rule == CAUTION_RULE and f.structure == nc.structure for f in report.findings)
    return nc if named else None


def structures_with_role(atlas: Any, role: str) -> list[Any]:
    """The atlas's structures of a role, in atlas order (from ``atlas.structures``, so a
    mirrored atlas answers the same)."""
    return [st for st in atlas.structures.values() if st.role == role]


def zoned_structures(atlas: Any) -> list[Any]:
    """The structures drawn with a zone (the structure grown by its positional
    uncertainty): the danger structures, then the caution structures, those with a safety
    block (an atlas without caution structures has danger zones only)."""
    return [
        st
        for role in ("danger", "caution")
        for st in structures_with_role(atlas, role)
        if getattr(st, "safety", None) is not None
    ]


def _paler(colour: str, amount: float) -> str:
    r, g, b = _hex_rgb(colour)
    return "#" + "".join(f"{round(c + (255 - c) * amount):02x}" for c in (r, g, b))


# Camera presets, in the drawing frame (x already mirrored): position direction, view-up.
CAMERA_PRESETS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "posterior": ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    "anterior": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
    # lateral of a right thigh is +x in the atlas, -x in the drawing frame
    "lateral": ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "medial": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "axial_from_below": ((0.0, 0.0, -1.0), (0.0, 1.0, 0.0)),
    "axial_from_above": ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0)),
}


def orientation_cube(side: str = "right") -> Any:
    """A cube whose faces name the anatomical directions, for the orientation marker.

    In the drawing frame +x is medial for a right thigh (lateral for a left one), +y
    posterior and +z proximal."""
    from vtkmodules.vtkRenderingAnnotation import vtkAnnotatedCubeActor  # not all of vtk

    cube = vtkAnnotatedCubeActor()
    medial, lateral = ("Med", "Lat") if side == "right" else ("Lat", "Med")
    cube.SetXPlusFaceText(medial)
    cube.SetXMinusFaceText(lateral)
    cube.SetYPlusFaceText("Post")
    cube.SetYMinusFaceText("Ant")
    cube.SetZPlusFaceText("Prox")
    cube.SetZMinusFaceText("Dist")
    cube.SetFaceTextScale(0.22)
    cube.GetCubeProperty().SetColor(0.32, 0.36, 0.44)
    cube.GetTextEdgesProperty().SetColor(0.85, 0.87, 0.9)
    for prop in (
        cube.GetXPlusFaceProperty(),
        cube.GetXMinusFaceProperty(),
        cube.GetYPlusFaceProperty(),
        cube.GetYMinusFaceProperty(),
        cube.GetZPlusFaceProperty(),
        cube.GetZMinusFaceProperty(),
    ):
        prop.SetColor(1.0, 1.0, 1.0)
    return cube
