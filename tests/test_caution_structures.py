"""Caution structures (role "caution": a cutaneous nerve, a superficial vein): measured
like the danger structures, but reaching one, its zone or its caution margin is a
caution with its own finding (caution_structure), never a danger.

The bundled atlas may have none yet, so these tests add a round tube of role caution to
a copy of it (tests/caution_atlas.py), laid in the subcutaneous fat across the path of a
trigger-point needle that is safe on the bundled atlas, and build needles around it
whose clearances are known in closed form (a straight tube of constant radius).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from tests.caution_atlas import with_caution_tube, without_caution_structures
from thighmap.anatomy.atlas import AtlasError, parse_atlas
from thighmap.planning import Needle
from thighmap.safety import prefetch, wording
from thighmap.safety.engine import SafetyModel, model_for_patient

SID = "test_cutaneous_nerve"
RADIUS_MM = 1.0
UNCERTAINTY_MM = 1.0
MARGIN_MM = 2.0
GAUGE_MM = 0.25
# from the needle's axis to the caution zone's edge (tube, uncertainty, margin, half gauge)
REACH_MM = RADIUS_MM + UNCERTAINTY_MM + MARGIN_MM + GAUGE_MM / 2


@dataclass
class Setup:
    base: object  # the bundled atlas less its caution structures
    atlas: object  # with the caution tube through the needle's path
    needle: Needle  # safe on the bundled atlas
    crossing_mm: float  # depth along the needle at which the tube's axis crosses it
    side: np.ndarray  # unit, perpendicular to the needle and to the tube
    along: np.ndarray  # unit, the tube's axis


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _tube_through(base, needle: Needle, crossing_mm: float, offset_mm: float = 0.0, **kw):
    """The base atlas plus a straight caution tube crossing the needle's line square at
    `crossing_mm`, its axis `offset_mm` to the side of the needle's axis."""
    entry = np.asarray(needle.entry_mm, float)
    d = _unit(np.asarray(needle.direction, float))
    along = _unit(np.cross(d, [0.0, 0.0, 1.0]))
    side = np.cross(d, along)
    centre = entry + d * crossing_mm + side * offset_mm
    return (
        with_caution_tube(
            base,
            kw.pop("sid", SID),
            [centre - 30.0 * along, centre + 30.0 * along],
            radius_mm=RADIUS_MM,
            caution_margin_mm=MARGIN_MM,
            uncertainty_mm=UNCERTAINTY_MM,
            **kw,
        ),
        side,
        along,
    )


@pytest.fixture(scope="module")
def setup(atlas) -> Setup:
    # the bundled atlas less its own caution structures (issue #11's cutaneous nerves and
    # superficial veins), so that the test's tube is the only one
    atlas = without_caution_structures(atlas)
    model = SafetyModel.for_atlas(atlas)
    for tp in sorted(atlas.trigger_points):
        needle = model.needle_from_trigger_point(tp)
        report = model.check_needle(needle)
        fat = [t for t in report.tissues if t.structure == "subcutaneous_fat"]
        if report.status == "safe" and fat and fat[0].exit_mm - fat[0].enter_mm >= 14.0:
            break
    else:
        pytest.skip("no safe trigger-point needle crosses 14 mm of fat")
    crossing = (fat[0].enter_mm + fat[0].exit_mm) / 2
    caution, side, along = _tube_through(atlas, needle, crossing)
    return Setup(atlas, caution, needle, crossing, side, along)


@pytest.fixture(scope="module")
def model(setup) -> SafetyModel:
    return SafetyModel.for_atlas(setup.atlas)


def _shifted(needle: Needle, by: np.ndarray, nid: str) -> Needle:
    return needle.with_changes(id=nid, entry_mm=np.asarray(needle.entry_mm, float) + by)


# ---------------------------------------------------------------------- the atlas
def test_the_atlas_lists_caution_structures_apart_from_danger_ones(setup) -> None:
    a = setup.atlas
    assert [s.id for s in a.caution_structures()] == [SID]
    assert SID not in {s.id for s in a.danger_structures()}
    assert [s.id for s in a.danger_structures()] == [s.id for s in setup.base.danger_structures()]
    guarded = [s.id for s in a.guarded_structures()]
    assert set(guarded) == {s.id for s in a.danger_structures()} | {SID}
    assert guarded == [sid for sid in a.structures if sid in set(guarded)]  # atlas order
    spec = a.structures[SID].safety
    assert spec is not None and spec.caution_margin_mm == MARGIN_MM


