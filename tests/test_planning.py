"""Tests of thighmap.planning: model, plan file format, validation, resolution, save."""

from __future__ import annotations

import copy
import json
import math
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thighmap import atomic as atomic_module
from thighmap.planning import (
    GAUGE_PRESETS_MM,
    NEEDLE_LENGTH_PRESETS_MM,
    AtlasForPlanning,
    Needle,
    PatientProfile,
    Plan,
    PlanError,
    PlanProblem,
    angles_from_direction,
    direction_from_angles,
    dumps_plan,
    load_plan,
    mirror_x,
    parse_plan,
    plan_to_document,
    save_plan,
    validate_plan,
)

FILE = "plan.thighplan.json"

# ------------------------------------------------------------------- fake atlas

SKIN_RADIUS_MM = 70.0


class FakeAtlas:
    """Skin = infinite cylinder of radius 70 mm around the z axis; two trigger points."""

    structure_ids: set[str]
    trigger_point_ids: set[str]

    def __init__(self) -> None:
        self.structure_ids = {
            "skin",
            "biceps_femoris_long_head",
            "semitendinosus",
            "sciatic_nerve",
        }
        y = math.sqrt(SKIN_RADIUS_MM**2 - 20.0**2)
        self.techniques: dict[str, dict[str, Any]] = {
            "bflh_mid": {
                "entry_mm": [20.0, y, 200.0],
                "direction": [-20.0, -y, 0.0],  # not unit: must be normalised
                "depth_mm": 30.0,
                "needle_length_mm": 50.0,
                "gauge_mm": 0.25,
                "target": "biceps_femoris_long_head",
            },
            "st_mid": {
                "entry_mm": [-20.0, y, 180.0],
                "direction": [0.0, -1.0, 0.0],
                "depth_mm": 25.0,
                "needle_length_mm": 40.0,
                "gauge_mm": 0.25,
                "target": "semitendinosus",
            },
            "broken": {
                "entry_mm": [0.0, SKIN_RADIUS_MM, 100.0],
                "direction": [0.0, -1.0, 0.0],
                "depth_mm": float("nan"),
                "needle_length_mm": 50.0,
                "gauge_mm": 0.25,
                "target": None,
            },
        }
        self.trigger_point_ids = set(self.techniques)

    def trigger_point_technique(self, tp_id: str) -> dict:
        return copy.deepcopy(self.techniques[tp_id])

    def skin_surface_frame(self, point_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = np.asarray(point_mm, dtype=float)
        radial = np.array([p[0], p[1], 0.0])
        radial /= np.linalg.norm(radial)
        skin = radial * SKIN_RADIUS_MM + np.array([0.0, 0.0, p[2]])
        return skin, -radial


class IdsOnly:
    """Known ids without the atlas methods."""

    def __init__(self) -> None:
        self.structure_ids = {"biceps_femoris_long_head", "semitendinosus"}
        self.trigger_point_ids = {"bflh_mid"}


def test_fake_atlas_satisfies_protocol() -> None:
    assert isinstance(FakeAtlas(), AtlasForPlanning)


# ------------------------------------------------------------------- helpers


def base_doc() -> dict[str, Any]:
    return {
        "format": "thighmap-plan",
        "version": 1,
        "side": "right",
        "title": "BFLH demo",
        "patient": {
            "thigh_length_mm": 430,
            "mid_thigh_circumference_mm": 520,
            "subcutaneous_fat_mm": 12,
            "sex": "male",
        },
        "needles": [
            {
                "id": "n1",
                "entry_mm": [20.0, 67.0, 200.0],
                "direction": [0.0, -1.0, 0.0],
                "depth_mm": 35,
                "needle_length_mm": 50,
                "gauge_mm": 0.25,
                "target": "biceps_femoris_long_head",
                "note": "lateral",
            },
            {
                "id": "n2",
                "entry_mm": [-20.0, 67.0, 180.0],
                "direction": [0, -2, 0],
                "depth_mm": 25,
                "needle_length_mm": 40,
                "gauge_mm": 0.25,
            },
        ],
    }


def problems_of(doc: Any, known: Any = None) -> list[PlanProblem]:
    with pytest.raises(PlanError) as info:
        parse_plan(doc, FILE, known)
    err = info.value
    assert isinstance(err, ValueError)
    assert str(err) == "\n".join(str(p) for p in err.problems)
    return err.problems


def write(tmp_path: Path, text: str | bytes, name: str = FILE) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def load_problems(path: Path, known: Any = None) -> list[PlanProblem]:
    with pytest.raises(PlanError) as info:
        load_plan(path, known)
    return info.value.problems


# ------------------------------------------------------------------- valid plans


def test_load_valid_plan(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps(base_doc()))
    plan = load_plan(path, FakeAtlas())
    assert plan.side == "right"
    assert plan.title == "BFLH demo"
    assert plan.patient == PatientProfile(430.0, 520.0, 12.0, "male")
    n1, n2 = plan.needles
    assert n1.id == "n1" and n1.target == "biceps_femoris_long_head" and n1.note == "lateral"
    np.testing.assert_allclose(n1.tip_mm, [20.0, 32.0, 200.0])
    np.testing.assert_allclose(n2.direction, [0.0, -1.0, 0.0])  # normalised
    assert n2.target is None and n2.source["kind"] == "explicit"
    assert plan.contraindications is None


def test_needle_model_helpers() -> None:
    n = Needle("a", np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 5.0]), 10, 50, 0.25)
    np.testing.assert_allclose(n.direction, [0, 0, 1])
    np.testing.assert_allclose(n.tip_mm, [1, 2, 13])
    m = n.with_changes(depth_mm=20, direction=[0, 3, 0])
    np.testing.assert_allclose(m.tip_mm, [1, 22, 3])
    assert n.depth_mm == 10  # original untouched
    with pytest.raises(ValueError):
        n.entry_mm[0] = 5.0  # read-only array
    with pytest.raises(ValueError, match="non-zero"):
        n.with_changes(direction=[0, 0, 0])
    assert n == n.with_changes() and n != m


