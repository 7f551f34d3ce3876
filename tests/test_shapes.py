"""The profile interpolation of shapes.py (numpy only) against scipy's PchipInterpolator,
which it replaces so that loading an atlas does not import scipy: the values must be the
same to the last bit, or the checked tubes would move."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thighmap.anatomy import shapes

interpolate = pytest.importorskip("scipy.interpolate")


def _scipy_profile(stations: np.ndarray, values: np.ndarray, s: np.ndarray) -> np.ndarray:
    return interpolate.PchipInterpolator(stations, values, axis=0, extrapolate=True)(np.clip(s, 0, 1))


@st.composite
def _profiles(draw):  # type: ignore[no-untyped-def]
    k = draw(st.integers(2, 8))
    # stations at least 0.001 apart (an atlas writes them to a few decimals)
    stations = np.array(sorted(draw(st.lists(st.integers(0, 1000), min_size=k, max_size=k, unique=True))))
    stations = stations / 1000.0
    columns = draw(st.integers(0, 3))
    shape = (k,) if columns == 0 else (k, columns)
    # small integers make flat pieces, equal neighbours and sign changes likely
    values = np.array(
        draw(st.lists(st.integers(-4, 4), min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))),
        float,
    ).reshape(shape) * draw(st.sampled_from([1.0, 0.37, 2.5]))
    s = np.array(draw(st.lists(st.floats(-0.5, 1.5), min_size=1, max_size=30)), float)
    return stations, values, np.concatenate([s, stations])


@settings(max_examples=300, deadline=None)
@given(_profiles())
def test_profile_is_scipy_pchip_to_the_bit(profile) -> None:  # type: ignore[no-untyped-def]
    stations, values, s = profile
    got = shapes.interpolate_profile(stations, values, s)
    want = _scipy_profile(stations, values, s)
    assert got.shape == want.shape
    assert np.array_equal(got, want)


def test_random_profiles_and_the_atlas_tubes_match_scipy(atlas) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(7)
    for _ in range(500):
        k = int(rng.integers(2, 9))
        stations = np.sort(rng.uniform(0.0, 1.0, k))
        values = rng.uniform(0.5, 12.0, (k,) if rng.random() < 0.5 else (k, 4))
        s = rng.uniform(-0.2, 1.2, 64)
        assert np.array_equal(
            shapes.interpolate_profile(stations, values, s), _scipy_profile(stations, values, s)
        )
    for st_ in atlas.danger_structures():
        rec = st_.recipe
        _, s = shapes.smooth_centreline(np.array(rec["centreline_mm"], float), rec.get("spacing_mm", 2.5))
        if "section" in rec:  # a flat band: width and thickness, one profile of two columns
            sec = rec["section"]
            at = np.array(sec["at"], float)
            mm = np.column_stack([sec["width_mm"], sec["thickness_mm"]]).astype(float)
        else:
            at, mm = np.array(rec["radius"]["at"], float), np.array(rec["radius"]["mm"], float)
        if len(at) > 1:
            assert np.array_equal(shapes.interpolate_profile(at, mm, s), _scipy_profile(at, mm, s))


def test_profile_rejects_unordered_stations() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        shapes.interpolate_profile(np.array([0.0, 0.5, 0.5]), np.array([1.0, 2.0, 3.0]), np.array([0.2]))