def test_without_caution_structures_gives_the_atlas_back(setup) -> None:
    bare = without_caution_structures(setup.atlas)
    assert bare.caution_structures() == []
    assert set(bare.structures) == set(setup.base.structures)
    assert SID in setup.atlas.structures  # the original is untouched


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda st: st.pop("safety"), "caution structure needs a safety object"),
        (lambda st: st["recipe"].update(type="loft"), "caution structure is a tube"),
        (lambda st: st.update(role="warning"), "expected one of target, danger, caution, context"),
    ],
)
def test_a_caution_structure_is_validated_like_a_danger_one(setup, tmp_path, change, message) -> None:
    doc = json.loads(json.dumps(setup.atlas.document))
    change(next(st for st in doc["structures"] if st["id"] == SID))
    with pytest.raises(AtlasError, match=message):
        parse_atlas(doc, tmp_path / "landmarks.json")


# ---------------------------------------------------------------------- single needle
def test_a_needle_through_a_caution_structure_is_a_caution_never_a_danger(setup, model) -> None:
    assert SafetyModel.for_atlas(setup.base).check_needle(setup.needle).status == "safe"
    report = model.check_needle(setup.needle)
    assert report.status == "caution", report.to_text()
    ours = [f for f in report.findings if f.structure == SID]
    assert [(f.rule, f.severity) for f in ours] == [("caution_structure", "caution")]
    assert not any(f.severity == "danger" for f in report.findings)
    # the axes cross: the needle enters the tube by its radius plus half the gauge
    assert report.clearances_mm[SID] == pytest.approx(-(RADIUS_MM + GAUGE_MM / 2), abs=1e-6)
    assert report.zone_clearances_mm[SID] == pytest.approx(report.clearances_mm[SID] - UNCERTAINTY_MM)
    assert report.nearest_caution is not None and report.nearest_caution.structure == SID
    assert report.nearest_caution.depth_on_needle_mm == pytest.approx(setup.crossing_mm, abs=1e-6)
    assert report.nearest_danger is not None and report.nearest_danger.structure != SID
    assert report.key_sentence().startswith("CAUTION: ")
    assert "Test cutaneous nerve" in report.key_sentence()
    assert set(report.clearances_mm) == {s.id for s in setup.atlas.guarded_structures()}


def test_one_mm_outside_the_margin_is_safe_and_just_inside_is_a_caution(setup) -> None:
    for offset, status in ((REACH_MM + 1.0, "safe"), (REACH_MM - 0.05, "caution")):
        atlas, _, _ = _tube_through(setup.base, setup.needle, setup.crossing_mm, offset)
        report = SafetyModel.for_atlas(atlas).check_needle(setup.needle)
        assert report.status == status, (offset, report.to_text())
        caution_clearance = report.zone_clearances_mm[SID] - MARGIN_MM
        assert caution_clearance == pytest.approx(offset - REACH_MM, abs=1e-6)
        assert any(f.rule == "caution_structure" for f in report.findings) == (status == "caution")


def test_within_the_zone_but_not_the_structure_is_a_caution(setup) -> None:
    offset = RADIUS_MM + GAUGE_MM / 2 + UNCERTAINTY_MM / 2  # clear of the tube, inside its zone
    atlas, _, _ = _tube_through(setup.base, setup.needle, setup.crossing_mm, offset)
    report = SafetyModel.for_atlas(atlas).check_needle(setup.needle)
    assert report.clearances_mm[SID] == pytest.approx(UNCERTAINTY_MM / 2, abs=1e-6)
    assert report.zone_clearances_mm[SID] < 0
    assert report.status == "caution"
    assert [f.severity for f in report.findings if f.structure == SID] == ["caution"]


