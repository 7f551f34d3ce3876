"""The measuring tool's and the map read-out's geometry (viz.probe, viz.measure): no Qt."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thighmap.anatomy.meshgen import SurfaceMesh
from thighmap.viz import probe
from thighmap.viz.measure import Measurement, distance_mm, distance_text


def _square() -> SurfaceMesh:
    """Two triangles of the unit-10 square in z = 0."""
    v = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [10.0, 10.0, 0.0], [0.0, 10.0, 0.0]])
    return SurfaceMesh(v, np.array([[0, 1, 2], [0, 2, 3]]))


@settings(max_examples=60, deadline=None)
@given(
    st.floats(0.0, 10.0),
    st.floats(0.0, 10.0),
    st.tuples(*[st.floats(-100.0, 100.0)] * 4),
)
def test_value_at_reproduces_a_linear_field(x: float, y: float, coeffs: tuple[float, ...]) -> None:
    """A field linear in x and y, given at the vertices, is read back exactly anywhere on the
    square (barycentric interpolation is exact for linear fields), and above it too."""
    mesh = _square()
    a, b, c, _ = coeffs
    values = a * mesh.vertices[:, 0] + b * mesh.vertices[:, 1] + c
    got, at = probe.value_at(mesh, values, [x, y, 3.0])
    assert got == pytest.approx(a * x + b * y + c, abs=1e-9 * (1 + abs(a) + abs(b) + abs(c)) * 20)
    assert at.distance_mm == pytest.approx(3.0)
    assert np.allclose(at.point_mm, [x, y, 0.0])


def test_value_at_on_the_skin_matches_the_vertex_values(atlas) -> None:
    """At a vertex of the skin the value is that vertex's; halfway along an edge, the mean."""
    mesh = atlas.mesh("skin")
    rng = np.random.default_rng(3)
    values = rng.normal(size=len(mesh.vertices))
    for f in rng.choice(len(mesh.faces), 5, replace=False):
        i, j, _k = mesh.faces[f]
        got, _ = probe.value_at(mesh, values, mesh.vertices[i])
        assert got == pytest.approx(values[i], abs=1e-9)
        mid = 0.5 * (mesh.vertices[i] + mesh.vertices[j])
        got, _ = probe.value_at(mesh, values, mid)
        assert got == pytest.approx(0.5 * (values[i] + values[j]), abs=1e-6)


def test_value_at_refuses_values_of_another_mesh() -> None:
    with pytest.raises(ValueError, match="one value per vertex"):
        probe.value_at(_square(), [1.0, 2.0], [0, 0, 0])


def test_structure_at_names_the_surface_a_point_lies_on(atlas) -> None:
    for sid in ("semitendinosus", "femur", "skin"):
        mesh = atlas.mesh(sid)
        face = mesh.faces[len(mesh.faces) // 3]
        point = mesh.vertices[face].mean(axis=0)  # on a face of that structure
        named = probe.structure_at(atlas, point, atlas.structures)
        # that structure, or a neighbour sharing the face (packed muscles share their
        # boundary faces, so the point lies on both surfaces)
        assert named == sid or probe.nearest_on_surface(atlas.mesh(named), point).distance_mm < 1e-6, named
        # only the visible ones are asked: with that structure hidden, not it
        others = [s for s in atlas.structures if s != sid]
        hidden = probe.structure_at(atlas, point, others)
        assert hidden != sid
        if hidden is not None:
            assert probe.nearest_on_surface(atlas.mesh(hidden), point).distance_mm <= probe.ON_SURFACE_MM
    far = np.array([0.0, 0.0, 5000.0])
    assert probe.structure_at(atlas, far, atlas.structures) is None


def test_a_third_pick_starts_a_new_measurement() -> None:
    m = Measurement()
    heard: list[int] = []
    m.changed.connect(lambda: heard.append(len(m.points)))
    m.add(np.array([0.0, 0.0, 0.0]), "skin")
    assert not m.complete and m.distance_mm is None
    m.add(np.array([3.0, 4.0, 12.0]), "femur")
    assert m.complete and m.distance_mm == pytest.approx(13.0)
    assert distance_text(m.distance_mm) == "13.0 mm"
    m.add(np.array([1.0, 1.0, 1.0]), None)
    assert len(m.points) == 1 and m.distance_mm is None
    m.clear()
    m.clear()  # nothing left: no second signal
    assert heard == [1, 2, 1, 0]
    with pytest.raises(ValueError, match="finite"):
        m.add(np.array([np.nan, 0.0, 0.0]), None)


def test_a_recorded_measurement_is_shown_at_once() -> None:
    m = Measurement()
    heard: list[int] = []
    m.changed.connect(lambda: heard.append(len(m.points)))
    m.set_points([(np.array([0.0, 0.0, 0.0]), "skin"), (np.array([0.0, 6.0, 8.0]), None)])
    assert heard == [2] and m.distance_mm == pytest.approx(10.0)
    assert [p.structure for p in m.points] == ["skin", None]
    with pytest.raises(ValueError, match="at most two"):
        m.set_points([(np.zeros(3), None)] * 3)
    with pytest.raises(ValueError, match="finite"):
        m.set_points([(np.array([0.0, np.inf, 0.0]), None)])
    assert m.distance_mm == pytest.approx(10.0)  # a refused measurement changes nothing


@given(st.lists(st.floats(-1e3, 1e3), min_size=6, max_size=6))
def test_distance_is_symmetric_and_rounds_to_one_decimal(xs: list[float]) -> None:
    a, b = np.array(xs[:3]), np.array(xs[3:])
    assert distance_mm(a, b) == distance_mm(b, a) == pytest.approx(float(np.linalg.norm(a - b)))
    text = distance_text(distance_mm(a, b))
    assert text.endswith(" mm") and len(text.split()[0].split(".")[1]) == 1
