"""Unit shapes placed by their matrix (viz.glyphs): the needles of the window are moved,
not rebuilt, and must land where PyVista's own shapes would."""

from __future__ import annotations

import numpy as np
import pyvista as pv
from hypothesis import given, settings
from hypothesis import strategies as st
from vtkmodules.vtkRenderingCore import vtkRenderer

from thighmap.viz import glyphs

coord = st.floats(-300.0, 300.0, allow_nan=False)
point = st.tuples(coord, coord, coord)


def transformed(data: pv.PolyData, matrix: np.ndarray) -> np.ndarray:
    p = np.asarray(data.points, float)
    return p @ matrix[:3, :3].T + matrix[:3, 3]


@settings(max_examples=80, deadline=None)
@given(a=point, b=point, radius=st.floats(0.1, 5.0))
def test_a_unit_tube_lands_on_the_segment(a, b, radius) -> None:  # type: ignore[no-untyped-def]
    a, b = np.array(a), np.array(b)
    length = np.linalg.norm(b - a)
    if length < 1e-3:
        return
    pts = transformed(glyphs.unit_tube(12), glyphs.segment_placement(a, b, radius))
    d = (b - a) / length
    t = (pts - a) @ d
    radial = np.linalg.norm((pts - a) - np.outer(t, d), axis=1)
    assert np.allclose(radial, radius, rtol=1e-6, atol=1e-6 * (1 + length))
    assert abs(t.min()) < 1e-6 * (1 + length)
    assert abs(t.max() - length) < 1e-6 * (1 + length)
    # the same surface pv.Tube makes: same extent along and around the axis
    ref = pv.Tube(pointa=a, pointb=b, radius=radius, n_sides=12).points
    t_ref = (ref - a) @ d
    assert np.allclose([t_ref.min(), t_ref.max()], [t.min(), t.max()], atol=1e-6 * (1 + length))


@settings(max_examples=50, deadline=None)
@given(axis=point)
def test_the_frame_is_a_rotation_onto_the_axis(axis) -> None:  # type: ignore[no-untyped-def]
    axis = np.array(axis)
    r = glyphs.frame_z_to(axis)
    assert np.allclose(r.T @ r, np.eye(3), atol=1e-9)
    assert np.linalg.det(r) > 0
    if np.linalg.norm(axis) > 1e-9:
        assert np.allclose(r[:, 2], axis / np.linalg.norm(axis))


def test_the_frame_of_the_z_axis_is_the_identity() -> None:
    assert np.array_equal(glyphs.frame_z_to((0.0, 0.0, 2.0)), np.eye(3))


def test_a_sphere_placed_is_the_sphere_pyvista_makes() -> None:
    centre, radius = np.array([3.0, -40.0, 210.0]), 1.8
    pts = transformed(glyphs.unit_sphere(), glyphs.placement(centre, scale=radius))
    ref = pv.Sphere(radius=radius, center=centre).points
    assert np.allclose(np.sort(pts, axis=0), np.sort(ref, axis=0), atol=1e-4)  # float32 points


def test_the_pool_moves_its_actors_and_removes_those_not_put_again() -> None:
    ren = vtkRenderer()
    pool = glyphs.GlyphPool(ren)
    made: list[int] = []

    def tube() -> pv.PolyData:
        made.append(1)
        return glyphs.unit_tube(12)

    pool.begin()
    first = pool.put("needle:n1", "tube", tube, glyphs.segment_placement((0, 0, 0), (0, 0, 10)), "#ff0000")
    pool.put("needle:n2", "tube", tube, glyphs.segment_placement((5, 0, 0), (5, 0, 10)), "#00ff00")
    assert pool.end() == []
    assert len(made) == 1  # the shape is built once and shared
    bounds = first.GetBounds()
    assert abs(bounds[5] - bounds[4] - 10.0) < 1e-6  # the matrix places it

    pool.begin()
    again = pool.put("needle:n1", "tube", tube, glyphs.segment_placement((0, 0, 0), (0, 0, 25)), "#ff0000")
    assert again is first  # moved, not rebuilt
    assert abs(again.GetBounds()[5] - 25.0) < 1e-6
    assert pool.end() == ["needle:n2"]
    assert ren.GetActors().GetNumberOfItems() == 1

    pool.begin()
    other = pool.put("needle:n1", "sphere", glyphs.unit_sphere, glyphs.placement((0, 0, 0)), "#ff0000")
    assert other is not first  # another shape: another actor
    pool.end()
    assert ren.GetActors().GetNumberOfItems() == 1
    pool.clear()
    assert ren.GetActors().GetNumberOfItems() == 0 and not pool.actors
