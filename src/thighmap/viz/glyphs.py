"""Small shapes moved by their matrix: the needles of the window, redrawn at every edit.

A needle is drawn by a few small shapes (tubes, spheres, a cylinder, a disc, a line).
Building each one again at every change of depth or angle (PyVista sources, filters,
mappers, actors) costs far more than the safety check itself. Here every shape is built
once, in a unit frame, and shared; an actor shows it where it belongs through its 4x4
matrix (VTK's user matrix: picking, bounds and normals follow it), so an edit only sets
a few matrices and colours.

:class:`GlyphPool` keeps the named actors of one renderer between redraws: a redraw
calls :meth:`GlyphPool.begin`, :meth:`GlyphPool.put` for each shape it wants, and
:meth:`GlyphPool.end`, which removes the actors not put again. No Qt here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyvista as pv
from vtkmodules.vtkCommonMath import vtkMatrix4x4


def frame_z_to(axis: Any) -> np.ndarray:
    """(3, 3) rotation whose third column is the unit vector along ``axis`` (the unit
    frame's z); the other two complete a right-handed orthonormal frame."""
    d = np.asarray(axis, float).reshape(3)
    n = float(np.linalg.norm(d))
    if not np.isfinite(n) or n < 1e-12:
        return np.eye(3)
    d = d / n
    # y x d is x for d = z: the frame of the z axis is the identity
    helper = np.array([0.0, 1.0, 0.0]) if abs(d[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = _cross(helper, d)
    u /= np.linalg.norm(u)
    return np.column_stack([u, _cross(d, u), d])


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The cross product of two 3-vectors (np.cross costs ten times as much for one pair)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def placement(centre: Any, axis: Any = (0.0, 0.0, 1.0), scale: Any = 1.0) -> np.ndarray:
    """(4, 4) matrix taking the unit frame to ``centre``, its z along ``axis``, scaled by
    ``scale`` (one number, or one per unit axis) first."""
    m = np.eye(4)
    m[:3, :3] = frame_z_to(axis) * np.broadcast_to(np.asarray(scale, float), (3,))[None, :]
    m[:3, 3] = np.asarray(centre, float).reshape(3)
    return m


def segment_placement(a: Any, b: Any, radius: float = 1.0) -> np.ndarray:
    """(4, 4) matrix taking the unit segment (0,0,0)-(0,0,1) of radius 1 (a tube or a line
    along z) to the segment a-b of ``radius``."""
    a = np.asarray(a, float).reshape(3)
    b = np.asarray(b, float).reshape(3)
    length = float(np.linalg.norm(b - a))
    return placement(a, b - a if length > 0 else (0.0, 0.0, 1.0), (radius, radius, max(length, 1e-9)))


def unit_tube(n_sides: int) -> pv.PolyData:
    """A tube of radius 1 from (0,0,0) to (0,0,1), as ``pv.Tube`` makes it (uncapped)."""
    return pv.Tube(pointa=(0.0, 0.0, 0.0), pointb=(0.0, 0.0, 1.0), radius=1.0, n_sides=n_sides)


def unit_sphere(theta_resolution: int = 30, phi_resolution: int = 30) -> pv.PolyData:
    return pv.Sphere(radius=1.0, theta_resolution=theta_resolution, phi_resolution=phi_resolution)


def unit_line() -> pv.PolyData:
    return pv.Line((0.0, 0.0, 0.0), (0.0, 0.0, 1.0))


def with_normals(data: pv.PolyData) -> pv.PolyData:
    """Smooth-shading normals for a surface without them (lines are left as they are)."""
    if data.n_cells and data.n_lines == 0 and "Normals" not in data.point_data:
        try:
            return data.triangulate().compute_normals(cell_normals=False)
        except RuntimeError:  # degenerate tiny shapes: flat shading is fine
            return data
    return data


def _vtk_matrix(m: np.ndarray) -> vtkMatrix4x4:
    out = vtkMatrix4x4()
    out.DeepCopy(np.asarray(m, float).ravel().tolist())
    return out


class GlyphPool:
    """Named actors of one renderer, each a shared unit shape placed by its matrix."""

    def __init__(self, renderer: Any) -> None:
        self.renderer = renderer
        self.actors: dict[str, Any] = {}  # name -> actor (the names put since the last begin)
        self._shape_of: dict[str, str] = {}  # name -> the shape key its actor shows
        self._shapes: dict[str, pv.PolyData] = {}  # shape key -> unit geometry
        self._touched: set[str] = set()
        self._colour: dict[str, tuple[str, float]] = {}

    def begin(self) -> None:
        self._touched = set()

    def put(
        self,
        name: str,
        shape: str,
        make: Callable[[], pv.PolyData],
        matrix: np.ndarray,
        colour: str,
        opacity: float = 1.0,
        line_width: float | None = None,
        *,
        visible: bool = True,
    ) -> Any:
        """Show the shape keyed ``shape`` (built by ``make`` the first time) as ``name``,
        placed by ``matrix``; the actor is kept when it showed the same shape."""
        actor = self.actors.get(name)
        if actor is None or self._shape_of.get(name) != shape:
            if actor is not None:
                self.renderer.RemoveActor(actor)
            data = self._shapes.get(shape)
            if data is None:
                data = with_normals(make()) if line_width is None else make()
                self._shapes[shape] = data
            actor = pv.Actor(mapper=pv.DataSetMapper(data))
            prop = actor.prop
            if line_width is not None:
                prop.line_width = line_width
                prop.render_lines_as_tubes = True
            else:
                prop.interpolation = "gouraud"
                prop.specular = 0.4
                prop.specular_power = 25
            self.renderer.AddActor(actor)
            self.actors[name] = actor
            self._shape_of[name] = shape
            self._colour.pop(name, None)
        if self._colour.get(name) != (colour, opacity):
            actor.prop.color = colour
            actor.prop.opacity = opacity
            self._colour[name] = (colour, opacity)
        actor.SetUserMatrix(_vtk_matrix(matrix))
        actor.SetVisibility(visible)
        self._touched.add(name)
        return actor

    def end(self) -> list[str]:
        """Remove the actors not put since :meth:`begin`; their names."""
        gone = [name for name in self.actors if name not in self._touched]
        for name in gone:
            self.remove(name)
        return gone

    def remove(self, name: str) -> None:
        actor = self.actors.pop(name, None)
        if actor is not None:
            self.renderer.RemoveActor(actor)
        self._shape_of.pop(name, None)
        self._colour.pop(name, None)

    def clear(self) -> None:
        for name in list(self.actors):
            self.remove(name)


__all__ = [
    "GlyphPool",
    "frame_z_to",
    "placement",
    "segment_placement",
    "unit_line",
    "unit_sphere",
    "unit_tube",
    "with_normals",
]
