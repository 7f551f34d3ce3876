"""Plan files (``*.thighplan.json``, contract version 1 of ``design.md``).

Loading validates everything and reports *all* problems at once as a
:class:`PlanError`; each :class:`PlanProblem` names the file, the needle, the field
and the offending value, e.g.::

    plan.thighplan.json: needle 'n2': field 'depth_mm': value -3: depth must be greater than 0 mm

A wrong ``format`` or ``version`` stops validation early: the rest of the document
cannot be interpreted, and listing its "problems" would only bury the real one.

Saving writes pretty, UTF-8 JSON with a trailing newline and keys in a fixed order,
atomically (:mod:`thighmap.atomic`), keeping
unknown keys and the original statement of each needle (trigger point, angles).
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import gc
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from json.encoder import encode_basestring as _encode_text  # type: ignore[attr-defined]
from typing import Any, Protocol, cast

import numpy as np

from thighmap.atomic import write_atomic
from thighmap.planning.model import (
    CONTRAINDICATION_KEYS,
    PATIENT_BOUNDS,
    SEXES,
    SIDES,
    Needle,
    PatientProfile,
    Plan,
    needle_value_problems,
)
from thighmap.planning.resolve import (
    TECHNIQUE_KEYS,
    AngleConventionError,
    AtlasForPlanning,
    direction_at_entry,
    trigger_point_base,
)
from thighmap.reading import FileRefused, read_regular_file

FORMAT_NAME = "thighmap-plan"
SUPPORTED_VERSIONS: tuple[int, ...] = (1,)
CURRENT_VERSION = 1
PLAN_SUFFIX = ".thighplan.json"

TOP_LEVEL_KEYS: tuple[str, ...] = (
    "format",
    "version",
    "side",
    "title",
    "patient",
    "contraindications",
    "needles",
)
PATIENT_KEYS: tuple[str, ...] = (*PATIENT_BOUNDS, "sex")
# Keys of a needle object, in the order they are written.
NEEDLE_KEYS: tuple[str, ...] = (
    "id",
    "trigger_point",
    "entry_mm",
    "direction",
    "angles_deg",
    "depth_mm",
    "needle_length_mm",
    "gauge_mm",
    "target",
    "note",
)
_STATEMENT_KEYS: tuple[str, ...] = (*TECHNIQUE_KEYS, "trigger_point", "angles_deg")

MM_DECIMALS = 6  # millimetres and degrees: 1e-6
UNIT_DECIMALS = 9  # direction components (dimensionless)
_SAME_TOL = 1e-9

# Limits on what a plan file may hold, enforced while it is read (docs/reference.md,
# "Limits"). Each is far beyond any real plan; they exist so that a hostile or broken
# file is refused quickly with a message instead of exhausting time or memory.
MAX_PLAN_BYTES = 64 * 1024 * 1024  # a 100,000-needle plan as written by save_plan is ~30 MB
MAX_NEEDLES = 100_000
MAX_NESTING_DEPTH = 32  # objects and lists inside each other (a real plan: 5)
MAX_TEXT_CHARS = 10_000  # any string or key (titles, notes, unknown keys)
MAX_ID_CHARS = 200  # needle ids, trigger point ids, target structure ids
NUMBER_LIMIT = 1e15  # magnitude of any number (integers stay exact below 2**53)
MAX_PROBLEMS_SHOWN = 50  # problems listed in a message; the rest are counted
MAX_SHOWN_CHARS = 80  # a value, id or field in a message is cut to this with "…"
_MAX_INT_DIGITS = 30  # longer integer literals are not converted at all (10**400, 5000 digits)


class _NoValue:
    """Marker for a problem that has no value to show (missing field, whole file)."""

    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE: Any = _NoValue()


class _BigInteger:
    """An integer literal too long to convert (kept as text; refused by the limits)."""

    def __init__(self, digits: str) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"{self.digits[:12]}… ({len(self.digits)} digits)"


def _parse_int(literal: str) -> int | _BigInteger:
    return int(literal) if len(literal) <= _MAX_INT_DIGITS else _BigInteger(literal)


def printable(text: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """``text`` safe to show anywhere: characters that are not printable (controls, lone
    surrogates, byte-order marks, direction overrides) written as ``\\uXXXX`` escapes,
    and cut to ``limit`` characters with an ellipsis."""
    if len(text) > limit:
        text = text[: limit - 1]
        cut = True
    else:
        cut = False
    if not text.isprintable():
        text = "".join(
            ch if ch.isprintable() else ch.encode("unicode_escape", "backslashreplace").decode("ascii")
            for ch in text
        )
    if len(text) > limit:
        text = text[: limit - 1]
        cut = True
    return text + "…" if cut else text


def _render_value(value: Any, limit: int = MAX_SHOWN_CHARS) -> str:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, str) and len(value) > 4 * limit:
        value = value[: 4 * limit]  # never escape or encode more than is shown
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return printable(text, limit)


@dataclass(frozen=True)
class PlanProblem:
    """One problem in a plan.

    ``needle_id`` is ``None`` for problems outside the needles, or for a needle without
    a usable id, in which case ``needle_index`` (0-based) locates it. ``field`` is a
    dotted path (``"patient.sex"``, ``"angles_deg.tilt"``) or ``None`` for the whole
    file. ``value`` is :data:`NO_VALUE` when there is none (e.g. a missing field).
    """

    file: str
    needle_id: str | None
    field: str | None
    value: Any
    message: str
    needle_index: int | None = None

    def __str__(self) -> str:
        """One line: the file, the needle, the field, the value (each escaped and cut to
        a readable length) and the message."""
        parts = [printable(self.file, 4 * MAX_SHOWN_CHARS)]
        if self.needle_id is not None:
            parts.append(f"needle '{printable(self.needle_id)}'")
        elif self.needle_index is not None:
            parts.append(f"needle #{self.needle_index + 1}")
        if self.field is not None:
            parts.append(f"field '{printable(self.field)}'")
        if self.value is not NO_VALUE:
            parts.append(f"value {_render_value(self.value)}")
        parts.append(printable(self.message, 8 * MAX_SHOWN_CHARS))
        return ": ".join(parts)


class PlanError(ValueError):
    """A plan could not be used; ``problems`` lists every problem found."""

    def __init__(self, problems: Iterable[PlanProblem]) -> None:
        self.problems: list[PlanProblem] = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        """Every problem on its own line, at most :data:`MAX_PROBLEMS_SHOWN` of them."""
        shown = [str(p) for p in self.problems[:MAX_PROBLEMS_SHOWN]]
        hidden = len(self.problems) - len(shown)
        if hidden > 0:
            first = self.problems[0].file
            shown.append(
                f"{printable(first, 4 * MAX_SHOWN_CHARS)}: … and {hidden} more problem(s) not listed"
            )
        return "\n".join(shown)


class KnownIds(Protocol):
    """Ids to validate references against (the atlas satisfies this)."""

    structure_ids: set[str]
    trigger_point_ids: set[str]


class _Collector:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[PlanProblem] = []

    def add(
        self,
        needle_id: str | None,
        field: str | None,
        value: Any,
        message: str,
        needle_index: int | None = None,
    ) -> None:
        self.problems.append(PlanProblem(self.file, needle_id, field, value, message, needle_index))

    def raise_if_any(self) -> None:
        if self.problems:
            raise PlanError(self.problems)


Report = Callable[[str, Any, str], None]


# --------------------------------------------------------------------------- loading


def load_plan(path: str | os.PathLike[str], known: KnownIds | None = None) -> Plan:
    """Read and validate a plan file; raise :class:`PlanError` listing every problem.

    ``known`` (usually the atlas) supplies ``structure_ids`` and ``trigger_point_ids``
    to check references; if it also implements
    :class:`~thighmap.planning.resolve.AtlasForPlanning`, needles stated by trigger
    point or by angles are resolved with it. A UTF-8 byte-order mark is accepted.
    The limits above are enforced while reading (see :func:`read_plan_document`).
    """
    doc, pre = read_plan_document(path)
    return parse_plan_document(doc, str(path), known, pre)


def parse_plan_document(doc: Any, source_name: str, known: KnownIds | None, pre: list[PlanProblem]) -> Plan:
    """Validate a document returned by :func:`read_plan_document` (its limits already
    checked), reporting its ``pre`` problems with the rest."""
    return _parse_plan(doc, source_name, known, pre)


def read_plan_document(path: str | os.PathLike[str]) -> tuple[Any, list[PlanProblem]]:
    """The decoded JSON of a plan file, read once, and the problems found on the way
    (duplicate keys), which :func:`parse_plan` reports with the rest.

    Raises :class:`PlanError` when the file cannot be used at all: missing, not a
    regular file (a directory, a pipe, a device: refused before it is opened, so a fifo
    cannot block), larger than :data:`MAX_PLAN_BYTES` (never more than that is read),
    not UTF-8, not JSON, or beyond the limits on nesting, text length, number size
    and needle count (:func:`document_limit_problems`)."""
    name = str(path)

    def fail(message: str) -> PlanError:
        return PlanError([PlanProblem(name, None, None, NO_VALUE, message)])

    try:
        data = read_regular_file(path, MAX_PLAN_BYTES, "plan file")
    except FileRefused as exc:
        raise fail(str(exc)) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise fail(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start} is not "
            "valid UTF-8); plan files must be saved as UTF-8"
        ) from None
    del data

    duplicates: list[str] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                duplicates.append(key)
            out[key] = value
        return out

    try:
        doc = json.loads(text, object_pairs_hook=pairs_hook, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise fail(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise fail(
            f"nested too deeply (objects and lists more than {MAX_NESTING_DEPTH} levels deep)"
        ) from None
    except ValueError as exc:  # anything else the decoder refuses
        raise fail(f"not usable JSON: {exc}") from None
    limits = document_limit_problems(doc, name)
    if limits:
        raise PlanError(limits)
    pre = [
        PlanProblem(
            name,
            None,
            key,
            NO_VALUE,
            "key appears more than once in the same JSON object; remove the duplicate",
        )
        for key in dict.fromkeys(duplicates)
    ]
    return doc, pre


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def document_limit_problems(doc: Any, name: str) -> list[PlanProblem]:
    """Where a decoded plan document goes beyond the limits: nesting deeper than
    :data:`MAX_NESTING_DEPTH`, text longer than :data:`MAX_TEXT_CHARS` or holding a lone
    surrogate (not Unicode text; it cannot be saved), a number beyond
    :data:`NUMBER_LIMIT`, more than :data:`MAX_NEEDLES` needles. Walks the document
    without recursion, so any depth is safe."""
    problems: list[PlanProblem] = []
    needles = doc.get("needles") if isinstance(doc, dict) else None

    def locate(path: list[str | int]) -> tuple[str | None, int | None, str | None]:
        """(needle id, needle index, field) of a place in the document."""
        if len(path) >= 2 and path[0] == "needles" and isinstance(path[1], int):
            index = path[1]
            raw = needles[index] if isinstance(needles, list) else None
            raw_id = raw.get("id") if isinstance(raw, dict) else None
            ok = isinstance(raw_id, str) and 0 < len(raw_id) <= MAX_ID_CHARS and not _has_surrogate(raw_id)
            rest = path[2:]
            field = _dotted(rest) if rest else None
            return (raw_id if ok else None), index, field
        return None, None, _dotted(path) if path else None

    def add(path: list[str | int], value: Any, message: str) -> None:
        needle_id, index, field = locate(path)
        problems.append(PlanProblem(name, needle_id, field, value, message, index))

    if isinstance(needles, list) and len(needles) > MAX_NEEDLES:
        add(["needles"], NO_VALUE, f"{len(needles)} needles; a plan may hold at most {MAX_NEEDLES}")
        return problems

    def text_problem(text: str) -> str | None:
        if len(text) > MAX_TEXT_CHARS:
            return f"text of {len(text)} characters; at most {MAX_TEXT_CHARS} are allowed"
        if _has_surrogate(text):
            return "contains a lone surrogate (an escape such as \\ud800 that is not a character)"
        return None

    # Containers still to look into: (container, node, depth); node = (parent node, key or
    # index), so the path of a value is built only when it has a problem. Scalars are
    # checked in place (this walk runs on every needle of a 100,000-needle plan).
    Node = tuple[Any, str | int] | None
    too_large = f"number too large (more than {NUMBER_LIMIT:.0e} in magnitude)"

    def path_of(node: Node) -> list[str | int]:
        out: list[str | int] = []
        while node is not None:
            node, key = node
            out.append(key)
        return out[::-1]

    def check(item: Any, node: Node, depth: int) -> None:
        kind = type(item)
        if kind is str:
            if len(item) > MAX_TEXT_CHARS or (not item.isascii() and _has_surrogate(item)):
                add(path_of(node), item[: MAX_SHOWN_CHARS * 4], text_problem(item) or "")
        elif kind is dict or kind is list or isinstance(item, dict | list):
            if depth >= MAX_NESTING_DEPTH:
                add(path_of(node), NO_VALUE, f"nested too deeply (more than {MAX_NESTING_DEPTH} levels)")
            else:
                stack.append((item, node, depth))
        elif kind is int or kind is float or (isinstance(item, int | float) and not isinstance(item, bool)):
            if NUMBER_LIMIT < abs(item) < math.inf:
                add(path_of(node), item, too_large)
        elif kind is _BigInteger:
            add(path_of(node), item, too_large)
        elif isinstance(item, str):
            check(str(item), node, depth)

    stack: list[tuple[Any, Node, int]] = []
    check(doc, None, 0)
    while stack:
        value, node, depth = stack.pop()
        if type(value) is dict or isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):  # only from a document built in code
                    add(path_of(node), repr(key), "a key must be text")
                elif len(key) > MAX_TEXT_CHARS or (not key.isascii() and _has_surrogate(key)):
                    add(path_of(node), key[: MAX_SHOWN_CHARS * 4], "a key: " + (text_problem(key) or ""))
                elif item is not None and item is not True and item is not False:
                    check(item, (node, key), depth + 1)
        else:
            for i, item in enumerate(value):
                if item is not None and item is not True and item is not False:
                    check(item, (node, i), depth + 1)
    return problems


def _dotted(path: list[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def parse_plan(doc: Any, source_name: str, known: KnownIds | None = None) -> Plan:
    """Validate an already-decoded JSON document (see :func:`load_plan`)."""
    limits = document_limit_problems(doc, source_name)
    if limits:
        raise PlanError(limits)
    return _parse_plan(doc, source_name, known, [])


def patient_of_document(doc: Any) -> PatientProfile | None:
    """The valid patient profile a decoded plan document states, else ``None`` (a
    missing or invalid profile is reported by :func:`parse_plan`)."""
    raw = doc.get("patient") if isinstance(doc, dict) else None
    if raw is None:
        return None
    return _parse_patient(raw, _Collector("<patient>"))


def _copy_json(value: Any) -> Any:
    """A deep copy of a decoded JSON value (copy.deepcopy, several times faster for the
    dicts, lists and scalars JSON gives; anything else is deep-copied as usual)."""
    if isinstance(value, str | int | float) or value is None:  # bool is an int
        return value
    if type(value) is list:
        return [_copy_json(v) for v in value]
    if type(value) is dict:
        return {k: _copy_json(v) for k, v in value.items()}
    return copy.deepcopy(value)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def _finite(value: int | float) -> bool:
    """Not NaN or infinite; an int of any size without converting it (which overflows)."""
    return isinstance(value, int) or math.isfinite(value)


def _number(value: Any, field: str, report: Report) -> float | None:
    """A finite number (bool is not a number), or ``None`` after reporting."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        report(field, value, f"must be a number, not {_type_name(value)}")
        return None
    if not _finite(value):
        report(field, value, "must be a finite number (NaN and Infinity are not allowed)")
        return None
    if abs(value) > NUMBER_LIMIT:  # also keeps float() from overflowing on 10**400
        report(field, value, f"number too large (more than {NUMBER_LIMIT:.0e} in magnitude)")
        return None
    return float(value)