def test_a_needle_reaching_a_danger_structure_through_a_caution_one_is_a_danger(setup) -> None:
    base_model = SafetyModel.for_atlas(setup.base)
    # from the skin over the sciatic nerve's mid-thigh point, straight to it and 3 mm on
    target = np.array([20.0, 20.2, 215.0])
    entry, _inward = base_model.skin_surface_frame(target + np.array([0.0, 120.0, 0.0]))
    d = _unit(target - entry)
    needle = Needle("both", entry, d, float(np.linalg.norm(target - entry)) + 3.0, 100.0, GAUGE_MM)
    before = base_model.check_needle(needle)
    assert before.status == "danger"
    fat = next(t for t in before.tissues if t.structure == "subcutaneous_fat")
    atlas, _, _ = _tube_through(setup.base, needle, (fat.enter_mm + fat.exit_mm) / 2)
    report = SafetyModel.for_atlas(atlas).check_needle(needle)
    assert report.status == "danger"
    rules = {(f.rule, f.structure, f.severity) for f in report.findings}
    assert ("danger_zone", "sciatic_nerve", "danger") in rules
    assert ("caution_structure", SID, "caution") in rules
    assert report.nearest_danger is not None and report.nearest_danger.structure == "sciatic_nerve"
    assert report.key_sentence().startswith("DANGER: the needle reaches the danger zone of the Sciatic")
    # the caution structure comes first on the line: it sets the maximum safe depth
    assert report.limiting_structure == SID and report.limiting_rule == "caution_structure"


def test_max_safe_depth_stops_at_the_caution_structures_margin(setup, model) -> None:
    report = model.check_needle(setup.needle)
    # the needle's rounded tip first meets the caution zone's cylinder REACH_MM before the crossing
    assert report.max_safe_depth_mm == pytest.approx(setup.crossing_mm - REACH_MM, abs=1e-6)
    assert report.limiting_structure == SID and report.limiting_rule == "caution_structure"
    assert "caution margin of the Test cutaneous nerve" in wording.max_safe_text(report)
    at = model.check_needle(setup.needle.with_changes(depth_mm=report.max_safe_depth_mm))
    assert not any(f.rule == "caution_structure" for f in at.findings)
    deeper = model.check_needle(setup.needle.with_changes(depth_mm=report.max_safe_depth_mm + 0.01))
    assert any(f.rule == "caution_structure" for f in deeper.findings)


def test_the_json_report_has_nearest_caution_and_every_clearance(setup, model) -> None:
    doc = model.check_needle(setup.needle).to_json()
    assert doc["nearest_caution"]["structure"] == SID
    assert doc["nearest_caution"]["clearance_mm"] == pytest.approx(-(RADIUS_MM + GAUGE_MM / 2), abs=0.01)
    assert doc["nearest_danger"]["structure"] != SID
    assert SID in doc["clearances_mm"] and doc["caution_structures"] == [SID]
    finding = next(f for f in doc["findings"] if f["rule"] == "caution_structure")
    assert finding["severity"] == "caution" and finding["structure"] == SID
    assert doc["max_safe_depth_rule"] == "caution_structure"
    # the bundled atlas's report keeps its fields: nearest_caution is there, and null
    base = SafetyModel.for_atlas(without_caution_structures(setup.atlas)).check_needle(setup.needle)
    assert base.to_json()["nearest_caution"] is None and base.to_json()["caution_structures"] == []


def test_the_text_report_names_the_caution_structure(setup, model) -> None:
    text = model.check_needle(setup.needle).to_text()
    assert "Nearest caution structure: Test cutaneous nerve: -1.1 mm" in text
    assert "[caution] The needle enters the Test cutaneous nerve (a cutaneous nerve) by 1.1 mm" in text


def test_the_left_thigh_gives_the_same_verdict(setup, model) -> None:
    from thighmap import sides

    left = model_for_patient(None, setup.atlas, "left")
    right = model.check_needle(setup.needle)
    mirrored = left.check_needle(sides.mirror_needle(setup.needle))
    assert mirrored.status == right.status == "caution"
    assert mirrored.clearances_mm == pytest.approx(right.clearances_mm, abs=1e-9)
    assert mirrored.nearest_caution is not None and right.nearest_caution is not None
    np.testing.assert_allclose(
        mirrored.nearest_caution.point_on_structure_mm,
        right.nearest_caution.point_on_structure_mm * np.array([-1.0, 1.0, 1.0]),
        atol=1e-9,
    )


