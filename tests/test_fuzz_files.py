"""Fuzzing the files thighmap reads: hostile plans, import mappings, PDF titles and ids.

Every generated file must give a result or a clear refusal: no traceback, `check` exits
0-3, a bounded time per file (a hang detector, not a benchmark), bounded stderr. Most
files are checked in-process through :func:`thighmap.cli.check_plan_file`, the function
`thighmap check` runs, for speed; some hundreds through real `thighmap` processes.

Per-result properties beyond these go into :data:`RESULT_PROPERTIES` (see
:func:`assert_result_properties`); every fuzzed result passes through them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz_files import (
    FuzzResult,
    PerResultCheck,
    check_in_process,
    hostile_text,
    mapping_documents,
    plan_file_variants,
    plan_files,
    to_json,
)
from tests.skin_oracle import SkinOracle, enters_the_body
from thighmap import sides
from thighmap.planning.planfile import MAX_NEEDLES, MAX_PLAN_BYTES, MAX_PROBLEMS_SHOWN
from thighmap.safety.engine import SafetyModel, load_plan_for_checking

ROOT = Path(__file__).resolve().parents[1]
SECONDS_PER_FILE = 10.0  # generous: a hang detector, not a benchmark
MAX_STDERR_CHARS = 64_000  # 50 problems of at most ~1,000 characters each, and the summary
# Real processes cost ~1.5-3 s each (start-up and atlas): 60 by default keeps the fuzz
# near three minutes; THIGHMAP_FUZZ_PROCESSES=300 runs more.
PROCESSES = int(os.environ.get("THIGHMAP_FUZZ_PROCESSES", "60"))
BATCH = 500  # generated plans per slow batch, 4 files each: 5 batches = 10,000 files in-process
FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


# ---------------------------------------------------------------------- properties


def no_traceback_and_a_known_exit(result: FuzzResult) -> None:
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.exit_code in (0, 1, 2, 3), (result.exit_code, result.stderr[-2000:])


def refusals_say_why(result: FuzzResult) -> None:
    if result.exit_code == 3:
        assert result.stderr.strip(), "exit 3 without a message"
    else:
        assert result.report is not None and result.report["status"] in ("safe", "caution", "danger")


def bounded_time_and_output(result: FuzzResult) -> None:
    assert result.seconds < SECONDS_PER_FILE, f"{result.seconds:.1f} s for one file"
    assert len(result.stderr) <= MAX_STDERR_CHARS, len(result.stderr)
    assert len(result.stderr.splitlines()) <= MAX_PROBLEMS_SHOWN + 12


_ORACLES: dict[int, tuple[SafetyModel, SkinOracle]] = {}


def _oracle_for(model: SafetyModel) -> SkinOracle:
    """The oracle of the model's atlas, in the atlas (right-thigh) frame whatever the
    model's side: needles are mirrored into that frame before they are asked about."""
    key = id(model.atlas)
    if key not in _ORACLES:
        right = SafetyModel.for_atlas(model.atlas)
        _ORACLES[key] = (right, SkinOracle(right))  # the model keeps its atlas (and id) alive
    return _ORACLES[key][1]


def no_needle_that_fails_to_enter_the_body_is_safe(result: FuzzResult) -> None:
    """Every needle the check calls safe enters the body through the skin at its entry,
    by the brute-force oracle (tests/skin_oracle.py) on the atlas the plan was checked
    against (fitted to its patient; left plans mirrored into the atlas frame)."""
    report = result.report
    if report is None or not any(n["status"] == "safe" for n in report["needles"]):
        return
    plan, model = load_plan_for_checking(str(result.path))
    oracle = _oracle_for(model)
    limit = model.atlas.rules.entry.max_distance_mm
    for n in report["needles"]:
        if n["status"] != "safe":
            continue
        entry = sides.to_atlas_frame(n["entry_mm"], plan.side)
        tip = sides.to_atlas_frame(n["tip_mm"], plan.side)
        assert enters_the_body(oracle, limit, entry, tip) is not False, (result.path, n["id"])


RESULT_PROPERTIES: list[PerResultCheck] = [
    no_traceback_and_a_known_exit,
    refusals_say_why,
    bounded_time_and_output,
    no_needle_that_fails_to_enter_the_body_is_safe,
]
"""What must hold for every fuzzed result. To add a property (e.g. "no needle that
fails to enter the body is ever safe", below), append a function taking a
:class:`~tests.fuzz_files.FuzzResult`: ``result.document`` is the file's JSON,
``result.report`` the `check --json` report when the check ran (else ``None``)."""


