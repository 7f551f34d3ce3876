"""Trigger-point referral regions on the skin (anatomy.referral) and their validation."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from thighmap.anatomy.atlas import AtlasError, parse_atlas
from thighmap.anatomy.referral import (
    DIFFUSE_WEIGHT,
    ReferralRegion,
    ReferralZone,
    around_deg,
    region_weights,
    region_weights_on_atlas,
)


def _ring(z: float, n: int = 72, r: float = 50.0) -> np.ndarray:
    t = np.radians(np.arange(n) * 360.0 / n)
    return np.column_stack([r * np.sin(t), r * np.cos(t), np.full(n, z)])  # angle t from +y toward +x


def test_angles_around_the_thigh() -> None:
    ring = _ring(100.0) + np.array([7.0, -4.0, 0.0])  # off the axis: the centre is the ring's
    ang = around_deg(ring)
    expected = (np.arange(72) * 5.0 + 180.0) % 360.0 - 180.0
    assert np.allclose(np.abs(((ang - expected) + 180) % 360 - 180), 0.0, atol=1e-9)
    assert np.allclose(around_deg(ring, -1.0), -ang)  # a left thigh: lateral is -x


def test_weights_inside_outside_and_at_the_edges() -> None:
    region = ReferralRegion(
        (
            ReferralZone("strong", (0.4, 0.6), (-30.0, 30.0)),
            ReferralZone("diffuse", (0.0, 1.0), (-90.0, 0.0)),
        ),
        "test",
    )
    verts = np.vstack([_ring(z) for z in np.arange(0.0, 401.0, 10.0)])
    w = region_weights(region, verts, 0.0, 400.0)
    ang, level = around_deg(verts), verts[:, 2] / 400.0
    assert w.min() >= 0.0 and w.max() <= 1.0
    deep_strong = (np.abs(ang) < 15) & (np.abs(level - 0.5) < 0.05)
    assert np.all(w[deep_strong] == 1.0)
    deep_diffuse = (ang > -75) & (ang < -40) & (level > 0.1) & (level < 0.3)
    assert np.allclose(w[deep_diffuse], DIFFUSE_WEIGHT)
    outside = (ang > 45) | (ang < -110)
    assert np.all(w[outside] == 0.0)
    at_border = np.isclose(ang, 30.0) & np.isclose(level, 0.5)
    assert np.allclose(w[at_border], 0.5)  # half way down the fading edge


def test_every_bundled_trigger_point_has_a_region_on_the_skin(atlas) -> None:
    """The bundled regions shade some skin (strongly somewhere), and the pattern of the
    biceps femoris lies behind the knee, that of the medial hamstrings at the gluteal fold."""
    skin = atlas.mesh("skin").vertices
    crease = atlas.landmark("popliteal_crease")
    fold = atlas.landmark("gluteal_fold")
    for tp in atlas.trigger_points.values():
        assert tp.referral_region is not None, tp.id
        w = region_weights_on_atlas(tp.referral_region, atlas)
        assert w.max() == 1.0 and 0.01 < np.mean(w > 0.5) < 0.5, tp.id
        strong = skin[w == 1.0]
        if tp.muscle.startswith("biceps"):
            assert np.all(np.abs(strong[:, 2] - crease[2]) < 80.0)
        if tp.muscle in ("semitendinosus", "semimembranosus"):
            assert np.all(np.abs(strong[:, 2] - fold[2]) < 80.0)
        assert tp.referral_region.reasoning


def test_the_region_follows_the_patient_fitting(atlas) -> None:
    """On a taller patient the region keeps its place relative to the crease and the fold."""
    from thighmap.anatomy.fitting import fit_atlas
    from thighmap.planning import PatientProfile

    fitted = fit_atlas(atlas, PatientProfile(thigh_length_mm=500.0, sex="male"))
    tp = fitted.trigger_points["bfl_nct_mid"]
    w = region_weights_on_atlas(tp.referral_region, fitted)
    z = fitted.mesh("skin").vertices[w == 1.0][:, 2]
    crease, fold = fitted.landmark("popliteal_crease")[2], fitted.landmark("gluteal_fold")[2]
    assert z.max() <= crease + 0.15 * (fold - crease) + 1.0


def test_the_left_thigh_mirrors_the_region(atlas) -> None:
    from thighmap.anatomy.mirror import MirroredAtlas

    tp = atlas.trigger_points["st_nct_mid"]
    right = region_weights_on_atlas(tp.referral_region, atlas, "right")
    left = region_weights_on_atlas(tp.referral_region, MirroredAtlas(atlas), "left")
    assert np.allclose(right, left)  # the mirrored skin has the same vertices, in -x


def test_an_atlas_without_regions_still_loads(atlas, tmp_path) -> None:
    doc = copy.deepcopy(atlas.document)
    for tp in doc["trigger_points"]:
        tp.pop("referral_region", None)
    loaded = parse_atlas(doc, tmp_path / "landmarks.json")
    assert all(tp.referral_region is None for tp in loaded.trigger_points.values())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(zones=[]), r"referral_region.zones': value \[\]: expected a non-empty list"),
        (
            lambda r: r["zones"][0].update(kind="sharp"),
            r"zones\[0\].kind': value 'sharp': expected one of strong",
        ),
        (lambda r: r["zones"][0].update(z_range=[0.5, 0.2]), r"zones\[0\].z_range': value \[0.5, 0.2\]"),
        (lambda r: r["zones"][0].update(z_range=[0, "x"]), r"zones\[0\].z_range'.*two finite numbers"),
        (lambda r: r["zones"][0].update(sector_deg=[-200, 0]), r"zones\[0\].sector_deg': value \[-200, 0\]"),
        (lambda r: r.update(reasoning=""), r"referral_region.reasoning'"),
        (lambda r: r.update(not_drawn=3), r"referral_region.not_drawn': value 3: expected text"),
    ],
)
def test_bad_regions_are_refused_naming_file_field_and_value(atlas, tmp_path, change, message) -> None:
    doc = copy.deepcopy(atlas.document)
    tp = doc["trigger_points"][0]
    change(tp["referral_region"])
    path = tmp_path / "landmarks.json"
    with pytest.raises(AtlasError, match=message) as err:
        parse_atlas(doc, path)
    assert str(path) in str(err.value) and f"trigger_points.{tp['id']}.referral_region" in str(err.value)
    doc["trigger_points"][0]["referral_region"] = "behind the knee"
    with pytest.raises(AtlasError, match=r"referral_region': value 'behind the knee': expected an object"):
        parse_atlas(doc, path)