def _vec3(value: Any, field: str, report: Report) -> list[float] | None:
    if not isinstance(value, list) or len(value) != 3:
        what = f"a list of {len(value)}" if isinstance(value, list) else _type_name(value)
        report(field, value, f"must be a list of 3 numbers [x, y, z], not {what}")
        return None
    if any(isinstance(c, bool) or not isinstance(c, int | float) for c in value):
        report(field, value, "must be a list of 3 numbers [x, y, z] (true/false is not a number)")
        return None
    if not all(_finite(c) for c in value):
        report(field, value, "must contain finite numbers (NaN and Infinity are not allowed)")
        return None
    if any(abs(c) > NUMBER_LIMIT for c in value):
        report(field, value, f"number too large (more than {NUMBER_LIMIT:.0e} in magnitude)")
        return None
    return [float(c) for c in value]


def _direction(value: Any, field: str, report: Report) -> list[float] | None:
    vec = _vec3(value, field, report)
    if vec is None:
        return None
    norm = math.sqrt(sum(c * c for c in vec))
    if norm < 1e-9 or not math.isfinite(norm):
        report(field, value, "direction has zero length; it must point somewhere")
        return None
    return [c / norm for c in vec]


def _optional_text(value: Any, field: str, report: Report) -> str | None:
    if value is None or isinstance(value, str):
        return value
    report(field, value, f"must be text (a string) or null, not {_type_name(value)}")
    return None


