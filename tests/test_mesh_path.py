"""Mesh-only danger structures (checked exactly against their triangles, as an imported
atlas would be) against the analytic capsule path, where both apply."""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_safety_oracle import _grazing_needles
from thighmap.planning import Needle
from thighmap.safety.engine import SafetyModel

# constant uncertainty along these, so a zone means the same on both paths
AS_MESH = ("tibial_nerve", "common_fibular_nerve", "popliteal_artery", "popliteal_vein")
CHORD_MM = 0.05  # the committed tube surfaces lie within this of the exact tube


@pytest.fixture(scope="module")
def tube_model(atlas):
    return SafetyModel(atlas)


@pytest.fixture(scope="module")
def mesh_model(atlas):
    return SafetyModel(atlas, mesh_only=AS_MESH)


def _needles(tube_model, atlas, n=40, seed=11):
    rng = np.random.default_rng(seed)
    entry, direction, depth = _grazing_needles(tube_model, atlas, rng, 400)
    ids = tube_model.chains.structure_ids
    # keep those built around the structures checked as meshes
    chains = tube_model.chains
    near = []
    for i in range(len(entry)):
        res = chains.needle_clearances(entry[i], entry[i] + direction[i] * depth[i], 0.25)
        if ids[int(np.argmin(res["clearance"]))] in AS_MESH:
            near.append(i)
    near = near[:n]
    grazing = [
        Needle(
            id=f"g{i}",
            entry_mm=entry[i],
            direction=direction[i],
            depth_mm=float(depth[i]),
            needle_length_mm=float(depth[i]) + 30.0,
            gauge_mm=0.25,
        )
        for i in near
    ]
    # and plain insertions over the popliteal fossa, mostly stopping short of it
    pts, normals = tube_model.skin_points()
    low = np.flatnonzero((pts[:, 2] < 110.0) & (pts[:, 1] > 0.0))
    pick = rng.choice(low, n // 2, replace=False)
    fossa = [
        Needle(
            id=f"f{i}",
            entry_mm=pts[i],
            direction=normals[i] + rng.normal(scale=0.2, size=3),
            depth_mm=float(rng.uniform(5.0, 45.0)),
            needle_length_mm=75.0,
            gauge_mm=0.25,
        )
        for i in pick
    ]
    return grazing + fossa


def test_mesh_path_is_used_for_the_chosen_structures(mesh_model):
    assert mesh_model.dangers.meshes is not None
    assert mesh_model.dangers.meshes.structure_ids == list(AS_MESH)
    assert not set(AS_MESH) & set(mesh_model.chains.structure_ids)


def test_clearances_agree_within_the_triangulation(tube_model, mesh_model, atlas):
    needles = _needles(tube_model, atlas)
    assert len(needles) >= 50
    statuses = set()
    margins = {s.id: s.safety.caution_margin_mm for s in atlas.danger_structures()}
    for needle in needles:
        a = tube_model.check_needle(needle)
        b = mesh_model.check_needle(needle)
        for sid in AS_MESH:
            diff = b.clearances_mm[sid] - a.clearances_mm[sid]
            # the triangles lie inside the exact tube, never more than the chord away
            assert -1e-6 <= diff <= CHORD_MM, (needle.id, sid, diff)
            assert b.zone_clearances_mm[sid] - a.zone_clearances_mm[sid] == pytest.approx(diff, abs=1e-9)
        near_threshold = any(
            min(abs(a.zone_clearances_mm[sid]), abs(a.zone_clearances_mm[sid] - margins[sid])) <= CHORD_MM
            for sid in AS_MESH
        )
        if not near_threshold:
            assert a.status == b.status, needle.id
        statuses.add(a.status)
        assert a.nearest_danger.structure == b.nearest_danger.structure or (
            abs(a.nearest_danger.clearance_mm - b.nearest_danger.clearance_mm) <= CHORD_MM
        )
    assert statuses == {"safe", "caution", "danger"}  # every kind of outcome was compared


def test_max_safe_depth_agrees_for_a_needle_into_the_popliteal_fossa(atlas):
    from tests.caution_atlas import without_caution_structures

    # without the caution structures: over the fossa the posterior femoral cutaneous nerve,
    # in the fascia's plane, would limit the depth before the tibial nerve
    base = without_caution_structures(atlas)
    tube_model, mesh_model = SafetyModel(base), SafetyModel(base, mesh_only=AS_MESH)
    tube = atlas.tube("tibial_nerve")
    centre = tube.centres_mm[int(np.argmin(np.abs(tube.centres_mm[:, 2] - 30.0)))]
    entry, inward = tube_model.skin_surface_frame(centre + np.array([0.0, 100.0, 0.0]))
    needle = Needle(
        id="fossa", entry_mm=entry, direction=inward, depth_mm=10.0, needle_length_mm=75.0, gauge_mm=0.25
    )
    a = tube_model.check_needle(needle)
    b = mesh_model.check_needle(needle)
    assert a.limiting_structure == b.limiting_structure == "tibial_nerve"
    assert b.max_safe_depth_mm - a.max_safe_depth_mm == pytest.approx(0.0, abs=0.2)
    assert b.max_safe_depth_mm >= a.max_safe_depth_mm - 1e-9  # the triangles are inside the tube


def test_batch_with_mesh_structures_agrees_with_single_checks(tube_model, mesh_model, atlas):
    needles = _needles(tube_model, atlas, n=12, seed=5)
    entry = np.array([n.entry_mm for n in needles])
    direction = np.array([n.direction for n in needles])
    depth = np.array([n.depth_mm for n in needles])
    length = np.array([n.needle_length_mm for n in needles])
    batch = mesh_model.check_many(entry, direction, depth, 0.25, length)
    for k, needle in enumerate(needles):
        rep = mesh_model.check_needle(needle)
        tube = [f.severity for f in rep.findings if f.rule in ("danger_zone", "caution_margin")]
        assert batch.status[k] == (2 if "danger" in tube else 1 if "caution" in tube else 0)
        assert batch.nearest_structure[k] == rep.nearest_danger.structure
        assert batch.nearest_clearance_mm[k] == pytest.approx(rep.nearest_danger.clearance_mm, abs=1e-9)
        assert batch.max_safe_depth_mm[k] == pytest.approx(rep.max_safe_depth_mm, abs=1e-9)
        assert batch.limiting_structure[k] == rep.limiting_structure


def test_unknown_mesh_only_structure_is_refused(atlas):
    with pytest.raises(ValueError, match="semitendinosus"):
        SafetyModel(atlas, mesh_only=["semitendinosus"])
