"""The plan file's JSON Schema (committed copy, examples, refusals) and --self-test."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.test_cli import run
from thighmap.planning.schema import plan_schema

ROOT = Path(__file__).resolve().parents[1]


def test_committed_schema_is_what_thighmap_schema_prints():
    out = run("schema")
    assert out.returncode == 0
    assert json.loads(out.stdout) == plan_schema()
    assert json.loads((ROOT / "docs" / "thighplan.schema.json").read_text(encoding="utf-8")) == plan_schema()
    jsonschema.Draft202012Validator.check_schema(plan_schema())


@pytest.mark.parametrize(
    "example", sorted((ROOT / "examples").glob("*.thighplan.json")), ids=lambda p: p.name
)
def test_every_example_plan_follows_the_schema(example):
    jsonschema.validate(json.loads(example.read_text(encoding="utf-8")), plan_schema())


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(format="something-else"),
        lambda d: d.update(version=2),
        lambda d: d.update(side="middle"),
        lambda d: d["needles"][0].update(gauge_mm=30),
        lambda d: d["needles"][0].update(depth_mm=0),
        lambda d: d["needles"][0].update(entry_mm=[0, 0]),
        lambda d: d.update(patient={"sex": "other"}),
        lambda d: d.update(contraindications={"pregnancy": "yes"}),
    ],
)
def test_the_schema_refuses_what_the_loader_refuses(change):
    from thighmap.planning import PlanError
    from thighmap.planning.planfile import parse_plan

    doc = json.loads((ROOT / "examples" / "nct02516137-sites.thighplan.json").read_text(encoding="utf-8"))
    change(doc)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, plan_schema())
    with pytest.raises(PlanError):  # and so does the loader the program uses
        parse_plan(doc, "changed.thighplan.json")


@pytest.mark.slow
def test_self_test_passes_and_says_what_it_checked():
    out = run("--self-test")
    assert out.returncode == 0, out.stdout + out.stderr
    for line in ("atlas and meshes load", "never danger", "sciatic nerve is danger", "off-screen rendering"):
        assert line in out.stdout
    assert out.stdout.strip().endswith("self-test passed")