def assert_result_properties(result: FuzzResult) -> None:
    for check in RESULT_PROPERTIES:
        check(result)


@contextmanager
def hang_detector(seconds: float) -> Iterator[None]:
    """Fail (instead of waiting for ever) if the block takes longer than ``seconds``."""

    def expired(signum: int, frame: object) -> None:
        raise AssertionError(f"no result after {seconds:.0f} s: the check hangs")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_file_in_process(tmp: Path, data: bytes, atlas: object) -> FuzzResult:
    path = tmp / "fuzz.thighplan.json"
    path.write_bytes(data)
    with hang_detector(3 * SECONDS_PER_FILE):
        result = check_in_process(path, data, atlas)
    assert_result_properties(result)
    return result


def run_thighmap(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-m", "thighmap", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="backslashreplace",
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )


# ---------------------------------------------------------------------- plans, in-process


def _fuzz_plans(atlas: object, tmp: Path, examples: int) -> dict[int, int]:
    """``examples`` generated plans, four files each, checked in-process; the exit codes."""
    codes: dict[int, int] = {}

    @settings(FUZZ, max_examples=examples)
    @given(plan_file_variants())
    def one(files: list[bytes]) -> None:
        for data in files:
            result = check_file_in_process(tmp, data, atlas)
            codes[result.exit_code] = codes.get(result.exit_code, 0) + 1

    one()
    return codes


def test_fuzz_plans_quick(atlas, tmp_path: Path) -> None:
    codes = _fuzz_plans(atlas, tmp_path, 100)
    assert sum(codes.values()) >= 400
    assert codes.get(3, 0) > 0 and sum(codes.get(c, 0) for c in (0, 1, 2)) > 0, codes


@pytest.mark.slow
@pytest.mark.parametrize("batch", range(5))
def test_fuzz_plans_batch(atlas, tmp_path: Path, batch: int) -> None:
    """5 x 500 generated plans x 4 files (10,000 files in all), in-process."""
    start = time.perf_counter()
    codes = _fuzz_plans(atlas, tmp_path, BATCH)
    assert sum(codes.values()) >= 4 * BATCH
    print(f"batch {batch}: exit codes {dict(sorted(codes.items()))} in {time.perf_counter() - start:.0f} s")


# ---------------------------------------------------------------------- plans, real processes


@pytest.mark.slow
def test_fuzz_plans_through_real_processes(tmp_path: Path) -> None:
    """Generated plans (:data:`PROCESSES` of them) through `python -m thighmap check`: the
    real exit code, the real stderr (with its encoding) and no traceback."""
    files: list[Path] = []

    @settings(FUZZ, max_examples=PROCESSES)
    @given(plan_files())
    def collect(data: bytes) -> None:
        path = tmp_path / f"plan-{len(files):04d}.thighplan.json"
        path.write_bytes(data)
        files.append(path)

    collect()

    def run(path: Path) -> FuzzResult:
        start = time.perf_counter()
        out = run_thighmap("check", str(path), *(["--json"] if len(files) % 2 else []))
        return FuzzResult(
            path, path.read_bytes(), out.returncode, out.stdout, out.stderr, time.perf_counter() - start
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run, files))
    for result in results:
        assert "Traceback" not in result.stderr, (result.path, result.stderr[-3000:])
        assert result.exit_code in (0, 1, 2, 3), (result.path, result.exit_code, result.stderr[-2000:])
        assert len(result.stderr) <= MAX_STDERR_CHARS
        if result.exit_code == 3:
            assert result.stderr.strip()
    assert len(results) >= PROCESSES


# ---------------------------------------------------------------------- the cases of issue 12


def _base_doc() -> dict:
    return {
        "format": "thighmap-plan",
        "version": 1,
        "side": "right",
        "needles": [
            {
                "id": "n1",
                "entry_mm": [14.0, 86.8, 191.0],
                "direction": [0, -1, 0],
                "depth_mm": 20,
                "needle_length_mm": 50,
                "gauge_mm": 0.25,
            }
        ],
    }