def _suggest(value: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, sorted(choices), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(map(repr, close))}?)" if close else ""


def _nonfinite_paths(value: Any, path: str) -> list[str]:
    if isinstance(value, float) and not math.isfinite(value):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _nonfinite_paths(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _nonfinite_paths(v, f"{path}[{i}]")]
    return []


def _check_unknown_keys(extra: dict[str, Any], prefix: str, report: Report) -> None:
    """Unknown keys are kept verbatim, but NaN/Infinity cannot be written back as JSON."""
    for key, value in extra.items():
        for path in _nonfinite_paths(value, prefix + key):
            report(path, value, "NaN and Infinity are not valid JSON and cannot be kept")


def _parse_plan(doc: Any, name: str, known: KnownIds | None, pre: list[PlanProblem]) -> Plan:
    c = _Collector(name)
    c.problems.extend(pre)
    if not isinstance(doc, dict):
        c.add(
            None,
            None,
            NO_VALUE,
            f"the top level must be a JSON object {{...}}, not {_type_name(doc)}",
        )
        raise PlanError(c.problems)

    # format and version first: if they are wrong nothing else can be interpreted.
    if "format" not in doc:
        c.add(
            None,
            "format",
            NO_VALUE,
            f'missing required field; a plan starts with "format": "{FORMAT_NAME}"',
        )
    elif doc["format"] != FORMAT_NAME:
        c.add(None, "format", doc["format"], f'not a thighmap plan (expected "{FORMAT_NAME}")')
    supported = ", ".join(map(str, SUPPORTED_VERSIONS))
    if "version" not in doc:
        c.add(None, "version", NO_VALUE, f"missing required field (supported versions: {supported})")
    else:
        version = doc["version"]
        if isinstance(version, bool) or not isinstance(version, int):
            c.add(
                None,
                "version",
                version,
                f"version must be an integer (supported versions: {supported})",
            )
        elif version not in SUPPORTED_VERSIONS:
            newer = " (written by a newer thighmap?)" if version > max(SUPPORTED_VERSIONS) else ""
            c.add(
                None,
                "version",
                version,
                f"unsupported plan version{newer}; this thighmap reads version(s) {supported}",
            )
    c.raise_if_any()

    def top(field: str, value: Any, message: str) -> None:
        c.add(None, field, value, message)

    side = "right"
    if "side" not in doc:
        top("side", NO_VALUE, 'missing required field; give "right" or "left"')
    elif doc["side"] not in SIDES:
        top("side", doc["side"], 'unknown side; must be "right" or "left"')
    else:
        side = doc["side"]

    title = _optional_text(doc.get("title"), "title", top)

    patient: PatientProfile | None = None
    if doc.get("patient") is not None:
        patient = _parse_patient(doc["patient"], c)

    contraindications: dict[str, bool] | None = None
    if doc.get("contraindications") is not None:
        contraindications = _parse_contraindications(doc["contraindications"], c)

    needles: list[Needle] = []
    if "needles" not in doc:
        top("needles", NO_VALUE, "missing required field (a list of needles, may be empty)")
    elif not isinstance(doc["needles"], list):
        top(
            "needles",
            doc["needles"],
            f"must be a list of needle objects, not {_type_name(doc['needles'])}",
        )
    else:
        seen: set[str] = set()
        with _collector_paused():
            for index, raw in enumerate(doc["needles"]):
                needle = _parse_needle(raw, index, side, known, c, seen)
                if needle is not None:
                    needles.append(needle)

    extra = {k: copy.deepcopy(v) for k, v in doc.items() if k not in TOP_LEVEL_KEYS}
    _check_unknown_keys(extra, "", lambda f, v, m: c.add(None, f, v, m))
    c.raise_if_any()
    return Plan(
        side=side,
        title=title,
        patient=patient,
        needles=needles,
        extra=extra,
        contraindications=contraindications,
    )