# ---------------------------------------------------------------------- wording
@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("nerve", ("paraesthesia", "tingling or numbness", "usually brief", "insert beside")),
        ("vein", ("bruising or a haematoma", "press on the site")),
        ("artery", ("bleeding", "haematoma", "press firmly")),
    ],
)
def test_the_kind_chooses_what_the_finding_says(kind, words) -> None:
    text = wording.caution_structure_message("Thing", kind, 2.0, 0.5, 1.5, 12.0)
    for w in words:
        assert w in text, text
    assert "1.5 mm" in text and "2 mm caution margin" in text and "12.0 mm" in text
    inside = wording.caution_structure_message("Thing", kind, 2.0, -2.2, -1.2, 12.0)
    assert "enters the Thing" in inside and "1.2 mm" in inside
    bleed = wording.caution_structure_message("Thing", kind, 2.0, 0.5, 1.5, 12.0, bleeding=True)
    assert ("anticoagulation" in bleed) == (kind in ("vein", "artery"))


def test_a_superficial_vein_stays_a_caution_with_anticoagulation_recorded(setup) -> None:
    atlas, _, _ = _tube_through(setup.base, setup.needle, setup.crossing_mm, kind="vein")
    report = SafetyModel.for_atlas(atlas).check_needle(
        setup.needle, {"bleeding_disorder_or_anticoagulation": True}
    )
    ours = [f for f in report.findings if f.structure == SID]
    assert [f.severity for f in ours] == ["caution"]
    assert "haematoma" in ours[0].message and "anticoagulation" in ours[0].message


def test_a_safe_summary_names_a_nearer_caution_structure(setup) -> None:
    atlas, _, _ = _tube_through(setup.base, setup.needle, setup.crossing_mm, REACH_MM + 1.0)
    report = SafetyModel.for_atlas(atlas).check_needle(setup.needle)
    assert report.status == "safe"
    assert "nearest caution structure: the Test cutaneous nerve, 4.0 mm away" in report.key_sentence()


# ---------------------------------------------------------------------- many needles
def _needles_around(setup, n: int, seed: int) -> list[Needle]:
    """The needle moved sideways and tilted a little, so that some pass through the tube,
    some graze its zone or margin and some miss it."""
    rng = np.random.default_rng(seed)
    out = []
    d0 = _unit(np.asarray(setup.needle.direction, float))
    for i in range(n):
        offset = rng.uniform(-1.5, 1.5) * REACH_MM * setup.side + rng.uniform(-20, 20) * setup.along
        d = _unit(d0 + rng.normal(scale=0.05, size=3))
        depth = float(rng.uniform(3.0, 1.6 * setup.crossing_mm))
        out.append(
            setup.needle.with_changes(
                id=f"r{i}",
                entry_mm=np.asarray(setup.needle.entry_mm, float) + offset,
                direction=d,
                depth_mm=depth,
            )
        )
    return out


GEOMETRIC = {"danger_zone", "caution_margin", "caution_structure"}


def test_check_many_gives_what_check_needle_gives(setup, model) -> None:
    needles = _needles_around(setup, 120, seed=1)
    entry = np.array([n.entry_mm for n in needles])
    direction = np.array([n.direction for n in needles])
    depth = np.array([n.depth_mm for n in needles])
    length = np.array([n.needle_length_mm for n in needles])
    batch = model.check_many(entry, direction, depth, GAUGE_MM, length)
    codes = {"safe": 0, "caution": 1, "danger": 2}
    seen = set()
    for i, n in enumerate(needles):
        r = model.check_needle(n)
        geometric = [f.severity for f in r.findings if f.rule in GEOMETRIC]
        want = max((codes[s] for s in geometric), default=0)
        assert batch.status[i] == want, (n.id, r.to_text())
        seen.add(want)
        assert batch.max_safe_depth_mm[i] == pytest.approx(r.max_safe_depth_mm, abs=1e-9)
        assert batch.limiting_structure[i] == r.limiting_structure
        assert batch.limiting_rule[i] == r.limiting_rule
        assert batch.nearest_caution_structure is not None
        assert batch.nearest_caution_structure[i] == SID
        assert batch.nearest_caution_clearance_mm[i] == pytest.approx(r.clearances_mm[SID], abs=1e-9)
        assert r.nearest_danger is not None
        assert batch.nearest_structure[i] == r.nearest_danger.structure
    assert 1 in seen and 0 in seen, "the needles should both meet and miss the caution structure"