def _with(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


ISSUE_CASES = {
    "integer 10^400": lambda t: _with(t, '"depth_mm": 20', '"depth_mm": 1' + "0" * 400),
    "integer of 5000 digits in an unknown key": lambda t: t[:-1] + ', "x": -1' + "0" * 5000 + "}",
    "patient integer 10^400": lambda t: t[:-1] + ', "patient": {"thigh_length_mm": 1' + "0" * 400 + "}}",
    "unknown keys 500 deep": lambda t: t[:-1] + ', "x": ' + '{"a": ' * 500 + "1" + "}" * 500 + "}",
    "lists 990 deep": lambda t: t[:-1] + ', "x": ' + "[" * 990 + "]" * 990 + "}",
    "lists 100,000 deep": lambda t: t[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "lone surrogate in an id": lambda t: _with(t, '"n1"', '"n\\ud800"'),
    "lone surrogate in the title": lambda t: t[:-1] + ', "title": "a\\udfffb"}',
    "NaN depth": lambda t: _with(t, '"depth_mm": 20', '"depth_mm": NaN'),
    "control characters in an id": lambda t: _with(t, '"n1"', '"n\\u001b[31m"'),
    "an id of 100,000 characters": lambda t: _with(t, '"n1"', '"' + "x" * 100_000 + '"'),
}


@pytest.mark.parametrize("case", list(ISSUE_CASES))
def test_issue_12_cases_are_refused_in_a_line(atlas, tmp_path: Path, case: str) -> None:
    text = ISSUE_CASES[case](to_json(_base_doc()))
    result = check_file_in_process(tmp_path, text.encode("utf-8", "surrogatepass"), atlas)
    assert result.exit_code == 3
    assert "fuzz.thighplan.json" in result.stderr
    assert all(len(line) < 1200 for line in result.stderr.splitlines())


def test_twenty_thousand_problems_print_fifty(atlas, tmp_path: Path) -> None:
    doc = _base_doc()
    doc["needles"] = [{"id": f"n{i}", "depth_mm": "x" * 1000} for i in range(20_000)]
    result = check_file_in_process(tmp_path, to_json(doc).encode(), atlas)
    assert result.exit_code == 3
    lines = result.stderr.splitlines()
    assert len(lines) == MAX_PROBLEMS_SHOWN + 1 and "more problem(s) not listed" in lines[-1]


def test_a_byte_order_mark_keeps_the_patient(atlas, tmp_path: Path) -> None:
    """The check reads the file once: with a BOM the patient still fits the atlas."""
    text = (ROOT / "examples" / "fitted-patient.thighplan.json").read_bytes()
    plain = check_file_in_process(tmp_path, text, atlas)
    with_bom = check_file_in_process(tmp_path, b"\xef\xbb\xbf" + text, atlas)
    assert plain.report is not None and with_bom.report is not None
    assert with_bom.report["patient_fitted"] is True
    assert with_bom.report["needles"] == plain.report["needles"]


# ---------------------------------------------------------------------- special files


def _special(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.thighplan.json"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "directory":
        path.mkdir()
    elif kind == "huge":
        with path.open("wb") as fh:  # sparse: as large as the limit allows, plus one byte
            fh.truncate(MAX_PLAN_BYTES + 1)
    elif kind == "empty":
        path.write_bytes(b"")
    return path


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory", "huge", "empty"])
def test_special_files_are_refused_quickly(tmp_path: Path, kind: str) -> None:
    path = _special(tmp_path, kind)
    start = time.perf_counter()
    out = run_thighmap("check", str(path), timeout=60)
    assert out.returncode == 3, out.stderr
    assert "Traceback" not in out.stderr and str(path) in out.stderr
    assert time.perf_counter() - start < 30


def test_too_many_needles_is_refused(tmp_path: Path) -> None:
    from thighmap.planning import PlanError, load_plan

    doc = _base_doc()
    doc["needles"] = [{"id": "n"}] * (MAX_NEEDLES + 1)
    path = tmp_path / "many.thighplan.json"
    path.write_text(to_json(doc))
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert f"at most {MAX_NEEDLES}" in str(info.value) and len(info.value.problems) == 1


# ---------------------------------------------------------------------- import mappings


def _fuzz_mappings(tmp_path: Path, atlas: object, examples: int) -> dict[int, int]:
    """Generated mappings through `atlas import`: a result or exit 3, never a traceback,
    never a file outside the output folder, nothing left after a refusal."""
    import trimesh

    from thighmap.anatomy.atlas import AtlasError
    from thighmap.anatomy.importer import import_atlas

    source = tmp_path / "source"
    (source / "sub").mkdir(parents=True)
    outside = tmp_path / "outside.stl"
    box = trimesh.creation.box(extents=[20.0, 20.0, 60.0])
    box.apply_translation([0.0, 40.0, 200.0])
    box.export(source / "st.stl")
    box.export(outside)
    (source / "st.txt").write_text("not a surface")
    codes: dict[int, int] = {}
    runs = [0]

    points = {lid: atlas.landmark(lid).tolist() for lid in atlas.landmarks}  # type: ignore[attr-defined]

    @settings(FUZZ, max_examples=examples)
    @given(mapping_documents(points, absolute_surface=str(outside)), st.booleans())
    def one(doc: object, ascii_only: bool) -> None:
        runs[0] += 1
        work = tmp_path / f"run-{runs[0]}"
        work.mkdir()
        mapping = source / "mapping.json"
        mapping.write_text(to_json(doc, ascii_only), encoding="utf-8", errors="surrogatepass")
        out = work / "atlas"
        before = sorted(p.name for p in tmp_path.iterdir())
        with hang_detector(60):
            try:
                import_atlas(mapping, out, base=atlas)  # type: ignore[arg-type]
                code = 0
            except AtlasError as exc:
                code = 3
                message = str(exc)
                assert message.strip() and "Traceback" not in message
                assert len(message) < 5000
        assert sorted(p.name for p in tmp_path.iterdir()) == before, "wrote outside the output folder"
        assert sorted(p.name for p in source.iterdir()) == ["mapping.json", "st.stl", "st.txt", "sub"]
        written = [p for p in work.rglob("*") if p.is_file()]
        if code == 3:
            assert written == [], "a refused import left files behind"
        else:
            assert (out / "landmarks.json").is_file()
            assert all(out in p.parents for p in written), "wrote outside the output folder"
        codes[code] = codes.get(code, 0) + 1

    one()
    return codes


def test_fuzz_mappings_quick(tmp_path: Path, atlas) -> None:
    codes = _fuzz_mappings(tmp_path, atlas, 150)
    assert sum(codes.values()) >= 150


# ---------------------------------------------------------------------- PDF titles and ids

PDF_TEXT = st.one_of(
    hostile_text.filter(lambda s: isinstance(s, str)),
    st.sampled_from(
        ["$\\foo{$", "$$", "\ufefftitle", "a\ud800b", "\udfff", "x" * 1_000_000, "<b>&amp;</b>", "%", "_^{}"]
    ),
)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")
@settings(max_examples=20, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=PDF_TEXT, needle_id=PDF_TEXT)
def test_fuzz_pdf_titles_and_ids(
    atlas, tmp_path_factory: pytest.TempPathFactory, title: str, needle_id: str
) -> None:
    """The PDF report renders any title and needle id (maths markup, BOMs, lone
    surrogates, a megabyte of text) without crashing, in bounded time."""
    from dataclasses import replace

    from thighmap.planning import load_plan
    from thighmap.report import write_plan_report
    from thighmap.safety.engine import model_for_plan

    plan = load_plan(ROOT / "examples" / "danger-sciatic.thighplan.json", known=None)
    needle = replace(plan.needles[0], id=needle_id or "n")
    plan = replace(plan, title=title, needles=[needle])
    model = model_for_plan(plan, atlas)
    out = tmp_path_factory.mktemp("pdf") / "report.pdf"
    start = time.perf_counter()
    with hang_detector(120):
        write_plan_report(plan, model, out, plan_path=f"{title[:50]}.thighplan.json", pictures=False)
    assert out.stat().st_size > 1000
    assert time.perf_counter() - start < 60


def test_the_entry_property_holds_for_a_left_plan_then_a_right_one(atlas, tmp_path: Path) -> None:
    """The property's oracle lives in the atlas frame whichever side came first (a left
    plan checked first once left a mirrored oracle for the right plans after it)."""
    for side in ("left", "right", "left"):
        doc = {
            "format": "thighmap-plan",
            "version": 1,
            "side": side,
            "needles": [{"id": "n1", "trigger_point": "st_nct_mid", "direction": [0, -1, 0]}],
        }
        result = check_file_in_process(tmp_path, to_json(doc).encode(), atlas)
        assert result.report is not None and result.report["needles"][0]["status"] == "safe", side