def _parse_patient(raw: Any, c: _Collector) -> PatientProfile | None:
    def rep(field: str, value: Any, message: str) -> None:
        shown = raw.get(field, value) if isinstance(raw, dict) else value
        c.add(None, f"patient.{field}", shown, message)

    if not isinstance(raw, dict):
        c.add(None, "patient", raw, f"must be an object or null, not {_type_name(raw)}")
        return None
    before = len(c.problems)
    values: dict[str, Any] = {}
    for key in PATIENT_BOUNDS:
        if raw.get(key) is not None:
            values[key] = _number(raw[key], key, rep)
    sex = raw.get("sex", "unspecified")
    if sex is None:
        sex = "unspecified"
    if sex not in SEXES:
        rep("sex", sex, "must be one of " + ", ".join(f'"{s}"' for s in SEXES))
        sex = "unspecified"
    extra = {k: copy.deepcopy(v) for k, v in raw.items() if k not in PATIENT_KEYS}
    _check_unknown_keys(extra, "patient.", lambda f, v, m: c.add(None, f, v, m))
    profile = PatientProfile(sex=sex, extra=extra, **values)
    if len(c.problems) == before:
        for field, value, message in profile.problems():
            rep(field, value, message)
    return profile if len(c.problems) == before else None


def _parse_contraindications(raw: Any, c: _Collector) -> dict[str, bool] | None:
    if not isinstance(raw, dict):
        c.add(
            None,
            "contraindications",
            raw,
            f"must be an object of true/false flags, not {_type_name(raw)}",
        )
        return None
    out: dict[str, bool] = {}
    for key, value in raw.items():
        field = f"contraindications.{key}"
        if key not in CONTRAINDICATION_KEYS:
            # A misspelt contraindication must not be silently ignored.
            c.add(
                None,
                field,
                value,
                "unknown contraindication"
                + _suggest(key, CONTRAINDICATION_KEYS)
                + "; known: "
                + ", ".join(CONTRAINDICATION_KEYS),
            )
        elif not isinstance(value, bool):
            c.add(None, field, value, f"must be true or false, not {_type_name(value)}")
        else:
            out[key] = value
    return out


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _id_problem(value: str) -> str | None:
    """Why ``value`` cannot be an id (too long, control characters), or ``None``."""
    if len(value) > MAX_ID_CHARS:
        return f"is {len(value)} characters long; ids are limited to {MAX_ID_CHARS}"
    if _CONTROL.search(value):
        return "contains control characters (line breaks, tabs, escapes); ids must be plain text"
    return None


