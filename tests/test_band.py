"""Flat bands (a nerve broad across and thin front to back): the swept-stadium mesh and
the parallel chains of capsules the safety engine measures against.

The oracle knows nothing of chains: it puts points densely on every triangle of the
band's mesh (a barycentric grid, so every point of the surface lies within `gap` of a
point of the grid) and takes the exact distance from the needle's segment to each.
The chains must contain the mesh (every grid point inside a capsule), so they never
say a needle is farther from the band than it is, and they may say it is nearer by at
most the band's stated `max_overreach_mm` (plus the few micrometres by which the mesh's
polygons lie inside the stadium's half-circles). Inside the band the depth the chains
report may be less than the true depth, by at most `max_inside_shortfall_mm`.
"""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from thighmap.anatomy import meshgen, shapes
from thighmap.safety.geometry import segment_segment_closest

SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
GRID = 12  # barycentric subdivisions of every triangle
# the mesh's half-circles are inscribed polygons, within the chord error (0.012 mm, the
# default of meshgen.tube_mesh) inside the stadium the chains are built for
SAG_MM = 0.012


@st.composite
def bands(draw) -> shapes.TubeSamples:
    """A short band on a bending centreline: 2-3 stations of width >= thickness, and
    sometimes a round end (width = thickness) where the flat part vanishes."""
    n_points = draw(st.integers(3, 5))
    length = draw(st.floats(18.0, 40.0))
    z = np.linspace(length, 0.0, n_points)
    wiggle = np.array(draw(st.lists(st.floats(-2.5, 2.5), min_size=2 * n_points, max_size=2 * n_points)))
    control = np.column_stack([wiggle[:n_points], wiggle[n_points:], z])
    k = draw(st.integers(2, 3))
    stations = np.linspace(0.0, 1.0, k)
    thickness = np.array(draw(st.lists(st.floats(2.0, 8.0), min_size=k, max_size=k)))
    flat = np.array(draw(st.lists(st.floats(0.0, 8.0), min_size=k, max_size=k)))
    if draw(st.booleans()):
        flat[-1] = 0.0  # round at the end
    flat[0] = max(flat[0], 1.0)  # a band somewhere
    band = shapes.sample_band(control, stations, thickness + flat, thickness, 2.5)
    # a nerve bends gently: its radius of curvature is well above its half-width (a band
    # bent more tightly folds its mesh on the inner side of the bend)
    t = shapes.tangents(band.centres_mm)
    turn = np.linalg.norm(np.diff(t, axis=0), axis=1) / np.linalg.norm(
        np.diff(band.centres_mm, axis=0), axis=1
    )
    assume(float(np.max(turn)) * 3.0 * float(np.max(band.flat_half_widths + band.radii_mm)) < 1.0)
    return band


def _grid_points(mesh: meshgen.SurfaceMesh, grid: int = GRID) -> tuple[np.ndarray, float]:
    """Points on every triangle (barycentric grid of `grid` steps) and the largest distance
    from a point of the surface to the nearest of them."""
    i, j = np.meshgrid(np.arange(grid + 1), np.arange(grid + 1), indexing="ij")
    keep = i + j <= grid
    w1, w2 = i[keep] / grid, j[keep] / grid
    w0 = 1.0 - w1 - w2
    tri = mesh.vertices[mesh.faces]
    pts = (
        w0[None, :, None] * tri[:, None, 0]
        + w1[None, :, None] * tri[:, None, 1]
        + w2[None, :, None] * tri[:, None, 2]
    )
    longest = float(np.max(np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2)))
    # a point of a grid cell (a triangle with edges of length edge/GRID) is within its
    # longest edge of a corner
    return pts.reshape(-1, 3), longest / grid


