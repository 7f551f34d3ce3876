"""Hypothesis strategies for hostile plan files and import mappings, and the runner that
checks one file the way `thighmap check` does (shared by tests/test_fuzz_files.py and by
benchmarks/fuzz_before_after.py, which runs the same corpus against another checkout).

A file is built as a tree of Python values in which :class:`Raw` leaves are written into
the JSON text verbatim: that is how the strategies produce what ``json.dumps`` never
writes (integers of 400 digits, ``NaN``/``Infinity`` tokens, lone-surrogate escapes,
nesting a thousand levels deep).
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st


@dataclass(frozen=True)
class Raw:
    """JSON text written into the file as it is."""

    text: str


def to_json(value: Any, ascii_only: bool = False) -> str:
    """JSON text of a tree of dicts, lists, scalars and :class:`Raw` leaves."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        items = (
            f"{json.dumps(str(k), ensure_ascii=ascii_only)}: {to_json(v, ascii_only)}"
            for k, v in value.items()
        )
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(to_json(v, ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


# ---------------------------------------------------------------------- hostile leaves

ODD_TEXT = [
    "$\\foo{$",
    "$x^2$",
    "$",
    "\\",
    "<img src=x onerror=alert(1)>",
    "<b>bold</b>",
    "&amp;",
    "\ufeff",
    "\ufeffn1",
    "\u202eevil",
    "\u200b",
    "\x00",
    "\x1b[31mred",
    "line\nbreak",
    "tab\t",
    "e\u0301\u0301\u0301",
    "\U0001f489",
    "\u0627\u0644\u0639\u0631\u0628\u064a\u0629",
    "%s%n",
    "{0}",
    "../../etc/passwd",
    "/abs/path",
    "C:\\\\x",
    "",
    " ",
]
SURROGATES = [Raw('"\\ud800"'), Raw('"a\\udfffb"'), Raw('"\\udc80\\ud800"'), Raw('"$\\ud83d$"')]
NUMBER_TOKENS = [
    Raw("NaN"),
    Raw("Infinity"),
    Raw("-Infinity"),
    Raw("1" + "0" * 400),
    Raw("-1" + "0" * 5000),
    Raw("1e400"),
    Raw("-1e400"),
    Raw("1e-400"),
    Raw("5e-324"),
    Raw("123456789012345678901234567890"),
    Raw("1e15"),
    Raw("1.0000000000000002e15"),
    Raw("-0"),
    Raw("0.1e1"),
]


def _deep(kind: str, depth: int) -> Raw:
    if kind == "list":
        return Raw("[" * depth + "]" * depth)
    return Raw('{"k": ' * depth + "1" + "}" * depth)


deep_values = st.builds(
    _deep, st.sampled_from(["list", "dict"]), st.sampled_from([31, 32, 33, 100, 500, 990, 1100, 5000])
)
long_text = st.sampled_from([9_999, 10_000, 10_001, 50_000]).map(lambda n: "x" * n)
hostile_text = st.one_of(
    st.sampled_from(ODD_TEXT), st.sampled_from(SURROGATES), long_text, st.text(max_size=12)
)
hostile_number = st.one_of(
    st.sampled_from(NUMBER_TOKENS),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 0.0, -0.0, 1e-9, 5e-324, 1e308, True, False]),
)
scalar = st.one_of(st.none(), st.booleans(), hostile_number, hostile_text)
json_values = st.recursive(
    scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
hostile = st.one_of(scalar, deep_values, json_values)
"""Any value a hostile file could hold where a field is expected."""


def field(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the valid value, sometimes anything (for the import mappings)."""
    return st.one_of(valid, valid, valid, hostile)


# ---------------------------------------------------------------------- plan documents

# Entries on (or near) the bundled atlas's skin, from the examples; trigger points of it.
ENTRIES = [[14.0, 86.8, 191.0], [-34.0, 84.9, 191.0], [30.0, 70.0, 150.0], [0.0, 90.0, 250.0]]
TRIGGER_POINTS = ["bfl_nct_mid", "st_nct_mid", "st_mid_belly", "sm_lower_third", "bfs_mid", "nope"]
STRUCTURES = ["biceps_femoris_long_head", "semitendinosus", "sciatic_nerve", "unknown_structure"]
# Only these profiles are valid: fitting a new one takes ~1 s, so the valid ones are few.
PATIENTS = [
    {"thigh_length_mm": 450, "mid_thigh_circumference_mm": 600, "subcutaneous_fat_mm": 18, "sex": "female"},
    {"thigh_length_mm": 380, "sex": "male"},
]
CONTRAINDICATIONS = [
    "acute_tear_under_72h",
    "bleeding_disorder_or_anticoagulation",
    "pregnancy",
    "needle_phobia",
]

small = st.floats(-200.0, 200.0, allow_nan=False)
vec3 = st.lists(small, min_size=3, max_size=3)
entry = st.one_of(st.sampled_from(ENTRIES), st.sampled_from(ENTRIES), st.sampled_from(ENTRIES), vec3)
direction = st.one_of(st.sampled_from([[0, -1, 0], [0, 1, 0], [1, 0, 0], [0.2, -1, 0.1], [0, 0, 0]]), vec3)
# Text a plan may hold (odd, but Unicode and within the limits): "$" markup, HTML, BOMs,
# direction overrides, emoji, combining marks.
odd_ids = st.one_of(
    st.sampled_from(ODD_TEXT), st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
)
nice_text = st.one_of(odd_ids, st.just("x" * 10_000))
ids = st.one_of(*[st.sampled_from(["n1", "n2", "n3", "n1", "n2"])] * 3, odd_ids)


def _chooser(draw: st.DrawFn, level: int) -> Callable[[st.SearchStrategy[Any]], Any]:
    """Draws the valid value, or (one time in ``level + 1``; never at level 0) anything."""

    def choose(valid: st.SearchStrategy[Any]) -> Any:
        if level and draw(st.integers(0, level)) == 0:
            return draw(hostile)
        return draw(valid)

    return choose


@st.composite
def needle_docs(draw: st.DrawFn, level: int = 4) -> Any:
    f = _chooser(draw, level)
    if level and draw(st.integers(0, 8 * level)) == 0:
        return draw(hostile)
    doc: dict[str, Any] = {"id": f(ids)}
    how = draw(st.sampled_from(["explicit", "explicit", "trigger_point", "angles", "mixed"]))
    if how in ("trigger_point", "mixed"):
        doc["trigger_point"] = f(st.sampled_from(TRIGGER_POINTS))
    if how in ("explicit", "angles", "mixed") or draw(st.booleans()):
        doc["entry_mm"] = f(entry)
    if how == "angles" or (how == "mixed" and draw(st.booleans())):
        doc["angles_deg"] = f(
            st.fixed_dictionaries({"tilt": st.floats(-10, 100), "azimuth": st.floats(-400, 400)})
        )
    if how in ("explicit", "mixed") or draw(st.integers(0, 5)) == 0:
        doc["direction"] = f(direction)
    optional = {
        "depth_mm": st.sampled_from([5e-324, 0.5, 10, 20, 30, 45, 49.999, 60]),
        "needle_length_mm": st.sampled_from([25, 40, 50, 75]),
        "gauge_mm": st.sampled_from([0.16, 0.25, 0.3]),
        "target": st.sampled_from(STRUCTURES),
        "note": nice_text,
    }
    for key, valid in optional.items():
        if how == "explicit" and key in ("depth_mm", "needle_length_mm", "gauge_mm"):
            doc[key] = f(valid)
        elif draw(st.booleans()):
            doc[key] = f(valid)
    if level and draw(st.integers(0, 2 * level)) == 0:
        doc[draw(st.one_of(st.text(max_size=8), hostile_text))] = draw(hostile)
    return doc


@st.composite
def plan_documents(draw: st.DrawFn) -> Any:
    # how hostile: 0 = a well-formed plan (which may still be refused, e.g. an entry off
    # the skin); otherwise one field in about `level` is replaced by anything
    level = draw(st.sampled_from([0, 0, 0, 12, 6, 3]))
    f = _chooser(draw, level)
    if level and draw(st.integers(0, 10 * level)) == 0:
        return draw(hostile)  # not even an object
    doc: dict[str, Any] = {
        "format": f(st.just("thighmap-plan")),
        "version": f(st.just(1)),
        "side": f(st.sampled_from(["right", "left"])),
    }
    if draw(st.booleans()):
        doc["title"] = f(nice_text)
    if draw(st.integers(0, 3)) == 0:
        patient = dict(draw(st.sampled_from(PATIENTS)))
        if level and draw(st.booleans()):
            patient[draw(st.sampled_from([*patient, "sex", "other"]))] = draw(hostile)
        doc["patient"] = f(st.just(patient))
    if draw(st.integers(0, 4)) == 0:
        doc["contraindications"] = f(
            st.dictionaries(st.sampled_from(CONTRAINDICATIONS), st.booleans(), max_size=3)
        )
    if not level or draw(st.integers(0, 5 * level)) != 0:
        doc["needles"] = f(st.lists(needle_docs(level), max_size=4))
    if level and draw(st.integers(0, level)) == 0:
        doc[draw(st.one_of(st.text(max_size=8), hostile_text))] = draw(hostile)
    if draw(st.integers(0, 30)) == 0:
        doc = dict(reversed(list(doc.items())))
    return doc


@st.composite
def plan_files(draw: st.DrawFn, doc: Any = None) -> bytes:
    """The bytes of a (mostly) hostile plan file (of ``doc``, else a generated plan)."""
    text = to_json(draw(plan_documents()) if doc is None else doc, ascii_only=draw(st.booleans()))
    damage = draw(
        st.sampled_from(
            ["none"] * 24 + ["bom"] * 4 + ["double_bom", "truncate", "trailing", "latin1", "empty", "dup"]
        )
    )
    if damage == "truncate" and text:
        text = text[: draw(st.integers(0, len(text) - 1))]
    elif damage == "trailing":
        text += draw(st.sampled_from(["}", " x", "\x00", "\n\n", "]"]))
    elif damage == "empty":
        text = ""
    elif damage == "dup" and text.startswith("{") and len(text) > 2:
        text = '{"side": "left", ' + text[1:]
    data = text.encode("utf-8", "surrogatepass")
    if damage == "bom":
        data = b"\xef\xbb\xbf" + data
    elif damage == "double_bom":
        data = b"\xef\xbb\xbf\xef\xbb\xbf" + data
    elif damage == "latin1":
        data = data + "é".encode("latin-1")
    return data


@st.composite
def plan_file_variants(draw: st.DrawFn) -> list[bytes]:
    """Four files from one generated plan (generating is the slow part of fuzzing): as
    :func:`plan_files` makes it, with a byte-order mark, cut short, and pretty-printed
    with unknown keys first or (ASCII-escaped) trailing garbage."""
    doc = draw(plan_documents())
    first = draw(plan_files(doc))
    text = to_json(doc, ascii_only=True)
    cut = draw(st.integers(0, max(len(text) - 1, 0)))
    last = (
        json.dumps(doc, indent=2, ensure_ascii=False)
        if draw(st.booleans()) and not _has_raw(doc)
        else text + draw(st.sampled_from(["}", " 1", "\x00", "]]"]))
    )
    return [
        first,
        b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass"),
        text[:cut].encode("utf-8", "surrogatepass"),
        last.encode("utf-8", "surrogatepass"),
    ]


def _has_raw(value: Any) -> bool:
    if isinstance(value, Raw):
        return True
    if isinstance(value, dict):
        return any(not isinstance(k, str) or _has_raw(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_raw(v) for v in value)
    return False


# ---------------------------------------------------------------------- import mappings

LANDMARK_IDS = ["ischial_tuberosity", "greater_trochanter", "lateral_epicondyle", "medial_epicondyle"] * 3 + [
    "nope"
]
SURFACE_NAMES = [
    "st.stl",
    "st.stl",
    "missing.stl",
    "../outside.stl",
    "sub/../st.stl",
    "/etc/passwd",
    "",
    ".",
    "st.txt",
]
STRUCTURE_IDS = [
    "my_muscle",
    "semitendinosus",
    "../escape",
    "/abs/olute",
    "a/b",
    "..",
    ".",
    "x" * 300,
    "ok-id",
]


@st.composite
def mapping_documents(
    draw: st.DrawFn, landmark_points: dict[str, list[float]], absolute_surface: str | None = None
) -> Any:
    """An import mapping (docs/reference.md, "Importing surfaces"), often wrong.
    ``landmark_points``: the base atlas's landmarks (mm), so that well-formed mappings
    get as far as the surfaces; ``absolute_surface``: a surface outside the mapping's
    folder that a hostile mapping names by its absolute path."""
    level = draw(st.sampled_from([0, 0, 12, 6, 3]))
    f = _chooser(draw, level)
    if level and draw(st.integers(0, 10 * level)) == 0:
        return draw(hostile)
    names = [*SURFACE_NAMES, *([absolute_surface] if absolute_surface else [])]

    def either(make: Callable[[], Any]) -> Any:
        """``make()``, or (one time in ``level + 1``) anything."""
        if level and draw(st.integers(0, level)) == 0:
            return draw(hostile)
        return make()

    def landmark(lid: Any) -> Any:
        lid = f(st.just(lid))
        point = landmark_points.get(lid, [0.0, 0.0, 0.0]) if isinstance(lid, str) else [0.0, 0.0, 0.0]
        return {"id": lid, "point": f(st.just(point))}

    def structure() -> Any:
        entry = {
            "file": f(st.sampled_from(["st.stl"] * len(names) + names)),
            "id": f(st.sampled_from(["my_muscle"] * len(STRUCTURE_IDS) + STRUCTURE_IDS)),
            "kind": f(st.sampled_from(["muscle", "nerve", "artery", "vein", "bone", "wrong"])),
            "role": f(st.sampled_from(["context", "context", "danger", "target", "wrong"])),
        }
        if draw(st.booleans()):
            entry["name"] = f(nice_text)
        if draw(st.booleans()):
            entry["safety"] = f(
                st.fixed_dictionaries(
                    {"uncertainty_mm": st.just(5), "caution_margin_mm": st.just(3), "source": nice_text}
                )
            )
        return entry

    doc: dict[str, Any] = {
        "format": f(st.just("thighmap-import")),
        "version": f(st.just(1)),
        "units": f(st.sampled_from(["mm"] * 6 + ["cm", "inch"])),
        "landmarks": either(
            lambda: [
                landmark(lid)
                for lid in (
                    draw(st.permutations(LANDMARK_IDS[:4]))[: draw(st.integers(3, 4))]
                    if draw(st.integers(0, 3))
                    else draw(st.lists(st.sampled_from(LANDMARK_IDS), min_size=2, max_size=5))
                )
            ]
        ),
        "structures": either(lambda: [structure() for _ in range(draw(st.sampled_from([1, 1, 1, 2, 0])))]),
    }
    if draw(st.booleans()):
        doc["fit"] = f(st.sampled_from(["rigid", "similarity"] * 3 + ["affine"]))
    return doc


# ---------------------------------------------------------------------- running one file


@dataclass
class FuzzResult:
    """What checking one generated file gave."""

    path: Path
    data: bytes
    exit_code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def report(self) -> dict[str, Any] | None:
        """The `check --json` report when the check ran (exit 0-2), else ``None``."""
        if self.exit_code not in (0, 1, 2):
            return None
        return json.loads(self.stdout)

    @property
    def document(self) -> Any:
        """The file's JSON as Python (``None`` if it is not JSON)."""
        try:
            return json.loads(self.data.decode("utf-8-sig"))
        except (ValueError, RecursionError):
            return None


def check_in_process(path: Path, data: bytes, atlas: Any) -> FuzzResult:
    """`thighmap check PATH --json` through the function `cli.main` runs for it, with
    stdout and stderr captured."""
    from thighmap.cli import check_plan_file

    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = check_plan_file(str(path), atlas, as_json=True)
    return FuzzResult(path, data, code, out.getvalue(), err.getvalue(), time.perf_counter() - start)


PerResultCheck = Callable[[FuzzResult], None]