def _parse_needle(
    raw: Any,
    index: int,
    side: str,
    known: KnownIds | None,
    c: _Collector,
    seen: set[str],
) -> Needle | None:
    if not isinstance(raw, dict):
        c.add(None, None, raw, f"each needle must be a JSON object, not {_type_name(raw)}", index)
        return None
    before = len(c.problems)

    needle_id: str | None = None
    raw_id = raw.get("id")
    if "id" not in raw:
        c.add(None, "id", NO_VALUE, "missing required field (a unique needle id)", index)
    elif not isinstance(raw_id, str) or not raw_id.strip():
        c.add(None, "id", raw_id, "needle id must be a non-empty string", index)
    elif (bad_id := _id_problem(raw_id)) is not None:
        c.add(None, "id", raw_id, "needle id " + bad_id, index)
        raw_id = None
    elif raw_id in seen:
        c.add(raw_id, "id", raw_id, "duplicate needle id; every needle needs its own id", index)
    else:
        needle_id = raw_id
        seen.add(raw_id)
    # Name the needle by its id whenever it has a usable one (even a duplicate).
    label = raw_id if isinstance(raw_id, str) and raw_id.strip() else None

    def rep(field: str, value: Any, message: str) -> None:
        c.add(label, field, value, message, index)

    explicit, bad = _parse_technique_fields(raw, rep)
    note = _optional_text(raw.get("note"), "note", rep)

    tp_id: str | None = None
    if "trigger_point" in raw:
        value = raw["trigger_point"]
        if not isinstance(value, str) or not value:
            rep("trigger_point", value, "must be a trigger point id (a non-empty string)")
        elif (bad_id := _id_problem(value)) is not None:
            rep("trigger_point", value, "trigger point id " + bad_id)
        else:
            tp_id = value

    angles: tuple[float, float] | None = None
    if "angles_deg" in raw:
        angles = _parse_angles(raw["angles_deg"], rep)
        if "direction" in raw:
            rep("angles_deg", raw["angles_deg"], "give either 'direction' or 'angles_deg', not both")
            angles = None

    # Trigger point: the atlas's technique, overridden by explicit fields.
    base: dict[str, Any] = {}
    # Values as written (in the needle or by the atlas), for messages.
    shown: dict[str, Any] = {}
    # Fields whose absence is already explained by a reported problem.
    explained: set[str] = set(bad)
    if "trigger_point" in raw:
        resolved_tp = None
        if tp_id is not None:
            resolved_tp = _trigger_point_fields(tp_id, side, known, explicit, bad, rep)
        if resolved_tp is None:
            explained.update(TECHNIQUE_KEYS)
        else:
            base, tp_bad, tp_raw = resolved_tp
            explained.update(tp_bad)
            shown.update(tp_raw)
    values: dict[str, Any] = {**base, **explicit}
    shown.update({k: raw[k] for k in TECHNIQUE_KEYS if k in raw})
    from_tp = {k for k in base if k not in explicit}

    def rep_value(field: str, value: Any, message: str) -> None:
        suffix = f" (value from trigger point '{tp_id}')" if field in from_tp else ""
        rep(field, shown.get(field, value), message + suffix)

    # Angles: direction from the skin normal at the entry point.
    normal: list[float] | None = None
    if "angles_deg" in raw:
        explained.add("direction")  # resolved below, or a problem is reported
    if angles is not None and values.get("entry_mm") is not None:
        if not callable(getattr(known, "skin_surface_frame", None)):
            rep(
                "angles_deg",
                raw["angles_deg"],
                "a needle stated by angles needs the atlas (its skin normals) to resolve; "
                "load the plan with the atlas",
            )
        else:
            try:
                atlas = cast(AtlasForPlanning, known)
                entry = np.array(values["entry_mm"])
                d, n = direction_at_entry(atlas, entry, angles[0], angles[1], side)
            except (AngleConventionError, ValueError) as exc:
                rep("angles_deg", raw["angles_deg"], f"cannot resolve the angles here: {exc}")
            else:
                values["direction"] = d.tolist()
                normal = n.tolist()

    # Required fields (unless their absence is explained by a problem already reported).
    hints = {
        "entry_mm": " (give 'entry_mm' [x, y, z], or a 'trigger_point')",
        "direction": " (give 'direction' [dx, dy, dz] or 'angles_deg', or a 'trigger_point')",
    }
    for key in ("entry_mm", "direction", "depth_mm", "needle_length_mm", "gauge_mm"):
        if key not in values and key not in explained:
            rep(key, NO_VALUE, "missing required field" + hints.get(key, ""))

    for field, value, message in needle_value_problems(
        values.get("entry_mm"),
        values.get("depth_mm"),
        values.get("needle_length_mm"),
        values.get("gauge_mm"),
    ):
        rep_value(field, value, message)

    target = values.get("target")
    structure_ids = getattr(known, "structure_ids", None)
    if target is not None and structure_ids is not None and target not in structure_ids:
        rep_value(
            "target",
            target,
            "unknown structure id (not in the atlas)" + _suggest(target, structure_ids),
        )

    extra = {k: _copy_json(v) for k, v in raw.items() if k not in NEEDLE_KEYS}
    _check_unknown_keys(extra, "", rep)

    if len(c.problems) != before or needle_id is None:
        return None
    for key in ("entry_mm", "direction", "depth_mm", "needle_length_mm", "gauge_mm"):
        if key not in values:  # defensive: never build a needle from a partial statement
            rep(key, NO_VALUE, "missing required field")
            return None

    kind = "trigger_point" if tp_id is not None else "angles" if angles is not None else "explicit"
    resolved = {key: values.get(key) for key in TECHNIQUE_KEYS}
    source: dict[str, Any] = {
        "kind": kind,
        "stated": {k: _copy_json(raw[k]) for k in _STATEMENT_KEYS if k in raw},
        "resolved": resolved,
    }
    if tp_id is not None:
        source["trigger_point"] = tp_id
    if angles is not None:
        source["angles_deg"] = {"tilt": angles[0], "azimuth": angles[1]}
        source["inward_normal"] = normal
    return Needle(
        id=needle_id,
        entry_mm=np.array(values["entry_mm"]),
        direction=np.array(values["direction"]),
        depth_mm=values["depth_mm"],
        needle_length_mm=values["needle_length_mm"],
        gauge_mm=values["gauge_mm"],
        target=target,
        note=note,
        source=source,
        extra=extra,
    )