def test_a_plan_checked_in_a_batch_gives_each_needles_report(setup, model) -> None:
    needles = _needles_around(setup, 24, seed=2)
    assert len(needles) >= prefetch.MIN_NEEDLES
    batched = list(prefetch.check_needles(model, needles))
    for n, got in zip(needles, batched, strict=True):
        want = model.check_needle(n)
        assert json.dumps(got.to_json()) == json.dumps(want.to_json()), n.id


def test_depth_and_approach_maps_count_the_caution_structure(setup, model) -> None:
    from thighmap.safety import maps

    base = SafetyModel.for_atlas(setup.base)
    with_tube = maps.depth_map(model, 60.0).max_safe_depth_mm
    without = maps.depth_map(base, 60.0).max_safe_depth_mm
    assert np.all(with_tube <= without + 1e-9)
    assert np.any(with_tube < without - 1.0), "the tube lies under the skin: some depth must drop"
    target = (
        np.asarray(setup.needle.entry_mm) + _unit(np.asarray(setup.needle.direction)) * setup.needle.depth_mm
    )
    amap_with, amap_without = maps.approach_map(model, target), maps.approach_map(base, target)
    assert np.all(amap_with.status >= amap_without.status)
    assert np.all((amap_with.status == 2) == (amap_without.status == 2)), (
        "a caution structure is never a danger"
    )


def test_a_caution_structure_checked_as_a_mesh_agrees_with_its_tube(setup, model) -> None:
    as_mesh = SafetyModel(setup.atlas, mesh_only=(SID,))
    assert as_mesh.dangers.mesh_structure_ids == [SID]
    for n in [*_needles_around(setup, 8, seed=3), setup.needle]:
        tube, mesh = model.check_needle(n), as_mesh.check_needle(n)
        # the mesh is the tube's polygon: inside the round tube, by its chord error at most
        assert mesh.clearances_mm[SID] == pytest.approx(tube.clearances_mm[SID], abs=0.35)
        if abs(tube.zone_clearances_mm[SID] - MARGIN_MM) > 0.4:
            assert mesh.status == tube.status, n.id


# ---------------------------------------------------------------------- the command line
def test_the_command_line_exits_1_for_a_caution_structure(setup, tmp_path, capsys) -> None:
    from thighmap.cli import check_plan_file

    n = setup.needle
    plan = {
        "format": "thighmap-plan",
        "version": 1,
        "side": "right",
        "needles": [
            {
                "id": "n1",
                "entry_mm": [float(v) for v in n.entry_mm],
                "direction": [float(v) for v in n.direction],
                "depth_mm": n.depth_mm,
                "needle_length_mm": n.needle_length_mm,
                "gauge_mm": n.gauge_mm,
            }
        ],
    }
    path = tmp_path / "p.thighplan.json"
    path.write_text(json.dumps(plan), encoding="utf-8")
    assert check_plan_file(str(path), setup.atlas, as_json=True) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "caution"
    (needle,) = doc["needles"]
    assert needle["nearest_caution"]["structure"] == SID
    assert any(f["rule"] == "caution_structure" for f in needle["findings"])
    assert check_plan_file(str(path), setup.base, as_json=False) == 0
    capsys.readouterr()
    assert check_plan_file(str(path), setup.atlas, as_json=False) == 1
    assert "Nearest caution structure" in capsys.readouterr().out


