"""The geometry of the cross-section's picture (viz.section_layout): which structure is at
a point, and where the labels go (on their structure, or beside the section with a
leader, apart and inside the picture). The atlas cases derive their levels and
structures from the atlas (its meshes may change)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thighmap.viz.section_cut import atlas_polydata, cut_loops
from thighmap.viz.section_layout import (
    crossing_segments,
    distance_to_segments,
    fits_inside,
    grid_in_loops,
    layout_section_labels,
    outer_loop,
    points_in_loops,
    region_at,
    visible_part,
)


def square(x0: float, y0: float, size: float) -> np.ndarray:
    return np.array([[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]], float)


def polygon(centre: tuple[float, float], radius: float, n: int, phase: float = 0.0) -> np.ndarray:
    t = phase + np.arange(n) * 2 * np.pi / n
    return np.column_stack([centre[0] + radius * np.cos(t), centre[1] + radius * np.sin(t)])


def overlapping_pairs(rects: np.ndarray, gap: float = 0.0) -> list[tuple[int, int]]:
    out = []
    for i in range(len(rects)):
        for j in range(i + 1, len(rects)):
            a, b = rects[i], rects[j]
            if a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap:
                out.append((i, j))
    return out


# ---------------------------------------------------------------- points in regions
@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(3, 40),
    radius=st.floats(1.0, 300.0),
    phase=st.floats(0.0, 6.3),
    seed=st.integers(0, 2**31 - 1),
)
def test_points_in_a_convex_polygon_agree_with_its_edges(
    n: int, radius: float, phase: float, seed: int
) -> None:
    """Inside a convex polygon = on the inner side of every edge (away from the edge
    itself, where rounding may go either way)."""
    poly = polygon((10.0, -5.0), radius, n, phase)
    pts = np.random.default_rng(seed).uniform(-1.3 * radius, 1.3 * radius, (300, 2)) + np.array([10.0, -5.0])
    a, b = poly, np.roll(poly, -1, axis=0)
    cross = (b[None, :, 0] - a[None, :, 0]) * (pts[:, None, 1] - a[None, :, 1]) - (
        b[None, :, 1] - a[None, :, 1]
    ) * (pts[:, None, 0] - a[None, :, 0])
    expected = (cross > 0).all(axis=1)
    clear = distance_to_segments(pts, a, b) > 1e-6 * radius
    got = points_in_loops(pts, [poly])
    assert np.array_equal(got[clear], expected[clear])


@settings(max_examples=40, deadline=None)
@given(n=st.integers(3, 30), seed=st.integers(0, 2**31 - 1))
def test_the_grid_test_is_the_point_test(n: int, seed: int) -> None:
    """Row by row on a grid = point by point, for random (self-crossing) loops and holes."""
    rng = np.random.default_rng(seed)
    loops = [rng.uniform(0, 100, (n, 2)), rng.uniform(20, 80, (max(3, n // 2), 2))]
    xs, ys = np.linspace(-5, 105, 37), np.linspace(-5, 105, 29)
    gx, gy = np.meshgrid(xs, ys)
    expected = points_in_loops(np.column_stack([gx.ravel(), gy.ravel()]), loops).reshape(gx.shape)
    assert np.array_equal(grid_in_loops(xs, ys, loops), expected)


def test_a_ring_is_filled_even_odd() -> None:
    outer, inner = square(0, 0, 10), square(3, 3, 4)
    pts = np.array([[1.0, 1.0], [5.0, 5.0], [11.0, 5.0], [9.5, 9.5]])
    assert points_in_loops(pts, [outer, inner]).tolist() == [True, False, False, True]


def test_the_region_drawn_last_is_the_one_at_a_point() -> None:
    skin = [square(0, 0, 100)]
    muscle = [square(20, 20, 40)]
    nerve = [square(30, 30, 5)]
    regions = [skin, muscle, nerve]
    assert region_at(regions, (32, 32)) == 2
    assert region_at(regions, (50, 50)) == 1
    assert region_at(regions, (90, 90)) == 0
    assert region_at(regions, (150, 50)) is None


def test_the_visible_part_leaves_out_what_is_drawn_over_it() -> None:
    regions = [[square(0, 0, 100)], [square(0, 0, 60)]]  # the second covers most of the first
    part = visible_part(regions, 0)
    assert len(part.points)
    assert not points_in_loops(part.points, regions[1]).any()
    # the pole is in the uncovered L, where its largest circle fits: touching the outer
    # sides and the inner corner, radius r with 100 - x = r = sqrt(2) (x - 60)
    pole = part.pole
    assert pole is not None and region_at(regions, pole) == 0
    x = (100 + 60 * np.sqrt(2)) / (1 + np.sqrt(2))
    assert part.clearance.max() == pytest.approx(100 - x, abs=3.0)  # within a grid step
    assert np.allclose(pole, [x, x], atol=3.0)


def test_a_region_thinner_than_the_grid_is_still_found() -> None:
    ring = [polygon((0, 0), 100.0, 200), polygon((0, 0), 98.5, 200)]
    part = visible_part([ring], 0)
    assert len(part.points) and points_in_loops(part.points, ring).all()


def test_outer_loop_is_the_largest() -> None:
    assert np.array_equal(outer_loop([square(3, 3, 4), square(0, 0, 10)]), square(0, 0, 10))
    assert outer_loop([]) is None


# ---------------------------------------------------------------- labels
def test_a_label_that_fits_sits_on_its_region_and_a_small_one_gets_a_leader() -> None:
    big = [square(100, 100, 200)]
    small = [square(150, 150, 6)]
    out = layout_section_labels([big, small], [(60, 14), (60, 14)], [1.0, 3.0], (0, 0, 600, 400))
    assert out.placed.all()
    assert out.inside.tolist() == [True, False]
    part = visible_part([big, small], 0)
    assert fits_inside(part, out.rects_px[0])
    ((anchor, end),) = out.leaders()
    assert region_at([big, small], anchor) == 1  # the leader starts on the small region
    r = out.rects_px[1]
    assert r[0] <= end[0] <= r[2] and r[1] <= end[1] <= r[3]
    assert not overlapping_pairs(out.rects_px)


def test_labels_keep_off_blocked_boxes_and_inside_the_viewport() -> None:
    regions = [[square(x, 150, 8)] for x in range(100, 400, 12)]  # a row of small regions
    blocked = np.array([[0, 0, 600, 30], [0, 370, 600, 400]])
    out = layout_section_labels(
        regions, [(50, 14)] * len(regions), [2.0] * len(regions), (0, 0, 600, 400), blocked_px=blocked
    )
    rects = out.rects_px[out.placed]
    assert len(rects) >= len(regions) // 2
    assert not overlapping_pairs(np.vstack([rects, blocked]))
    assert (rects[:, 0] >= 0).all() and (rects[:, 2] <= 600).all()
    assert (rects[:, 1] >= 30).all() and (rects[:, 3] <= 370).all()


def test_crossing_segments_are_found() -> None:
    a = np.array([[0.0, 0.0], [0.0, 10.0], [20.0, 0.0]])
    b = np.array([[10.0, 10.0], [10.0, 0.0], [30.0, 10.0]])
    assert crossing_segments(a, b) == [(0, 1)]
    assert crossing_segments(a, b, np.array([True, False, True])) == []


def _crowded_section(seed: int, n_small: int) -> list[list[np.ndarray]]:
    """A thigh-like disc with many small regions crowded in its upper (posterior) part
    and a few elsewhere, none large enough to hold its label."""
    rng = np.random.default_rng(seed)
    regions = [[polygon((450.0, 300.0), 150.0, 64)]]
    for k in range(n_small):
        if k < (2 * n_small) // 3:  # the crowd
            c = (450.0 + rng.uniform(-70, 70), 300.0 - rng.uniform(60, 120))
        else:
            angle = rng.uniform(0, 2 * np.pi)
            c = (450.0 + 100 * np.cos(angle), 300.0 + 100 * np.sin(angle))
        regions.append([polygon(c, rng.uniform(3.0, 7.0), 12)])
    return regions


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_small=st.integers(2, 16))
def test_labels_beside_a_section_stand_in_columns_whose_leaders_do_not_cross(seed: int, n_small: int) -> None:
    regions = _crowded_section(seed, n_small)
    sizes = [(80.0, 16.0)] + [(40.0 + 6 * (k % 5), 16.0) for k in range(n_small)]
    out = layout_section_labels(regions, sizes, [1.0] * len(regions), (0.0, 0.0, 900.0, 600.0))
    beside = np.flatnonzero(out.placed & ~out.inside)
    seen = np.isfinite(out.anchors_px).all(axis=1)  # a region may be hidden by those drawn over it
    assert out.placed[seen].all()  # two columns of 600 px hold them all
    assert not out.crossing_leaders()
    assert not overlapping_pairs(out.rects_px)
    for k in beside:  # beside the section, on its structure's side
        r, anchor = out.rects_px[k], out.anchors_px[k]
        assert r[2] <= 300.0 if anchor[0] < 450.0 else r[0] >= 600.0
        assert r[1] <= out.leader_end_px[k, 1] <= r[3]
        assert region_at(regions, anchor) == k


def test_one_size_and_priority_per_region() -> None:
    with pytest.raises(ValueError):
        layout_section_labels([[square(0, 0, 5)]], [(1, 1), (2, 2)], [1.0], (0, 0, 10, 10))


def _axial(atlas, z: float, scale_px: float, offset_px: float) -> tuple[list[str], list[list[np.ndarray]]]:
    """The atlas cut at z, in drawing order (as the panel draws it), in pixels."""
    order = ("skin", "fat", "fascia", "muscle", "tendon", "bone", "vein", "artery", "nerve")
    sids, regions = [], []
    for st_ in sorted(
        atlas.structures.values(), key=lambda s: order.index(s.kind) if s.kind in order else 99
    ):
        loops = cut_loops(
            atlas_polydata(atlas, st_.id),
            np.array([0.0, 0.0, z]),
            np.array([0.0, 0.0, 1.0]),
            np.array([1.0, 0.0, 0.0]),
            np.array([0.0, 1.0, 0.0]),
        )
        if loops:
            sids.append(st_.id)
            regions.append([loop * scale_px + offset_px for loop in loops])
    return sids, regions


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.8])
def test_the_atlas_sections_labels_are_apart_inside_and_on_their_structures(atlas, fraction: float) -> None:
    skin = atlas.mesh("skin").vertices
    z = float(skin[:, 2].min() + fraction * (skin[:, 2].max() - skin[:, 2].min()))
    sids, regions = _axial(atlas, z, 1.6, 300.0)
    assert sids  # the atlas is cut there
    names = [atlas.structures[s].short_name or atlas.structures[s].name for s in sids]
    sizes = [(7.0 * len(t) + 6, 15.0) for t in names]
    prio = [3.0 if atlas.structures[s].role == "danger" else 2.0 for s in sids]
    viewport = (0.0, 0.0, 900.0, 600.0)
    out = layout_section_labels(regions, sizes, prio, viewport)
    rects = out.rects_px[out.placed]
    assert not overlapping_pairs(rects)
    assert not out.crossing_leaders()
    assert (rects[:, :2] >= 0).all() and (rects[:, 2] <= 900).all() and (rects[:, 3] <= 600).all()
    # every danger structure in the section is named
    for k, s in enumerate(sids):
        if atlas.structures[s].role == "danger":
            assert out.placed[k], s
    for k in np.flatnonzero(out.placed):
        # a leader starts on its structure; a label without one lies on it
        at = out.anchors_px[k] if not out.inside[k] else (out.rects_px[k, :2] + out.rects_px[k, 2:]) / 2
        assert sids[region_at(regions, at)] == sids[k]