def _parse_technique_fields(raw: dict[str, Any], rep: Report) -> tuple[dict[str, Any], set[str]]:
    """Type-check the technique fields present in ``raw``.

    Returns the parsed values and the set of fields that were present but invalid.
    """
    values: dict[str, Any] = {}
    bad: set[str] = set()
    for key in TECHNIQUE_KEYS:
        if key not in raw:
            continue
        value = raw[key]
        parsed: Any
        if key == "entry_mm":
            parsed = _vec3(value, key, rep)
        elif key == "direction":
            parsed = _direction(value, key, rep)
        elif key == "target":
            if value is not None and (not isinstance(value, str) or not value):
                rep(key, value, "must be a structure id (a non-empty string) or null")
                bad.add(key)
                continue
            if value is not None and (bad_id := _id_problem(value)) is not None:
                rep(key, value, "structure id " + bad_id)
                bad.add(key)
                continue
            values[key] = value
            continue
        else:
            parsed = _number(value, key, rep)
        if parsed is None:
            bad.add(key)
        else:
            values[key] = parsed
    return values, bad


def _parse_angles(raw: Any, rep: Report) -> tuple[float, float] | None:
    if not isinstance(raw, dict):
        rep(
            "angles_deg",
            raw,
            'must be an object {"tilt": degrees, "azimuth": degrees}, not ' + _type_name(raw),
        )
        return None
    out: list[float] = []
    for key in ("tilt", "azimuth"):
        field = f"angles_deg.{key}"
        if key not in raw:
            rep(field, NO_VALUE, "missing required field")
            continue
        value = _number(raw[key], field, rep)
        if value is not None:
            out.append(value)
    if len(out) != 2:
        return None
    tilt, azimuth = out
    if not 0.0 <= tilt < 90.0:
        rep(
            "angles_deg.tilt",
            raw["tilt"],
            "tilt must be at least 0 and less than 90 degrees from the inward skin normal "
            "(0 = straight in; 90 would run along the skin)",
        )
        return None
    return tilt, azimuth