def _point_segments(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(P, M) distance from every point to every segment ab."""
    ab = b - a
    ab2 = np.einsum("ij,ij->i", ab, ab)
    t = np.einsum("pmk,mk->pm", points[:, None, :] - a[None], ab) / np.where(ab2 > 0, ab2, 1.0)
    t = np.clip(t, 0.0, 1.0)
    closest = a[None] + t[..., None] * ab[None]
    return np.linalg.norm(points[:, None, :] - closest, axis=2)


def _segment_to_points(p0: np.ndarray, p1: np.ndarray, points: np.ndarray) -> float:
    d = _point_segments(points, p0[None], p1[None])
    return float(d.min())


def _chain_clearance(tube: shapes.TubeSamples, p0: np.ndarray, p1: np.ndarray) -> float:
    a, b, r = tube.capsule_starts_mm, tube.capsule_ends_mm, tube.capsule_radii_mm
    n = len(a)
    d, _, _ = segment_segment_closest(np.tile(p0, (n, 1)), np.tile(p1, (n, 1)), a, b)
    return float(np.min(d - r))


@SETTINGS
@given(band=bands())
def test_band_mesh_is_closed_and_outward(band):
    mesh = meshgen.tube_mesh(band)
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    assert tm.is_watertight and tm.is_winding_consistent
    assert mesh.signed_volume_mm3() > 0
    # no sliver left where a round section welded its faces
    assert np.all(tm.area_faces > 0)


@SETTINGS
@given(band=bands())
def test_the_chains_contain_the_band(band):
    mesh = meshgen.tube_mesh(band)
    points, _ = _grid_points(mesh, 6)
    points = np.vstack([points, mesh.vertices])
    inside = _point_segments(points, band.capsule_starts_mm, band.capsule_ends_mm) - band.capsule_radii_mm
    assert float(inside.min(axis=1).max()) <= 1e-9


@SETTINGS
@given(band=bands(), seed=st.integers(0, 2**32 - 1))
def test_chain_clearance_is_never_more_and_at_most_the_bound_less(band, seed):
    rng = np.random.default_rng(seed)
    mesh = meshgen.tube_mesh(band)
    points, gap = _grid_points(mesh)
    c = band.centres_mm
    checked = 0
    for _ in range(40):
        i = rng.integers(len(c))
        around = rng.normal(size=3)
        beyond = float(np.max(band.flat_half_widths + band.radii_mm))  # outside the band
        p0 = c[i] + around / np.linalg.norm(around) * (beyond + rng.uniform(1.0, 12.0))
        if _chain_clearance(band, p0, p0) < 0.5:
            continue  # within another part of the band (a wide end nearby)
        p1 = c[rng.integers(len(c))] + rng.normal(scale=4.0, size=3)
        p1 = p0 + (p1 - p0) * rng.uniform(0.3, 1.0)
        near = _segment_to_points(p0, p1, points)  # >= the true distance, by at most gap
        if near <= 2.0 * gap + 0.05:
            continue  # may touch or enter the band: not a clearance
        chain = _chain_clearance(band, p0, p1)
        assert chain <= near + 1e-9
        assert chain >= near - gap - band.max_overreach_mm - SAG_MM
        checked += 1
    assert checked > 0


def test_the_band_bound_is_the_stated_constant_plus_the_steps(atlas):
    nerve = atlas.tube("sciatic_nerve")
    assert nerve.is_band and nerve.n_chains > 1
    step = float(np.max(np.abs(np.diff(nerve.chain_radii_mm))))
    print(f"sciatic nerve: {nerve.n_chains} chains, capsules reach at most {nerve.max_overreach_mm:.3f} mm")
    assert nerve.max_overreach_mm <= shapes.BAND_OVERREACH_MM + step + 1e-12
    assert nerve.max_overreach_mm <= 0.2


def test_a_round_tube_is_one_chain_as_before(atlas):
    tube = atlas.tube("tibial_nerve")
    assert not tube.is_band and tube.n_chains == 1
    assert np.array_equal(tube.capsule_starts_mm, tube.centres_mm[:-1])
    assert np.array_equal(tube.capsule_radii_mm, np.maximum(tube.radii_mm[:-1], tube.radii_mm[1:]))
    # the radius steps, and the slant of a narrowing tube (tiny for a nerve's taper)
    assert tube.max_radius_step_mm <= tube.max_overreach_mm <= tube.max_radius_step_mm + 1e-3


def test_the_danger_zone_drawn_is_the_grown_band(atlas):
    """The drawn danger zone of the sciatic nerve is the band grown by its uncertainty: as
    flat as the nerve (its thickness is the nerve's plus twice the uncertainty), not a
    round tube."""
    from thighmap.safety.engine import SafetyModel

    model = SafetyModel.for_atlas(atlas)
    zone = model.danger_zone_mesh("sciatic_nerve")
    nerve = atlas.tube("sciatic_nerve")
    i = len(nerve.centres_mm) // 5  # proximal, where it is flat
    c = nerve.centres_mm[i]
    t = shapes.tangents(nerve.centres_mm)[i]
    u, v = shapes.section_frames(t[None])
    near = zone.vertices[np.abs((zone.vertices - c) @ t) < 0.5]
    across = np.ptp((near - c) @ u[0])
    through = np.ptp((near - c) @ v[0])
    seg = np.linalg.norm(np.diff(nerve.centres_mm, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)]) / seg.sum()
    unc = float(atlas.structures["sciatic_nerve"].safety.uncertainty_at(s[i : i + 1], False)[0])
    width = 2 * (nerve.flat_half_widths[i] + nerve.radii_mm[i])
    thickness = 2 * nerve.radii_mm[i]
    assert across == pytest.approx(width + 2 * unc, abs=0.3)
    assert through == pytest.approx(thickness + 2 * unc, abs=0.3)
    assert across - through == pytest.approx(width - thickness, abs=0.3)


@SETTINGS
@given(band=bands(), seed=st.integers(0, 2**32 - 1))
def test_inside_the_band_the_chains_report_the_depth_within_the_stated_shortfall(band, seed):
    """A point inside the band: the chains' depth (the most it lies inside any capsule) is
    never more than its true depth plus the overreach, and never less than it minus
    max_inside_shortfall_mm."""
    rng = np.random.default_rng(seed)
    mesh = meshgen.tube_mesh(band)
    points, gap = _grid_points(mesh)
    c = band.centres_mm
    u, v = shapes.section_frames(shapes.tangents(c))
    i = rng.integers(1, len(c) - 1, 30)
    across = rng.uniform(-1.0, 1.0, 30) * band.flat_half_widths[i]
    through = rng.uniform(-0.8, 0.8, 30) * band.radii_mm[i]
    inside = c[i] + across[:, None] * u[i] + through[:, None] * v[i]
    true_depth = np.array([_segment_to_points(p, p, points) for p in inside])  # >= true, by <= gap
    chain = np.max(
        band.capsule_radii_mm - _point_segments(inside, band.capsule_starts_mm, band.capsule_ends_mm), axis=1
    )
    assert np.all(chain > 0)
    assert np.all(chain <= true_depth + band.max_overreach_mm + SAG_MM)
    assert np.all(chain >= true_depth - gap - band.max_inside_shortfall_mm)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda r: r.update(radius={"at": [0.0], "mm": [3.0]}), "recipe.radius", "not both"),
        (
            lambda r: r["section"].update(width_mm=[10.8, 10.8, 5.0, 7.5]),
            r"recipe.section.width_mm\[2\]",
            "at least",
        ),
        (lambda r: r["section"].update(at=[0.0, 0.5, 0.4, 1.0]), "recipe.section.at", "increase strictly"),
        (lambda r: r["section"].update(thickness_mm=[5.5]), "recipe.section", "equal length"),
        (
            lambda r: r["section"].update(thickness_mm=[5.5, 5.5, -1.0, 7.5]),
            r"recipe.section.thickness_mm\[2\]",
            "greater",
        ),
    ],
)
def test_a_bad_band_section_is_named_in_the_message(atlas, tmp_path, change, field, message):
    import copy

    from thighmap.anatomy.atlas import AtlasError, parse_atlas

    doc = copy.deepcopy(atlas.document)
    nerve = next(s for s in doc["structures"] if s["id"] == "sciatic_nerve")
    change(nerve["recipe"])
    with pytest.raises(AtlasError, match=rf"field 'structures.sciatic_nerve.{field}'.*{message}"):
        parse_atlas(doc, tmp_path / "landmarks.json")
