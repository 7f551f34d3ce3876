"""The window's Safety panel gives the same verdict, in the same words, as `thighmap check`:
for a needle that points out of the skin and for a recorded contraindication."""

from __future__ import annotations

import json

from tests.gui.conftest import engine_or_skip
from tests.test_cli import run
from thighmap.safety import wording
from thighmap.viz import scene


def _plan_file(tmp_path, needle: dict, contraindications: dict | None = None):  # type: ignore[no-untyped-def]
    doc = {"format": "thighmap-plan", "version": 1, "side": "right", "needles": [needle]}
    if contraindications is not None:
        doc["contraindications"] = contraindications
    path = tmp_path / "p.thighplan.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _cli_needle_lines(path) -> list[str]:  # type: ignore[no-untyped-def]
    out = run("check", str(path))
    return [line.strip() for line in out.stdout.splitlines()], out.returncode


def test_an_outward_needle_is_danger_in_the_window_with_the_checks_words(window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine_or_skip()
    path = _plan_file(
        tmp_path,
        {
            "id": "out",
            "entry_mm": [3.0, 91.3, 215.3],
            "direction": [0, 1, 0],
            "depth_mm": 30,
            "needle_length_mm": 50,
            "gauge_mm": 0.25,
        },
    )
    assert window.files.open_plan(path)
    assert window.doc.selected == "out"  # the first needle of an opened plan is selected
    report = window.doc.reports["out"]
    assert window.safety.status == "danger"
    assert window.safety.badge.text() == "DANGER"
    assert window.safety.badge_colour() == scene.STATUS_COLOURS["danger"]
    lines, code = _cli_needle_lines(path)
    assert code == 2
    assert window.safety.sentence.text() in lines  # the same key sentence
    shown = window.safety.findings.toPlainText()
    for f in report.findings:
        assert f.message in shown
        assert wording.finding_line(f) in lines
    assert "points out of the skin" in shown


def test_a_recorded_contraindication_changes_the_badge(window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine_or_skip()
    model = window.core.model(window.plan)
    n = model.needle_from_trigger_point("bfl_nct_mid", "n1")
    needle = {
        "id": "n1",
        "entry_mm": n.entry_mm.tolist(),
        "direction": n.direction.tolist(),
        "depth_mm": n.depth_mm,
        "needle_length_mm": n.needle_length_mm,
        "gauge_mm": n.gauge_mm,
    }
    path = _plan_file(tmp_path, needle)
    assert window.files.open_plan(path)
    assert window.doc.selected == "n1"
    assert window.safety.status == "safe"
    window.set_contraindications({"acute_tear_under_72h": True})
    assert window.safety.status == "danger"
    assert window.safety.badge.text() == "DANGER"
    assert "do not needle now" in window.safety.findings.toPlainText()
    window.set_contraindications({"acute_tear_under_72h": False, "needle_phobia": True})
    assert window.safety.status == "caution"
    shown = window.safety.findings.toPlainText()
    assert "Needle phobia" in shown
    # the command line says the same for the same plan
    with_phobia = _plan_file(tmp_path, needle, {"needle_phobia": True})
    lines, code = _cli_needle_lines(with_phobia)
    assert code == 1
    assert window.safety.sentence.text() in lines
    window.undo.undo()
    window.undo.undo()
    assert window.safety.status == "safe"