def test_presets() -> None:
    assert GAUGE_PRESETS_MM == (0.16, 0.20, 0.25, 0.30)
    assert NEEDLE_LENGTH_PRESETS_MM == (25, 30, 40, 50, 60, 75)


def test_patient_fields_are_optional() -> None:
    doc = base_doc()
    doc["patient"] = {"thigh_length_mm": 400}
    plan = parse_plan(doc, FILE)
    assert plan.patient == PatientProfile(thigh_length_mm=400.0)
    assert plan.patient.sex == "unspecified"
    del doc["patient"]
    assert parse_plan(doc, FILE).patient is None


def test_contraindications_parsed() -> None:
    doc = base_doc()
    doc["contraindications"] = {"pregnancy": False, "needle_phobia": True}
    plan = parse_plan(doc, FILE)
    assert plan.contraindications == {"pregnancy": False, "needle_phobia": True}


def test_empty_needle_list_is_valid() -> None:
    doc = base_doc()
    doc["needles"] = []
    assert parse_plan(doc, FILE).needles == []


# ------------------------------------------------------------------- validation

Mutation = Callable[[dict[str, Any]], None]


def set_needle(index: int, key: str, value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        doc["needles"][index][key] = value

    return mutate


def del_needle(index: int, key: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        del doc["needles"][index][key]

    return mutate


def set_top(key: str, value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        doc[key] = value

    return mutate


def set_patient(key: str, value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        doc["patient"][key] = value

    return mutate


# (mutation, expected needle label or None, field, rendered value or None, message fragment)
NEEDLE_CASES: list[tuple[str, Mutation, str, str, str | None, str]] = [
    (
        "negative depth",
        set_needle(1, "depth_mm", -3),
        "'n2'",
        "depth_mm",
        "-3",
        "depth must be greater than 0 mm",
    ),
    ("zero depth", set_needle(1, "depth_mm", 0), "'n2'", "depth_mm", "0", "greater than 0 mm"),
    (
        "depth beyond length",
        set_needle(0, "depth_mm", 55),
        "'n1'",
        "depth_mm",
        "55",
        "beyond the needle length (50 mm)",
    ),
    (
        "depth as string",
        set_needle(0, "depth_mm", "35"),
        "'n1'",
        "depth_mm",
        '"35"',
        "must be a number, not a string",
    ),
    (
        "bool is not a number",
        set_needle(0, "gauge_mm", True),
        "'n1'",
        "gauge_mm",
        "true",
        "must be a number, not true/false",
    ),
    (
        "bool in vector",
        set_needle(0, "entry_mm", [1, False, 3]),
        "'n1'",
        "entry_mm",
        "[1, false, 3]",
        "true/false is not a number",
    ),
    ("NaN depth", set_needle(0, "depth_mm", float("nan")), "'n1'", "depth_mm", "NaN", "finite"),
    (
        "infinite length",
        set_needle(0, "needle_length_mm", float("inf")),
        "'n1'",
        "needle_length_mm",
        "Infinity",
        "finite",
    ),
    (
        "NaN in entry",
        set_needle(1, "entry_mm", [1.0, float("nan"), 3.0]),
        "'n2'",
        "entry_mm",
        "[1.0, NaN, 3.0]",
        "finite",
    ),
    (
        "zero direction",
        set_needle(0, "direction", [0, 0, 0]),
        "'n1'",
        "direction",
        "[0, 0, 0]",
        "zero length",
    ),
    (
        "direction of 2 numbers",
        set_needle(0, "direction", [0, 1]),
        "'n1'",
        "direction",
        "[0, 1]",
        "3 numbers",
    ),
    (
        "direction as text",
        set_needle(0, "direction", "down"),
        "'n1'",
        "direction",
        '"down"',
        "3 numbers",
    ),
    (
        "gauge number instead of mm",
        set_needle(0, "gauge_mm", 30),
        "'n1'",
        "gauge_mm",
        "30",
        "gauge (needle diameter) must be between",
    ),
    (
        "gauge too thin",
        set_needle(0, "gauge_mm", 0.01),
        "'n1'",
        "gauge_mm",
        "0.01",
        "between 0.1 and 0.5 mm",
    ),
    (
        "needle length absurd",
        set_needle(0, "needle_length_mm", 500),
        "'n1'",
        "needle_length_mm",
        "500",
        "needle length must be between",
    ),
    (
        "entry in wrong units",
        set_needle(0, "entry_mm", [20000, 0, 0]),
        "'n1'",
        "entry_mm",
        "[20000, 0, 0]",
        "millimetres",
    ),
    (
        "missing depth",
        del_needle(1, "depth_mm"),
        "'n2'",
        "depth_mm",
        None,
        "missing required field",
    ),
    (
        "missing direction",
        del_needle(1, "direction"),
        "'n2'",
        "direction",
        None,
        "missing required field",
    ),
    (
        "missing gauge",
        del_needle(0, "gauge_mm"),
        "'n1'",
        "gauge_mm",
        None,
        "missing required field",
    ),
    ("note not text", set_needle(0, "note", 5), "'n1'", "note", "5", "must be text"),
    (
        "target not text",
        set_needle(0, "target", 7),
        "'n1'",
        "target",
        "7",
        "must be a structure id",
    ),
    ("duplicate id", set_needle(1, "id", "n1"), "'n1'", "id", '"n1"', "duplicate needle id"),
    ("missing id", del_needle(1, "id"), "#2", "id", None, "missing required field"),
    ("empty id", set_needle(1, "id", ""), "#2", "id", '""', "non-empty string"),
    (
        "trigger point without atlas",
        set_needle(1, "trigger_point", "bflh_mid"),
        "'n2'",
        "trigger_point",
        '"bflh_mid"',
        "needs the atlas",
    ),
    (
        "angles without atlas",
        set_needle(1, "angles_deg", {"tilt": 10, "azimuth": 0}),
        "'n2'",
        "angles_deg",
        '{"tilt": 10, "azimuth": 0}',
        "needs the atlas",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "needle", "field", "value", "fragment"),
    [case[1:] for case in NEEDLE_CASES],
    ids=[case[0] for case in NEEDLE_CASES],
)
def test_needle_validation_names_file_needle_field_value(
    mutate: Mutation, needle: str, field: str, value: str | None, fragment: str
) -> None:
    doc = base_doc()
    mutate(doc)
    if "angles_deg" in doc["needles"][1]:
        del doc["needles"][1]["direction"]
    lines = [str(p) for p in problems_of(doc)]
    head = f"{FILE}: needle {needle}: field '{field}': "
    if value is not None:
        head += f"value {value}: "
    matching = [line for line in lines if line.startswith(head) and fragment in line]
    assert matching, f"expected a line starting {head!r} containing {fragment!r} in {lines}"
    assert len(lines) == 1, lines


def test_exact_message_format() -> None:
    doc = base_doc()
    doc["needles"][1]["depth_mm"] = -3
    (problem,) = problems_of(doc)
    assert str(problem) == (
        "plan.thighplan.json: needle 'n2': field 'depth_mm': value -3: depth must be greater than 0 mm"
    )
    assert (problem.file, problem.needle_id, problem.field, problem.value) == (
        FILE,
        "n2",
        "depth_mm",
        -3,
    )


TOP_CASES: list[tuple[str, Mutation, str, str | None, str]] = [
    ("unknown side", set_top("side", "up"), "side", '"up"', "unknown side"),
    ("missing side", lambda d: d.pop("side"), "side", None, "missing required field"),
    (
        "needles not a list",
        set_top("needles", {"id": "n1"}),
        "needles",
        '{"id": "n1"}',
        "must be a list",
    ),
    ("missing needles", lambda d: d.pop("needles"), "needles", None, "missing required"),
    ("title not text", set_top("title", 3), "title", "3", "must be text"),
    (
        "thigh too short",
        set_patient("thigh_length_mm", 43),
        "patient.thigh_length_mm",
        "43",
        "between 250 and 600 mm",
    ),
    (
        "circumference in cm",
        set_patient("mid_thigh_circumference_mm", 52),
        "patient.mid_thigh_circumference_mm",
        "52",
        "between 300 and 1000 mm",
    ),
    (
        "fat negative",
        set_patient("subcutaneous_fat_mm", -1),
        "patient.subcutaneous_fat_mm",
        "-1",
        "between 1 and 80 mm",
    ),
    (
        "fat bool",
        set_patient("subcutaneous_fat_mm", True),
        "patient.subcutaneous_fat_mm",
        "true",
        "must be a number",
    ),
    ("unknown sex", set_patient("sex", "m"), "patient.sex", '"m"', "must be one of"),
    ("patient not object", set_top("patient", [1]), "patient", "[1]", "must be an object"),
    (
        "unknown contraindication",
        set_top("contraindications", {"pregnant": True}),
        "contraindications.pregnant",
        "true",
        "did you mean 'pregnancy'",
    ),
    (
        "contraindication not bool",
        set_top("contraindications", {"pregnancy": "no"}),
        "contraindications.pregnancy",
        '"no"',
        "must be true or false",
    ),
    ("needle not an object", set_top("needles", [5]), None, "5", "must be a JSON object"),
]


@pytest.mark.parametrize(
    ("mutate", "field", "value", "fragment"),
    [case[1:] for case in TOP_CASES],
    ids=[case[0] for case in TOP_CASES],
)
def test_top_level_validation(mutate: Mutation, field: str | None, value: str | None, fragment: str) -> None:
    doc = base_doc()
    mutate(doc)
    lines = [str(p) for p in problems_of(doc)]
    head = f"{FILE}: "
    if field is None:
        head += "needle #1: "
    else:
        head += f"field '{field}': "
    if value is not None:
        head += f"value {value}: "
    assert any(line.startswith(head) and fragment in line for line in lines), lines
    assert len(lines) == 1, lines


def test_patient_fat_inconsistent_with_circumference() -> None:
    doc = base_doc()
    doc["patient"].update(mid_thigh_circumference_mm=300, subcutaneous_fat_mm=40)
    (problem,) = problems_of(doc)
    assert problem.field == "patient.subcutaneous_fat_mm" and "no room" in problem.message


@pytest.mark.parametrize(
    ("fmt", "version", "field", "fragment"),
    [
        ("thighmap-atlas", 1, "format", 'expected "thighmap-plan"'),
        ("thighmap-plan", 2, "version", "supported"),
        ("thighmap-plan", 0, "version", "reads version(s) 1"),
        ("thighmap-plan", "1", "version", "must be an integer"),
        ("thighmap-plan", True, "version", "must be an integer"),
        ("thighmap-plan", 1.5, "version", "must be an integer"),
    ],
)
def test_format_and_version(fmt: str, version: Any, field: str, fragment: str) -> None:
    doc = base_doc()
    doc["format"] = fmt
    doc["version"] = version
    doc["side"] = "nowhere"  # not reported: the document cannot be interpreted
    (problem,) = problems_of(doc)
    assert problem.field == field and fragment in problem.message
    assert f"value {json.dumps(doc[field])}" in str(problem)


def test_version_2_says_newer() -> None:
    doc = base_doc()
    doc["version"] = 2
    (problem,) = problems_of(doc)
    assert "newer" in str(problem) and "1" in problem.message


def test_missing_format_and_version() -> None:
    doc = base_doc()
    del doc["format"], doc["version"]
    fields = [p.field for p in problems_of(doc)]
    assert fields == ["format", "version"]


@pytest.mark.parametrize("doc", [[1, 2], "plan", 3, None])
def test_top_level_not_object(doc: Any) -> None:
    (problem,) = problems_of(doc)
    assert str(problem).startswith(f"{FILE}: the top level must be a JSON object")


def test_known_ids_validate_references() -> None:
    doc = base_doc()
    doc["needles"][0]["target"] = "biceps_femoris_longhead"
    doc["needles"][1]["trigger_point"] = "bflh_mdi"
    del doc["needles"][1]["direction"]
    problems = problems_of(doc, IdsOnly())
    lines = [str(p) for p in problems]
    assert any(
        line.startswith(f"{FILE}: needle 'n1': field 'target': value \"biceps_femoris_longhead\"")
        and "unknown structure id" in line
        and "biceps_femoris_long_head" in line  # suggestion
        for line in lines
    ), lines
    assert any(
        line.startswith(f"{FILE}: needle 'n2': field 'trigger_point': value \"bflh_mdi\"")
        and "unknown trigger point id" in line
        for line in lines
    ), lines
    assert len(lines) == 2


def test_trigger_point_with_ids_only_needs_atlas() -> None:
    doc = base_doc()
    doc["needles"][1] = {"id": "n2", "trigger_point": "bflh_mid"}
    (problem,) = problems_of(doc, IdsOnly())
    assert problem.needle_id == "n2" and problem.field == "trigger_point"
    assert "needs the atlas" in problem.message


def test_all_problems_reported() -> None:
    doc = base_doc()
    doc["side"] = "middle"
    doc["patient"]["sex"] = "x"
    doc["needles"][0]["depth_mm"] = -1
    doc["needles"][0]["gauge_mm"] = float("nan")
    doc["needles"][1]["direction"] = [0, 0, 0]
    doc["needles"][1]["target"] = "nowhere"
    doc["needles"].append({"id": "n1", "entry_mm": [0, 1], "depth_mm": True})
    doc["needles"].append("not a needle")
    problems = problems_of(doc, FakeAtlas())
    got = {(p.needle_id, p.needle_index, p.field) for p in problems}
    assert got == {
        (None, None, "side"),
        (None, None, "patient.sex"),
        ("n1", 0, "depth_mm"),
        ("n1", 0, "gauge_mm"),
        ("n2", 1, "direction"),
        ("n2", 1, "target"),
        ("n1", 2, "id"),
        ("n1", 2, "entry_mm"),
        ("n1", 2, "depth_mm"),
        ("n1", 2, "direction"),
        ("n1", 2, "needle_length_mm"),
        ("n1", 2, "gauge_mm"),
        (None, 3, None),
    }
    assert len(str(PlanError(problems)).splitlines()) == len(problems) == 13


# ------------------------------------------------------------------- file-level errors


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.thighplan.json"
    (problem,) = load_problems(path)
    assert str(problem) == f"{path}: file not found"


def test_directory_is_not_a_plan(tmp_path: Path) -> None:
    (problem,) = load_problems(tmp_path)
    assert str(problem).startswith(f"{tmp_path}: ") and "directory" in problem.message


def test_not_utf8(tmp_path: Path) -> None:
    text = json.dumps(base_doc()).replace("BFLH demo", "caf\u00e9")
    path = write(tmp_path, text.encode("latin-1"))
    (problem,) = load_problems(path)
    assert str(problem).startswith(f"{path}: not UTF-8 text (byte 0xe9 at offset")


def test_not_json(tmp_path: Path) -> None:
    path = write(tmp_path, '{"format": "thighmap-plan",\n "version": 1,,}')
    (problem,) = load_problems(path)
    assert str(problem).startswith(f"{path}: not valid JSON: ")
    assert "line 2" in str(problem)


def test_nan_and_infinity_tokens_rejected(tmp_path: Path) -> None:
    text = json.dumps(base_doc(), indent=1)
    text = text.replace('"depth_mm": 35', '"depth_mm": NaN')
    text = text.replace('"depth_mm": 25', '"depth_mm": -Infinity')
    path = write(tmp_path, text)
    lines = [str(p) for p in load_problems(path)]
    assert lines == [
        f"{path}: needle 'n1': field 'depth_mm': value NaN: must be a finite number "
        "(NaN and Infinity are not allowed)",
        f"{path}: needle 'n2': field 'depth_mm': value -Infinity: must be a finite number "
        "(NaN and Infinity are not allowed)",
    ]


def test_duplicate_json_keys_reported(tmp_path: Path) -> None:
    text = json.dumps(base_doc()).replace('"depth_mm": 35', '"depth_mm": 35, "depth_mm": 3')
    path = write(tmp_path, text)
    (problem,) = load_problems(path)
    assert problem.field == "depth_mm" and "more than once" in problem.message


def test_utf8_bom_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xef\xbb\xbf" + json.dumps(base_doc()).encode())
    assert load_plan(path).title == "BFLH demo"


# ------------------------------------------------------------------- round trip & save


def test_round_trip_keeps_unknown_keys(tmp_path: Path) -> None:
    doc = base_doc()
    doc["x_instructor"] = {"nested": [1, 2.5, {"deep": None}], "flag": True}
    doc["z_first_written_later"] = "kept"
    doc["patient"]["x_height_mm"] = 1780
    doc["needles"][0]["x_colour"] = "#ff0000"
    doc["needles"][1]["x_meta"] = {"a": [1, "two"]}
    doc["contraindications"] = {"pregnancy": False}
    path = write(tmp_path, json.dumps(doc))
    plan = load_plan(path)
    assert plan.extra == {
        "x_instructor": doc["x_instructor"],
        "z_first_written_later": "kept",
    }
    out = tmp_path / "out.thighplan.json"
    save_plan(plan, out)
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert saved == doc  # every key and value, unknown ones included
    again = load_plan(out)
    assert again == plan
    text = out.read_text(encoding="utf-8")
    assert text.endswith("}\n") and not text.endswith("\n\n")
    save_plan(again, out)
    assert out.read_text(encoding="utf-8") == text  # stable output
    assert list(saved) == [
        "format",
        "version",
        "side",
        "title",
        "patient",
        "contraindications",
        "needles",
        "x_instructor",
        "z_first_written_later",
    ]


def test_saved_floats_have_no_noise(tmp_path: Path) -> None:
    n = Needle("a", np.array([0.1 + 0.2, -1e-12, 3.0]), np.array([1.0, 1.0, 0.0]), 10, 50, 0.1 + 0.15)
    text = dumps_plan(Plan(needles=[n], title="Ünïcode ✓"))
    assert '"entry_mm": [0.3, 0.0, 3.0]' in text
    assert '"direction": [0.707106781, 0.707106781, 0.0]' in text
    assert '"gauge_mm": 0.25' in text
    assert "Ünïcode ✓" in text  # UTF-8, not \u escapes
    path = tmp_path / FILE
    save_plan(Plan(needles=[n]), path)
    path.read_bytes().decode("utf-8")


def test_edited_needle_is_saved_with_new_values(tmp_path: Path) -> None:
    plan = parse_plan(base_doc(), FILE)
    edited = plan.with_changes(
        needles=[plan.needles[0].with_changes(depth_mm=40.0, target=None), plan.needles[1]]
    )
    doc = plan_to_document(edited)
    assert doc["needles"][0]["depth_mm"] == 40.0
    assert doc["needles"][0]["target"] is None
    assert doc["needles"][1]["direction"] == [0, -2, 0]  # unchanged: written as stated


def test_save_refuses_invalid_plan(tmp_path: Path) -> None:
    path = tmp_path / FILE
    path.write_text("old\n", encoding="utf-8")
    plan = parse_plan(base_doc(), FILE)
    bad = plan.with_changes(needles=[plan.needles[0].with_changes(depth_mm=float("nan"))])
    with pytest.raises(PlanError) as info:
        save_plan(bad, path)
    assert f"{path}: needle 'n1': field 'depth_mm': value NaN" in str(info.value)
    assert path.read_text(encoding="utf-8") == "old\n"
    dup = plan.with_changes(needles=[plan.needles[0], plan.needles[0]])
    assert [p.field for p in validate_plan(dup)] == ["id"]


def _old_plan_file(tmp_path: Path) -> tuple[Path, bytes, Plan]:
    path = tmp_path / FILE
    save_plan(parse_plan(base_doc(), FILE), path)
    old = path.read_bytes()
    plan = parse_plan(base_doc(), FILE)
    new = plan.with_changes(title="changed " * 500)  # large enough to write in parts
    return path, old, new


def test_atomic_save_survives_failure_mid_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, old, new = _old_plan_file(tmp_path)
    partial: list[int] = []

    def failing_write(fd: int, data: bytes) -> None:
        written = os.write(fd, data[: len(data) // 2])
        partial.append(written)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_module, "_write_all", failing_write)
    with pytest.raises(OSError, match="No space"):
        save_plan(new, path)
    assert partial and partial[0] > 0  # the failure really came after a partial write
    assert path.read_bytes() == old
    assert sorted(os.listdir(tmp_path)) == [FILE]  # no stray temporary file


def test_atomic_save_survives_failing_replace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, old, new = _old_plan_file(tmp_path)

    def failing_replace(src: Any, dst: Any) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(atomic_module.os, "replace", failing_replace)
    with pytest.raises(OSError, match="Input/output"):
        save_plan(new, path)
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert sorted(os.listdir(tmp_path)) == [FILE]
    save_plan(new, path)  # and a later save works
    assert load_plan(path).title == new.title


def test_atomic_save_fsyncs_and_keeps_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _old, new = _old_plan_file(tmp_path)
    path.chmod(0o640)
    synced: list[int] = []
    real_fsync = os.fsync

    def spy_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(atomic_module.os, "fsync", spy_fsync)
    save_plan(new, path)
    assert len(synced) >= 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert load_plan(path).title == new.title


# ------------------------------------------------------------------- hypothesis round trip

coord = st.floats(-400, 400, allow_nan=False, allow_infinity=False)
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
json_scalar = st.none() | st.booleans() | st.integers(-1000, 1000) | text
json_value = st.recursive(
    json_scalar,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=6,
)
extra_key = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8).map(lambda s: "x_" + s)


@st.composite
def needles(draw: st.DrawFn, needle_id: str) -> Needle:
    direction = draw(st.tuples(coord, coord, coord).filter(lambda d: math.hypot(*d) > 1e-3))
    length = draw(st.sampled_from(NEEDLE_LENGTH_PRESETS_MM) | st.floats(5, 150))
    depth = draw(st.floats(0.001, 1.0)) * length
    return Needle(
        id=needle_id,
        entry_mm=np.array(draw(st.tuples(coord, coord, coord))),
        direction=np.array(direction),
        depth_mm=depth,
        needle_length_mm=length,
        gauge_mm=draw(st.sampled_from(GAUGE_PRESETS_MM) | st.floats(0.1, 0.5)),
        target=draw(st.none() | st.sampled_from(sorted(FakeAtlas().structure_ids))),
        note=draw(st.none() | text),
        extra=draw(st.dictionaries(extra_key, json_value, max_size=2)),
    )


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    # ids are plain text: no control characters (the loader and save_plan refuse them)
    id_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20)
    ids = draw(st.lists(id_text.filter(lambda s: s.strip() != ""), max_size=4, unique=True))
    patient = draw(
        st.none()
        | st.builds(
            PatientProfile,
            thigh_length_mm=st.none() | st.floats(250, 600),
            mid_thigh_circumference_mm=st.just(600.0),
            subcutaneous_fat_mm=st.none() | st.floats(1, 40),
            sex=st.sampled_from(["male", "female", "unspecified"]),
            extra=st.dictionaries(extra_key, json_value, max_size=2),
        )
    )
    return Plan(
        side=draw(st.sampled_from(["right", "left"])),
        title=draw(st.none() | text),
        patient=patient,
        needles=[draw(needles(i)) for i in ids],
        extra=draw(st.dictionaries(extra_key, json_value, max_size=3)),
        contraindications=draw(
            st.none()
            | st.dictionaries(
                st.sampled_from(["pregnancy", "needle_phobia", "acute_tear_under_72h", "infection_at_site"]),
                st.booleans(),
            )
        ),
    )


@settings(max_examples=150, deadline=None)
@given(plans())
def test_save_load_round_trip_property(plan: Plan) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / FILE
        save_plan(plan, path)
        loaded = load_plan(path, FakeAtlas())
    assert loaded.side == plan.side and loaded.title == plan.title
    assert loaded.extra == plan.extra and loaded.contraindications == plan.contraindications
    if plan.patient is None:
        assert loaded.patient is None
    else:
        assert loaded.patient is not None and loaded.patient.extra == plan.patient.extra
        for name in ("thigh_length_mm", "mid_thigh_circumference_mm", "subcutaneous_fat_mm"):
            a, b = getattr(plan.patient, name), getattr(loaded.patient, name)
            assert (a is None and b is None) or abs(a - b) <= 1e-6
    assert len(loaded.needles) == len(plan.needles)
    for before, after in zip(plan.needles, loaded.needles, strict=True):
        assert after.isclose(before, tol_mm=1e-6), (before, after)
        np.testing.assert_allclose(after.tip_mm, before.tip_mm, atol=1e-6 * 200, rtol=0)


# ------------------------------------------------------------------- trigger points


def test_trigger_point_resolves_to_technique() -> None:
    atlas = FakeAtlas()
    doc = base_doc()
    doc["needles"] = [{"id": "tp1", "trigger_point": "bflh_mid"}]
    (n,) = parse_plan(doc, FILE, atlas).needles
    tech = atlas.techniques["bflh_mid"]
    np.testing.assert_allclose(n.entry_mm, tech["entry_mm"])
    np.testing.assert_allclose(n.direction, np.array(tech["direction"]) / SKIN_RADIUS_MM)
    assert (n.depth_mm, n.needle_length_mm, n.gauge_mm) == (30.0, 50.0, 0.25)
    assert n.target == "biceps_femoris_long_head"
    assert n.source["kind"] == "trigger_point" and n.source["trigger_point"] == "bflh_mid"
    # The saved file keeps the statement, nothing more.
    assert plan_to_document(parse_plan(doc, FILE, atlas))["needles"] == doc["needles"]


def test_trigger_point_explicit_fields_override() -> None:
    atlas = FakeAtlas()
    doc = base_doc()
    stated = {
        "id": "tp1",
        "trigger_point": "bflh_mid",
        "depth_mm": 20,
        "gauge_mm": 0.3,
        "note": "shallow",
        "x_extra": 1,
    }
    doc["needles"] = [stated]
    plan = parse_plan(doc, FILE, atlas)
    (n,) = plan.needles
    assert (n.depth_mm, n.gauge_mm, n.needle_length_mm) == (20.0, 0.3, 50.0)
    assert plan_to_document(plan)["needles"] == [stated]
    # An edit after loading is written as an explicit override and survives reloading.
    moved = n.with_changes(entry_mm=n.entry_mm + np.array([1.0, 0.0, 0.0]))
    doc2 = plan_to_document(plan.with_changes(needles=[moved]))
    (saved,) = doc2["needles"]
    assert saved["trigger_point"] == "bflh_mid" and saved["entry_mm"] == [
        21.0,
        pytest.approx(atlas.techniques["bflh_mid"]["entry_mm"][1]),
        200.0,
    ]
    assert "direction" not in saved
    (again,) = parse_plan(doc2, FILE, atlas).needles
    assert again.isclose(moved)


def test_trigger_point_override_makes_depth_invalid() -> None:
    doc = base_doc()
    doc["needles"] = [{"id": "tp1", "trigger_point": "st_mid", "depth_mm": 45}]
    (problem,) = problems_of(doc, FakeAtlas())
    assert str(problem).startswith(f"{FILE}: needle 'tp1': field 'depth_mm': value 45: ")
    assert "beyond the needle length (40 mm)" in problem.message


def test_trigger_point_bad_atlas_value_is_attributed() -> None:
    doc = base_doc()
    doc["needles"] = [{"id": "tp1", "trigger_point": "broken"}]
    (problem,) = problems_of(doc, FakeAtlas())
    assert problem.field == "depth_mm" and "value from trigger point 'broken'" in str(problem)
    doc["needles"] = [{"id": "tp1", "trigger_point": "broken", "depth_mm": 10}]
    assert parse_plan(doc, FILE, FakeAtlas()).needles[0].depth_mm == 10


def test_trigger_point_on_left_side_is_mirrored() -> None:
    atlas = FakeAtlas()
    doc = base_doc()
    doc["needles"] = [{"id": "tp1", "trigger_point": "bflh_mid"}]
    right = parse_plan(doc, FILE, atlas)
    doc["side"] = "left"
    left = parse_plan(doc, FILE, atlas)
    np.testing.assert_allclose(left.needles[0].entry_mm, right.needles[0].entry_mm * [-1, 1, 1])
    np.testing.assert_allclose(left.needles[0].direction, right.needles[0].direction * [-1, 1, 1])


# ------------------------------------------------------------------- angles


def angle_doc(tilt: float, azimuth: float, entry: list[float]) -> dict[str, Any]:
    doc = base_doc()
    doc["needles"] = [
        {
            "id": "a1",
            "entry_mm": entry,
            "angles_deg": {"tilt": tilt, "azimuth": azimuth},
            "depth_mm": 30,
            "needle_length_mm": 50,
            "gauge_mm": 0.25,
        }
    ]
    return doc


POSTERIOR = [0.0, SKIN_RADIUS_MM, 150.0]


def test_angles_zero_tilt_is_inward_normal() -> None:
    (n,) = parse_plan(angle_doc(0, 123, POSTERIOR), FILE, FakeAtlas()).needles
    np.testing.assert_allclose(n.direction, [0, -1, 0], atol=1e-12)
    assert n.source["kind"] == "angles"


@pytest.mark.parametrize(
    ("azimuth", "expected"),
    [
        (0, [0.0, -math.cos(math.radians(30)), 0.5]),  # toward proximal (+z)
        (90, [0.5, -math.cos(math.radians(30)), 0.0]),  # toward lateral (+x)
        (180, [0.0, -math.cos(math.radians(30)), -0.5]),  # distal
        (270, [-0.5, -math.cos(math.radians(30)), 0.0]),  # medial
    ],
)
def test_angles_convention_on_posterior_surface(azimuth: float, expected: list[float]) -> None:
    (n,) = parse_plan(angle_doc(30, azimuth, POSTERIOR), FILE, FakeAtlas()).needles
    np.testing.assert_allclose(n.direction, expected, atol=1e-12)


def test_angles_use_normal_at_entry() -> None:
    entry = [SKIN_RADIUS_MM * math.sin(0.5), SKIN_RADIUS_MM * math.cos(0.5), 100.0]
    (n,) = parse_plan(angle_doc(0, 0, entry), FILE, FakeAtlas()).needles
    np.testing.assert_allclose(n.direction, [-math.sin(0.5), -math.cos(0.5), 0], atol=1e-12)


def test_angles_statement_is_saved_back() -> None:
    doc = angle_doc(25, 80, POSTERIOR)
    plan = parse_plan(doc, FILE, FakeAtlas())
    assert plan_to_document(plan)["needles"] == doc["needles"]
    # Once the direction is edited the angles no longer hold: written explicitly.
    (n,) = plan.needles
    turned = n.with_changes(direction=[0.0, -1.0, 0.0])
    (saved,) = plan_to_document(plan.with_changes(needles=[turned]))["needles"]
    assert "angles_deg" not in saved and saved["direction"] == [0.0, -1.0, 0.0]


def test_angles_left_side_mirrored_and_lateral() -> None:
    doc = angle_doc(30, 90, [0.0, SKIN_RADIUS_MM, 150.0])
    doc["side"] = "left"
    (n,) = parse_plan(doc, FILE, FakeAtlas()).needles
    # Left-side coordinates are mirrored: lateral is -x.
    np.testing.assert_allclose(n.direction, [-0.5, -math.cos(math.radians(30)), 0], atol=1e-12)


@pytest.mark.parametrize(
    ("angles", "field", "fragment"),
    [
        ({"tilt": 95, "azimuth": 0}, "angles_deg.tilt", "less than 90"),
        ({"tilt": -1, "azimuth": 0}, "angles_deg.tilt", "at least 0"),
        ({"tilt": 10}, "angles_deg.azimuth", "missing required field"),
        ({"tilt": float("nan"), "azimuth": 0}, "angles_deg.tilt", "finite"),
        ({"tilt": 10, "azimuth": "lateral"}, "angles_deg.azimuth", "must be a number"),
        ([10, 20], "angles_deg", "must be an object"),
    ],
)
def test_angles_validation(angles: Any, field: str, fragment: str) -> None:
    doc = angle_doc(0, 0, POSTERIOR)
    doc["needles"][0]["angles_deg"] = angles
    (problem,) = problems_of(doc, FakeAtlas())
    assert problem.needle_id == "a1" and problem.field == field and fragment in problem.message


def test_angles_and_direction_conflict() -> None:
    doc = angle_doc(10, 0, POSTERIOR)
    doc["needles"][0]["direction"] = [0, -1, 0]
    (problem,) = problems_of(doc, FakeAtlas())
    assert problem.field == "angles_deg" and "not both" in problem.message


def test_angles_undefined_at_axis_normal() -> None:
    class CapAtlas(FakeAtlas):
        def skin_surface_frame(self, point_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return np.asarray(point_mm, float), np.array([0.0, 0.0, -1.0])

    (problem,) = problems_of(angle_doc(10, 0, POSTERIOR), CapAtlas())
    assert problem.field == "angles_deg" and "parallel to the long axis" in problem.message


normal_strategy = st.tuples(st.floats(-1, 1), st.floats(-1, 1), st.floats(-0.7, 0.7)).filter(
    lambda v: math.hypot(v[0], v[1]) > 0.2
)


@settings(max_examples=300, deadline=None)
@given(
    tilt=st.floats(0, 89.9),
    azimuth=st.floats(0, 359.999),
    normal=normal_strategy,
    side=st.sampled_from(["right", "left"]),
)
def test_angles_round_trip(
    tilt: float, azimuth: float, normal: tuple[float, float, float], side: str
) -> None:
    d = direction_from_angles(tilt, azimuth, np.array(normal), side)
    assert abs(np.linalg.norm(d) - 1) < 1e-12
    tilt2, az2 = angles_from_direction(d, np.array(normal), side)
    assert abs(tilt2 - tilt) < 1e-7
    if tilt > 1e-4:
        diff = (az2 - azimuth + 180) % 360 - 180
        assert abs(diff) < 1e-5, (azimuth, az2)
    d2 = direction_from_angles(tilt2, az2, np.array(normal), side)
    np.testing.assert_allclose(d2, d, atol=1e-9)


def test_angles_from_direction_simple() -> None:
    n = np.array([0.0, -1.0, 0.0])
    assert angles_from_direction(np.array([0, -1, 0]), n) == (0.0, 0.0)
    tilt, az = angles_from_direction(np.array([1.0, -1.0, 0.0]), n)
    assert tilt == pytest.approx(45) and az == pytest.approx(90)
    tilt, az = angles_from_direction(np.array([-1.0, -1.0, 0.0]), n)
    assert az == pytest.approx(270)


# ------------------------------------------------------------------- mirroring


def test_mirror_x() -> None:
    atlas = FakeAtlas()
    doc = base_doc()
    doc["needles"].append({"id": "tp", "trigger_point": "bflh_mid", "depth_mm": 20})
    doc["needles"].append(angle_doc(20, 45, POSTERIOR)["needles"][0])
    plan = parse_plan(doc, FILE, atlas)
    mirrored = mirror_x(plan)
    assert mirrored.side == "left"
    for a, b in zip(plan.needles, mirrored.needles, strict=True):
        np.testing.assert_array_equal(b.entry_mm, a.entry_mm * [-1, 1, 1])
        np.testing.assert_array_equal(b.direction, a.direction * [-1, 1, 1])
        np.testing.assert_array_equal(b.tip_mm, a.tip_mm * [-1, 1, 1])
    assert mirror_x(mirrored) == plan
    # The mirrored plan saves the same statements and resolves to the same needles.
    reloaded = parse_plan(plan_to_document(mirrored), FILE, atlas)
    for a, b in zip(mirrored.needles, reloaded.needles, strict=True):
        assert b.isclose(a, tol_mm=1e-9)
    saved = plan_to_document(mirrored)["needles"]
    assert saved[2] == {"id": "tp", "trigger_point": "bflh_mid", "depth_mm": 20}
    assert saved[3]["angles_deg"] == {"tilt": 20, "azimuth": 45}


@settings(max_examples=50, deadline=None)
@given(plans())
def test_mirror_twice_is_identity(plan: Plan) -> None:
    assert mirror_x(mirror_x(plan)) == plan


# ------------------------------------------------------------------- more edge cases


def test_unreadable_file_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, json.dumps(base_doc()))

    def denied(*args: Any, **kwargs: Any) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", denied)  # the loader opens the file with os.open
    (problem,) = load_problems(path)
    assert str(problem) == f"{path}: cannot read the file: permission denied"


def test_nan_in_unknown_key_rejected(tmp_path: Path) -> None:
    doc = base_doc()
    doc["x_stats"] = {"values": [1.0, float("nan")]}
    doc["needles"][0]["x_weight"] = float("inf")
    lines = [str(p) for p in problems_of(doc)]
    assert lines == [
        f"{FILE}: needle 'n1': field 'x_weight': value Infinity: "
        "NaN and Infinity are not valid JSON and cannot be kept",
        f"{FILE}: field 'x_stats.values[1]': value {{\"values\": [1.0, NaN]}}: "
        "NaN and Infinity are not valid JSON and cannot be kept",
    ]


def test_save_through_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.thighplan.json"
    link = tmp_path / "link.thighplan.json"
    save_plan(parse_plan(base_doc(), FILE), real)
    link.symlink_to(real)
    plan = parse_plan(base_doc(), FILE).with_changes(title="via link")
    save_plan(plan, link)
    assert link.is_symlink() and load_plan(real).title == "via link"


def test_save_rejects_unserialisable_extra(tmp_path: Path) -> None:
    path = tmp_path / FILE
    with pytest.raises(PlanError, match="cannot be written as JSON"):
        save_plan(Plan(extra={"x": object()}), path)
    assert not path.exists() and os.listdir(tmp_path) == []


def test_atomic_save_after_a_killed_writer_reuses_its_partial_file(tmp_path: Path) -> None:
    """A writer killed mid-save leaves one partial file named after the target (not a
    random name); the next save of that target replaces and removes it."""
    path, _old, new = _old_plan_file(tmp_path)
    leftover = atomic_module.partial_path(path)
    leftover.write_bytes(b"x" * 100_000)  # what a kill during the write leaves
    save_plan(new, path)
    assert sorted(os.listdir(tmp_path)) == [FILE]
    assert load_plan(path).title == new.title
    leftover.write_bytes(b"half")
    assert atomic_module.remove_stale_partials(tmp_path) == [leftover]
    assert sorted(os.listdir(tmp_path)) == [FILE]


def test_atomic_destination_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_module.atomic_destination(target) as part:
        part.write_bytes(b"half")
        raise RuntimeError("writer failed")
    assert target.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["out.bin"]
    with atomic_module.atomic_destination(target) as part:
        part.write_bytes(b"new")
    assert target.read_bytes() == b"new" and sorted(os.listdir(tmp_path)) == ["out.bin"]