def _trigger_point_fields(
    tp_id: str,
    side: str,
    known: KnownIds | None,
    explicit: dict[str, Any],
    bad: set[str],
    rep: Report,
) -> tuple[dict[str, Any], set[str], dict[str, Any]] | None:
    """Technique fields from the atlas for ``tp_id``, type-checked, in the plan frame.

    ``None`` (after reporting) when the trigger point cannot be resolved at all;
    otherwise the valid values, the set of invalid (reported) fields and the values as
    the atlas gave them.
    """
    tp_ids = getattr(known, "trigger_point_ids", None)
    if known is None:
        rep(
            "trigger_point",
            tp_id,
            "a needle stated by trigger point needs the atlas to resolve; load the plan with the atlas",
        )
        return None
    if tp_ids is not None and tp_id not in tp_ids:
        rep(
            "trigger_point",
            tp_id,
            "unknown trigger point id (not in the atlas)" + _suggest(tp_id, tp_ids),
        )
        return None
    if not callable(getattr(known, "trigger_point_technique", None)):
        rep(
            "trigger_point",
            tp_id,
            "a needle stated by trigger point needs the atlas (its techniques) to resolve; "
            "load the plan with the atlas",
        )
        return None
    try:
        technique = trigger_point_base(cast(AtlasForPlanning, known), tp_id, side)
    except (KeyError, ValueError, TypeError) as exc:
        rep("trigger_point", tp_id, f"the atlas has no usable technique for it: {exc}")
        return None

    def rep_tp(field: str, value: Any, message: str) -> None:
        rep(field, value, f"{message} (value from trigger point '{tp_id}')")

    # Only check what the needle does not override.
    needed = {k: v for k, v in technique.items() if k not in explicit and k not in bad}
    values, bad_values = _parse_technique_fields(needed, rep_tp)
    return values, bad_values, needed


# --------------------------------------------------------------------------- saving


def _round(value: float, decimals: int) -> float:
    r = round(float(value), decimals)
    return 0.0 if r == 0 else r  # no "-0.0"