def test_the_pdf_report_lists_the_caution_structure(setup, model, tmp_path) -> None:
    pytest.importorskip("matplotlib")
    from thighmap.planning import Plan
    from thighmap.report import pdf

    plan = Plan(side="right", title="caution", patient=None, needles=[setup.needle])
    report = model.check_plan(plan)
    texts: list[str] = []
    real = pdf._text

    def spy(fig, x, y, text, **kw):  # type: ignore[no-untyped-def]
        texts.append(str(text))
        return real(fig, x, y, text, **kw)

    pdf._text = spy  # type: ignore[assignment]
    try:
        out = tmp_path / "r.pdf"
        pdf.write_plan_report(plan, model, out, report=report, pictures=False)
    finally:
        pdf._text = real  # type: ignore[assignment]
    joined = "\n".join(texts)
    assert "Caution structures (role: caution)" in joined
    assert "caution_structure" not in joined  # the finding is shown by its sentence
    assert "Test cutaneous nerve" in joined and "[caution]" in joined


# ---------------------------------------------------------------------- importing
def test_an_imported_caution_surface_must_be_closed_and_is_checked(tmp_path, atlas) -> None:
    from tests.test_import import _external_set

    atlas = without_caution_structures(atlas)
    from thighmap.anatomy.atlas import load_atlas
    from thighmap.anatomy.importer import ImportError_, import_atlas

    def mapping(open_nerve: bool, safety: dict | None) -> object:
        path = _external_set(tmp_path, atlas, open_nerve=open_nerve)
        doc = json.loads(path.read_text())
        entry = {"file": "nerve.stl", "id": "imported_cutaneous_nerve", "kind": "nerve", "role": "caution"}
        if safety is not None:
            entry["safety"] = safety
        doc["structures"] = [entry]
        path.write_text(json.dumps(doc))
        return path

    safety = {"uncertainty_mm": 1.0, "caution_margin_mm": 2.0, "source": "test"}
    with pytest.raises(ImportError_, match="caution structure 'imported_cutaneous_nerve' is open"):
        import_atlas(mapping(True, safety), tmp_path / "out", base=atlas)
    with pytest.raises(ImportError_, match="caution structure new to the atlas"):
        import_atlas(mapping(False, None), tmp_path / "out", base=atlas)
    import_atlas(mapping(False, safety), tmp_path / "out", base=atlas)
    imported = load_atlas(tmp_path / "out" / "landmarks.json")
    assert [s.id for s in imported.caution_structures()] == ["imported_cutaneous_nerve"]
    model = SafetyModel.for_atlas(imported)
    assert model.dangers.mesh_structure_ids == ["imported_cutaneous_nerve"]
    # a copy of the sciatic nerve: a needle into it is a danger (the nerve) and a caution (the copy)
    target = np.array([20.0, 20.2, 215.0])
    entry, _ = model.skin_surface_frame(target + np.array([0.0, 120.0, 0.0]))
    needle = Needle("x", entry, target - entry, float(np.linalg.norm(target - entry)), 100.0, GAUGE_MM)
    report = model.check_needle(needle)
    rules = {(f.rule, f.structure) for f in report.findings}
    assert ("caution_structure", "imported_cutaneous_nerve") in rules
    assert ("danger_zone", "imported_cutaneous_nerve") not in rules


def test_a_fitted_atlas_keeps_its_caution_structures(setup) -> None:
    from thighmap.planning.model import PatientProfile

    patient = PatientProfile(400.0, 500.0, 15.0)
    fitted = model_for_patient(patient, setup.atlas)
    assert fitted.atlas.fitted and [s.id for s in fitted.atlas.caution_structures()] == [SID]
    report = fitted.check_needle(setup.needle)
    assert SID in report.clearances_mm and report.caution_structures == (SID,)
    assert report.nearest_caution is not None and report.nearest_caution.structure == SID
    assert all(f.severity == "caution" for f in report.findings if f.structure == SID)


def test_check_many_without_a_needle_length_names_no_rule_when_none_fires(setup, model) -> None:
    """No caution zone on the line, no needle length: nothing sets the depth (it used to
    name the last structure of the set, which would now be a caution structure)."""
    pts, normals = model.skin_points()
    i = int(np.argmax(pts[:, 1]))
    out = model.check_many(pts[i : i + 1], -normals[i : i + 1], np.array([5.0]), GAUGE_MM)
    assert out.max_safe_depth_mm[0] == pytest.approx(5.0)
    assert out.limiting_rule == [None] and out.limiting_structure == [None]
