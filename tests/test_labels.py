"""The label layout of the 3D view (viz.labels): inside the view, apart, needles kept."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from thighmap.viz.labels import (
    GAP_PX,
    grid_capacity,
    layout_labels,
    measure_text_px,
    segments_hit_rects,
)


def overlapping_pairs(rects: np.ndarray, gap: float = 0.0) -> list[tuple[int, int]]:
    """Every pair of boxes closer than ``gap``, by brute force."""
    out = []
    for i in range(len(rects)):
        for j in range(i + 1, len(rects)):
            a, b = rects[i], rects[j]
            if a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap:
                out.append((i, j))
    return out


@st.composite
def scenes(draw: st.DrawFn) -> dict:
    n = draw(st.integers(1, 40))
    vw = draw(st.floats(120, 1400))
    vh = draw(st.floats(90, 900))
    x0, y0 = draw(st.floats(0, 200)), draw(st.floats(0, 200))
    anchors = draw(
        hnp.arrays(float, (n, 2), elements=st.floats(-0.2, 1.2, allow_nan=False, allow_infinity=False))
    )
    anchors = np.array([x0, y0]) + anchors * np.array([vw, vh])
    widths = draw(hnp.arrays(float, n, elements=st.floats(8, 160)))
    heights = draw(hnp.arrays(float, n, elements=st.floats(10, 24)))
    prio = draw(hnp.arrays(int, n, elements=st.integers(0, 3)))
    keep = draw(hnp.arrays(bool, n, elements=st.booleans()))
    m = draw(st.integers(0, 4))
    needles = np.array([x0, y0]) + draw(
        hnp.arrays(float, (m, 2, 2), elements=st.floats(0, 1, allow_nan=False))
    ) * np.array([vw, vh])
    return {
        "anchors_px": anchors,
        "sizes_px": np.stack([widths, heights], axis=1),
        "viewport_px": (x0, y0, x0 + vw, y0 + vh),
        "priorities": prio,
        "keep": keep,
        "needles_px": needles,
        "avoid_px": (x0 + 0.3 * vw, y0 + 0.1 * vh, x0 + 0.7 * vw, y0 + 0.9 * vh),
    }


@settings(max_examples=150, deadline=None)
@given(scenes())
def test_boxes_are_inside_the_view_apart_and_of_their_size(scene: dict) -> None:
    out = layout_labels(**scene)
    rects = out.rects_px[out.placed]
    x0, y0, x1, y1 = scene["viewport_px"]
    assert np.all(rects[:, 0] >= x0) and np.all(rects[:, 2] <= x1)
    assert np.all(rects[:, 1] >= y0) and np.all(rects[:, 3] <= y1)
    assert overlapping_pairs(rects, GAP_PX - 1e-6) == []
    size = np.stack([rects[:, 2] - rects[:, 0], rects[:, 3] - rects[:, 1]], axis=1)
    np.testing.assert_allclose(size, scene["sizes_px"][out.placed], atol=1e-6)
    assert np.all(np.isnan(out.rects_px[~out.placed]))
    # a leader ends on its own box
    ends = out.leader_end_px[out.placed]
    assert np.all((ends[:, 0] >= rects[:, 0] - 1e-9) & (ends[:, 0] <= rects[:, 2] + 1e-9))
    assert np.all((ends[:, 1] >= rects[:, 1] - 1e-9) & (ends[:, 1] <= rects[:, 3] + 1e-9))


@settings(max_examples=150, deadline=None)
@given(scenes())
def test_needle_labels_are_never_dropped_while_there_is_room(scene: dict) -> None:
    keep = scene["keep"]
    if not keep.any():
        keep[0] = True
    sizes = scene["sizes_px"][keep]
    capacity = grid_capacity(scene["viewport_px"], sizes.max(axis=0))
    out = layout_labels(**scene)
    if capacity > 4 * (int(keep.sum()) - 1):
        assert out.placed[keep].all(), (capacity, int(keep.sum()))
    # labels that are not kept never take an anchor outside the view
    x0, y0, x1, y1 = scene["viewport_px"]
    a = scene["anchors_px"]
    outside = (a[:, 0] < x0) | (a[:, 0] > x1) | (a[:, 1] < y0) | (a[:, 1] > y1)
    assert not out.placed[outside & ~keep].any()


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 60),
    prio=st.lists(st.integers(0, 5), min_size=60, max_size=60),
    w=st.floats(30, 140),
)
def test_crowded_labels_are_dropped_lowest_priority_first(n: int, prio: list[int], w: float) -> None:
    """Equal boxes on one anchor in a small view: what is shown is the most important."""
    p = np.asarray(prio[:n])
    out = layout_labels(np.full((n, 2), 150.0), np.tile([w, 16.0], (n, 1)), (0, 0, 300, 200), p)
    if (~out.placed).any():
        assert p[out.placed].min() >= p[~out.placed].max()


def test_a_label_keeps_off_the_needle_it_names() -> None:
    needle = np.array([[[200.0, 20.0], [200.0, 380.0]]])
    out = layout_labels(
        [[200.0, 200.0]], [[60.0, 16.0]], (0, 0, 400, 400), [3], keep=[True], needles_px=needle
    )
    assert out.placed[0]
    assert not segments_hit_rects(out.rects_px, needle[:, 0], needle[:, 1]).any()


def test_labels_prefer_the_side_of_the_model_when_it_is_close() -> None:
    out = layout_labels([[190.0, 200.0]], [[60.0, 16.0]], (0, 0, 600, 400), [2], avoid_px=(150, 20, 260, 380))
    r = out.rects_px[0]
    assert r[2] <= 150 or r[0] >= 260


def test_too_few_rows_for_the_labels_is_an_error() -> None:
    with pytest.raises(ValueError, match="one row per label"):
        layout_labels([[0, 0], [1, 1]], [[10, 10]], (0, 0, 100, 100), [1, 1])


def test_text_is_measured_as_vtk_draws_it() -> None:
    short, long, bold = measure_text_px(["Sciatic n.", "Sciatic nerve, long text", "Sciatic n."], 12)
    assert 0 < short[0] < long[0] and short[1] == long[1] > 6
    assert measure_text_px(["Sciatic n."], 12, bold=True)[0][0] >= short[0]
    assert measure_text_px(["Sciatic n."], 24)[0][0] > 1.6 * short[0]
    assert bold[0] == short[0]


# --------------------------------------------------------------------------- short names


SHORT_NAME_MAX_CHARS = 16


def test_every_labelled_thing_has_a_short_name_and_keeps_its_full_name(atlas) -> None:
    named = [
        *((s.name, s.short_name) for s in atlas.structures.values()),
        *((lm.name, lm.short_name) for lm in atlas.landmarks.values()),
        *((tp.name, tp.short_name) for tp in atlas.trigger_points.values()),
    ]
    for name, short in named:
        assert 0 < len(short) <= SHORT_NAME_MAX_CHARS, short
        assert len(name) >= len(short), (name, short)
    shorts = [short for _name, short in named]
    assert len(set(shorts)) == len(shorts), "two things share a label"
    assert atlas.structures["common_fibular_nerve"].name == "Common fibular (peroneal) nerve"
    assert "ischial tuberosity" in atlas.trigger_points["bfl_nct_proximal"].name


def test_short_names_survive_fitting_and_default_to_the_name(atlas, tmp_path) -> None:
    import copy

    from thighmap.anatomy.atlas import AtlasError, parse_atlas
    from thighmap.anatomy.fitting import fit_atlas
    from thighmap.planning import PatientProfile

    fitted = fit_atlas(atlas, PatientProfile(thigh_length_mm=400.0))
    lid = "ischial_tuberosity"
    assert fitted.landmarks[lid].short_name == atlas.landmarks[lid].short_name == "Isch. tuberosity"
    assert fitted.trigger_points["am_mid"].short_name == atlas.trigger_points["am_mid"].short_name

    doc = copy.deepcopy(atlas.document)
    del doc["structures"][2]["short_name"]
    del doc["landmarks"]["fibular_head"]["short_name"]
    del doc["landmarks"]["fibular_head"]["name"]
    del doc["trigger_points"][0]["short_name"]
    bare = parse_atlas(doc, tmp_path / "landmarks.json")
    sid = doc["structures"][2]["id"]
    assert bare.structures[sid].short_name == bare.structures[sid].name
    assert bare.landmarks["fibular_head"].name == "Fibular head" == bare.landmarks["fibular_head"].short_name
    tp = bare.trigger_points[doc["trigger_points"][0]["id"]]
    assert tp.short_name == tp.name
    doc["landmarks"]["fibular_head"]["short_name"] = 7
    with pytest.raises(AtlasError, match=r"landmarks.fibular_head.short_name"):
        parse_atlas(doc, tmp_path / "landmarks.json")


@settings(max_examples=80, deadline=None)
@given(
    box=hnp.arrays(float, 4, elements=st.floats(0, 100, allow_nan=False)),
    seg=hnp.arrays(float, 4, elements=st.integers(-20, 140).map(float)),
    still=st.sampled_from(["none", "x", "y"]),
)
def test_segment_through_box_agrees_with_dense_sampling(box: np.ndarray, seg: np.ndarray, still: str) -> None:
    rect = np.array([[min(box[0], box[2]), min(box[1], box[3]), max(box[0], box[2]), max(box[1], box[3])]])
    a, b = seg[:2].copy(), seg[2:].copy()
    if still == "x":
        b[0] = a[0]
    elif still == "y":
        b[1] = a[1]
    hit = segments_hit_rects(rect, a[None], b[None])[0, 0]
    t = np.linspace(0.0, 1.0, 20001)[:, None]
    p = a + t * (b - a)
    inside = np.all((p >= rect[0, :2]) & (p <= rect[0, 2:]), axis=1)
    if inside.any():
        assert hit
    elif hit:  # a graze the samples step over: the segment passes within a hair of the box
        gap = np.maximum(np.maximum(rect[0, :2] - p, p - rect[0, 2:]), 0.0)
        assert np.linalg.norm(gap, axis=1).min() < 1e-2


def _cross(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> bool:
    def orient(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
        return float((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    return orient(p1, p2, q1) * orient(p1, p2, q2) < 0 and orient(q1, q2, p1) * orient(q1, q2, p2) < 0


@settings(max_examples=100, deadline=None)
@given(scenes())
def test_optional_labels_never_tangle_the_leaders(scene: dict) -> None:
    out = layout_labels(**scene)
    a = np.clip(scene["anchors_px"], scene["viewport_px"][:2], scene["viewport_px"][2:])
    ends = out.leader_end_px
    placed = [i for i in np.flatnonzero(out.placed) if np.linalg.norm(ends[i] - a[i]) > 0.5]
    for i in placed:
        if scene["keep"][i]:
            continue
        for j in placed:
            if j != i:
                assert not _cross(a[i], ends[i], a[j], ends[j]), (i, j)