def _clean(value: Any, decimals: int) -> Any:
    """Copy of a JSON value with floats rounded (ints, strings, bools untouched)."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return _round(value, decimals) if math.isfinite(value) else value
    if isinstance(value, list | tuple):
        return [_clean(v, decimals) for v in value]
    if isinstance(value, np.ndarray):
        return [_clean(float(v), decimals) for v in value.tolist()]
    if isinstance(value, dict):
        return {k: _clean(v, decimals) for k, v in value.items()}
    return value


def _decimals(key: str) -> int:
    return UNIT_DECIMALS if key == "direction" else MM_DECIMALS


def _same(a: Any, b: Any) -> bool:
    """Whether a technique value is unchanged since it was resolved: equal text, or
    numbers (scalars or vectors) within _SAME_TOL, as np.allclose(a, b, rtol=0,
    atol=_SAME_TOL) but without its cost per call (saving a large plan calls this five
    times a needle)."""
    if a is None or b is None or isinstance(a, str) or isinstance(b, str):
        return a == b
    fa, fb = _flat_numbers(a), _flat_numbers(b)
    if fa is None or fb is None:  # nested or unusual values: the general comparison
        try:
            return bool(np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=0, atol=_SAME_TOL))
        except (TypeError, ValueError):
            return False
    if len(fa) != len(fb):  # broadcasting, as np.allclose: one value against many
        if len(fa) == 1:
            fa = fa * len(fb)
        elif len(fb) == 1:
            fb = fb * len(fa)
        else:
            return False
    # |a - b| <= tol, and equal infinities are close (NaN never is), as np.isclose
    return all(x == y or abs(x - y) <= _SAME_TOL for x, y in zip(fa, fb, strict=True))


def _flat_numbers(value: Any) -> list[float] | None:
    """A number, or a flat list, tuple or 1-D array of numbers, as a list of floats."""
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, np.ndarray):
        return [float(v) for v in value.tolist()] if value.ndim == 1 else None
    if isinstance(value, list | tuple) and all(isinstance(v, int | float) for v in value):
        return [float(v) for v in value]
    return None


def _needle_document(n: Needle) -> dict[str, Any]:
    current: dict[str, Any] = {
        "entry_mm": n.entry_mm,
        "direction": n.direction,
        "depth_mm": n.depth_mm,
        "needle_length_mm": n.needle_length_mm,
        "gauge_mm": n.gauge_mm,
        "target": n.target,
    }
    out: dict[str, Any] = {"id": n.id}
    stated = n.source.get("stated")
    resolved = n.source.get("resolved")
    if not isinstance(stated, dict) or not isinstance(resolved, dict):
        # Built in code: write the explicit form.
        for key in TECHNIQUE_KEYS:
            if key != "target" or n.target is not None:
                out[key] = _clean(current[key], _decimals(key))
    else:
        # Write the original statement back; fields changed since it was resolved are
        # written explicitly (an explicit field overrides a trigger point's value).
        changed = {k for k in TECHNIQUE_KEYS if k not in resolved or not _same(current[k], resolved[k])}
        keep_angles = "angles_deg" in stated and not changed & {"entry_mm", "direction"}
        if "trigger_point" in stated:
            out["trigger_point"] = stated["trigger_point"]
        for key in TECHNIQUE_KEYS:
            if key == "direction" and keep_angles:
                out["angles_deg"] = _clean(stated["angles_deg"], MM_DECIMALS)
            elif key in stated and key not in changed:
                out[key] = _clean(stated[key], _decimals(key))
            elif key in changed or (key == "direction" and "angles_deg" in stated):
                out[key] = _clean(current[key], _decimals(key))
    if n.note is not None:
        out["note"] = n.note
    for key, value in n.extra.items():
        if key not in NEEDLE_KEYS:
            out[key] = copy.deepcopy(value)
    return out


def _patient_document(p: PatientProfile) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in PATIENT_BOUNDS:
        value = getattr(p, key)
        if value is not None:
            out[key] = _clean(value, MM_DECIMALS)
    out["sex"] = p.sex
    for key, value in p.extra.items():
        if key not in PATIENT_KEYS:
            out[key] = copy.deepcopy(value)
    return out


def plan_to_document(plan: Plan) -> dict[str, Any]:
    """The JSON document for a plan (keys in a fixed order, unknown keys last)."""
    doc: dict[str, Any] = {"format": FORMAT_NAME, "version": CURRENT_VERSION, "side": plan.side}
    if plan.title is not None:
        doc["title"] = plan.title
    if plan.patient is not None:
        doc["patient"] = _patient_document(plan.patient)
    if plan.contraindications is not None:
        ordered = sorted(
            plan.contraindications,
            key=lambda k: (
                CONTRAINDICATION_KEYS.index(k) if k in CONTRAINDICATION_KEYS else len(CONTRAINDICATION_KEYS),
                k,
            ),
        )
        doc["contraindications"] = {k: bool(plan.contraindications[k]) for k in ordered}
    doc["needles"] = [_needle_document(n) for n in plan.needles]
    for key, value in plan.extra.items():
        if key not in TOP_LEVEL_KEYS:
            doc[key] = copy.deepcopy(value)
    return doc


def validate_plan(plan: Plan, source_name: str = "<plan>") -> list[PlanProblem]:
    """Problems of an in-memory plan (what :func:`save_plan` refuses to write)."""
    c = _Collector(source_name)
    if plan.side not in SIDES:
        c.add(None, "side", plan.side, 'unknown side; must be "right" or "left"')
    if plan.patient is not None:
        for field, value, message in plan.patient.problems():
            c.add(None, f"patient.{field}", value, message)
    for key, value in (plan.contraindications or {}).items():
        if key not in CONTRAINDICATION_KEYS:
            c.add(None, f"contraindications.{key}", value, "unknown contraindication")
        elif not isinstance(value, bool):
            c.add(None, f"contraindications.{key}", value, "must be true or false")
    seen: set[str] = set()
    for index, n in enumerate(plan.needles):
        if not isinstance(n.id, str) or not n.id.strip():
            c.add(None, "id", n.id, "needle id must be a non-empty string", index)
            continue
        if (bad_id := _id_problem(n.id)) is not None:
            c.add(None, "id", n.id, "needle id " + bad_id, index)
            continue
        if n.id in seen:
            c.add(n.id, "id", n.id, "duplicate needle id", index)
        seen.add(n.id)
        for field, value, message in n.problems():
            c.add(n.id, field, value, message, index)
    return c.problems


def dumps_plan(plan: Plan) -> str:
    """The text :func:`save_plan` writes (pretty JSON, trailing newline)."""
    with _collector_paused():
        return _dumps(plan_to_document(plan)) + "\n"


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector paused: reading or writing a large plan makes hundreds of
    thousands of small objects and no reference cycles, and the collector's passes over
    them would take a third of the time (they resume, and catch up, afterwards)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def _scalar_json(v: Any) -> str:
    """json.dumps(v, ensure_ascii=False, allow_nan=False) for one scalar, by the same
    encoder functions but without its set-up per call."""
    if isinstance(v, str):
        return _encode_text(v)
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return int.__repr__(v)
    if isinstance(v, float):
        if math.isfinite(v):
            return float.__repr__(v)
        raise ValueError(f"Out of range float values are not JSON compliant: {v!r}")
    return json.dumps(v, ensure_ascii=False, allow_nan=False)


def _dumps(value: Any, indent: int = 0) -> str:
    """Pretty JSON: objects one key per line, short lists of scalars on one line."""

    scalar = _scalar_json

    pad = "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{pad}{scalar(str(k))}: {_dumps(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        if all(_is_scalar(v) for v in value) and len(value) <= 8:
            return "[" + ", ".join(scalar(v) for v in value) + "]"
        items = [pad + _dumps(v, indent + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + "  " * indent + "]"
    return scalar(value)


def save_plan(plan: Plan, path: str | os.PathLike[str]) -> None:
    """Write ``plan`` to ``path`` atomically.

    The plan is validated first (:class:`PlanError` if invalid, nothing written), then
    written by :func:`thighmap.atomic.write_atomic`: on any failure the previous content
    of ``path`` is untouched and no partial file is left.
    """
    problems = validate_plan(plan, str(path))
    if problems:
        raise PlanError(problems)
    try:
        text = dumps_plan(plan)
    except (TypeError, ValueError) as exc:
        raise PlanError(
            [PlanProblem(str(path), None, None, NO_VALUE, f"cannot be written as JSON: {exc}")]
        ) from exc
    write_atomic(path, text)
