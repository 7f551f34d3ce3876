"""The PDF report: written from the command line and the core, read back as text."""

from __future__ import annotations

import json
import os

import pytest
from pypdf import PdfReader

from tests.test_cli import run
from thighmap import NOT_A_MEDICAL_DEVICE
from thighmap.planning import Plan, load_plan, mirror_x
from thighmap.report import write_plan_report
from thighmap.safety.engine import SafetyModel, model_for_plan

FIVE_SITES = ("bfl_nct_mid", "st_nct_mid", "bfs_distal", "sm_lower_third", "am_mid")


def _pages(path) -> list[str]:  # type: ignore[no-untyped-def]
    return [" ".join(page.extract_text().split()) for page in PdfReader(str(path)).pages]


def _five_needle_plan_file(tmp_path, atlas, contraindications=None):  # type: ignore[no-untyped-def]
    """The five techniques on the patient of the plan (the atlas fitted to the profile, so
    that each entry lies on that patient's skin)."""
    needles = _needles(SafetyModel.for_atlas(atlas))
    path = _write_five(tmp_path, needles, contraindications)
    return _write_five(tmp_path, _needles(model_for_plan(load_plan(path), atlas)), contraindications)


def _needles(model):  # type: ignore[no-untyped-def]
    needles = []
    for k, tp in enumerate(FIVE_SITES):
        n = model.needle_from_trigger_point(tp, f"n{k + 1}")
        needles.append(
            {
                "id": n.id,
                "entry_mm": [float(v) for v in n.entry_mm],
                "direction": [float(v) for v in n.direction],
                "depth_mm": n.depth_mm,
                "needle_length_mm": n.needle_length_mm,
                "gauge_mm": n.gauge_mm,
                "target": n.target,
            }
        )
    return needles


def _write_five(tmp_path, needles, contraindications):  # type: ignore[no-untyped-def]
    doc = {
        "format": "thighmap-plan",
        "version": 1,
        "side": "right",
        "title": "Five sites",
        "patient": {"thigh_length_mm": 410, "mid_thigh_circumference_mm": 500, "subcutaneous_fat_mm": 10},
        "needles": needles,
    }
    if contraindications is not None:
        doc["contraindications"] = contraindications
    path = tmp_path / "five.thighplan.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_report_from_the_command_line_reads_back(tmp_path, atlas):
    plan_file = _five_needle_plan_file(
        tmp_path,
        atlas,
        {"acute_tear_under_72h": False, "bleeding_disorder_or_anticoagulation": True, "pregnancy": False},
    )
    pdf = tmp_path / "report.pdf"
    out = run("report", str(plan_file), "-o", str(pdf))
    assert out.returncode in (0, 1), out.stderr  # the bundled techniques: safe or caution
    assert "6 pages" in out.stdout
    pages = _pages(pdf)
    assert len(pages) == 6  # the plan, then one page per needle
    disclaimer = " ".join(NOT_A_MEDICAL_DEVICE.split())[:60]
    assert all(disclaimer in p for p in pages)
    first = pages[0]
    assert "Five sites" in first and "right thigh" in first
    assert "thigh length 410 mm" in first and "fitted" in first
    assert "Bleeding disorder or anticoagulant medication: YES" in first
    assert "Acute hamstring tear in the last 72 hours: no" in first
    assert "Needle phobia: not recorded" in first
    plan = load_plan(plan_file)
    model = model_for_plan(plan, atlas)
    report = model.check_plan(plan)
    for k, nr in enumerate(report.needles):
        page = pages[k + 1]
        assert f"Needle {nr.id}" in page and nr.status.upper() in page
        assert f"{nr.max_safe_depth_mm:.1f} mm" in page
        assert nr.name(nr.nearest_danger.structure) in page
        assert "Tissues along the needle" in page and "Skin" in page
    assert oct(os.stat(pdf).st_mode & 0o777) != oct(0o600)


def test_report_of_a_left_plan_and_without_checklist(tmp_path, atlas):
    model = SafetyModel.for_atlas(atlas)
    right = Plan(side="right", needles=[model.needle_from_trigger_point("bfs_distal", "n1")])
    left = mirror_x(right)
    path = write_plan_report(left, model_for_plan(left, atlas), tmp_path / "left.pdf", pictures=False)
    pages = _pages(path)
    assert len(pages) == 2
    assert "left thigh" in pages[0] and "ask and record before treatment" in pages[0]
    status = model_for_plan(right, atlas).check_plan(right).needles[0].status
    assert status.upper() in pages[1]


def test_report_of_a_bad_plan_exits_3(tmp_path):
    bad = tmp_path / "bad.thighplan.json"
    bad.write_text('{"format": "thighmap-plan"', encoding="utf-8")
    out = run("report", str(bad), "-o", str(tmp_path / "r.pdf"))
    assert out.returncode == 3 and "bad.thighplan.json" in out.stderr
    assert not (tmp_path / "r.pdf").exists()


@pytest.mark.parametrize("target", ["/proc/no/such/dir/r.pdf"])
def test_report_to_an_unwritable_place_says_so(tmp_path, target):
    plan = tmp_path / "p.thighplan.json"
    plan.write_text(json.dumps({"format": "thighmap-plan", "version": 1, "side": "right", "needles": []}))
    out = run("report", str(plan), "-o", target)
    assert out.returncode == 3 and "--output" in out.stderr and "Traceback" not in out.stderr
