"""The fuzz corpus of tests/test_fuzz_files.py against any checkout (a plain script).

    python benchmarks/fuzz_before_after.py generate DIR [N]   # N plan files (default 6000)
    PYTHONPATH=OTHER/src python benchmarks/fuzz_before_after.py run DIR
    PYTHONPATH=OTHER/src python benchmarks/fuzz_before_after.py mappings DIR [N]   # N import mappings

`generate` writes a reproducible corpus (hypothesis, derandomized) with the strategies of
tests/fuzz_files.py. `run` checks every file as `thighmap check FILE` would, in-process
with the atlas loaded once, using whichever thighmap is first on PYTHONPATH: its
`cli.check_plan_file` where it exists, else the path older versions' `cli._check` took.
Output printed by the check must encode as UTF-8 (as it must on a real terminal or
pipe). It prints how many files ended in each exit code, how many in a traceback (an
exception escaping, which a real process reports with exit 1), and the slowest file.
"""

from __future__ import annotations

import contextlib
import io
import signal
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def generate(folder: Path, count: int) -> None:
    from hypothesis import HealthCheck, given, settings

    sys.path.insert(0, str(ROOT))
    from tests.fuzz_files import plan_files

    folder.mkdir(parents=True, exist_ok=True)
    written = [0]

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(plan_files())
    def write(data: bytes) -> None:
        (folder / f"plan-{written[0]:05d}.thighplan.json").write_bytes(data)
        written[0] += 1

    write()
    print(f"wrote {written[0]} files to {folder}")


def _check(cli, path: str, atlas) -> int:  # type: ignore[no-untyped-def]
    if hasattr(cli, "check_plan_file"):
        return cli.check_plan_file(path, atlas)
    loaded = cli._load_plan(path, atlas)  # what `_check` did before check_plan_file existed
    if isinstance(loaded, int):
        return loaded
    plan, model = loaded
    report = model.check_plan(plan, plan_path=path)
    print(report.to_text())
    return cli.STATUS_EXIT[report.status]


def run(folder: Path) -> None:
    from thighmap import cli
    from thighmap.anatomy.atlas import load_atlas

    atlas = load_atlas()
    codes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    slowest = (0.0, "")
    largest_stderr = (0, "")

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError("no result after 30 s")

    signal.signal(signal.SIGALRM, expired)
    files = sorted(folder.glob("*.thighplan.json"))
    start_all = time.perf_counter()
    for path in files:
        out, err = io.StringIO(), io.StringIO()
        start = time.perf_counter()
        signal.alarm(30)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = _check(cli, str(path), atlas)
            out.getvalue().encode("utf-8")  # a real stdout would raise here
            err.getvalue().encode("utf-8")
            codes[str(code)] += 1
        except BaseException as exc:  # an exception escaping = a traceback
            codes["traceback"] += 1
            frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
            where = f"{Path(frame.filename).name}:{frame.name}" if frame else "?"
            kinds[f"{type(exc).__name__} in {where}"] += 1
        finally:
            signal.alarm(0)
        seconds = time.perf_counter() - start
        slowest = max(slowest, (seconds, path.name))
        largest_stderr = max(largest_stderr, (len(err.getvalue()), path.name))
    total = time.perf_counter() - start_all
    print(f"thighmap from {Path(cli.__file__).parents[2]}")
    print(f"{len(files)} files in {total:.0f} s; exit codes: {dict(sorted(codes.items()))}")
    print(f"slowest file: {slowest[0]:.2f} s ({slowest[1]}); largest stderr: {largest_stderr[0]} chars")
    for kind, n in kinds.most_common():
        print(f"  {n:5d}  {kind}")


def mappings(folder: Path, count: int) -> None:
    """Generated import mappings (the strategies of tests/fuzz_files.py, derandomized)
    through `import_atlas` of whichever thighmap is on PYTHONPATH: how many end in a
    refusal (AtlasError), a traceback (any other exception), or files written outside
    the output folder."""
    import json
    import shutil

    import trimesh
    from hypothesis import HealthCheck, given, settings

    sys.path.insert(0, str(ROOT))
    from tests.fuzz_files import mapping_documents, to_json

    from thighmap.anatomy.atlas import AtlasError, load_atlas
    from thighmap.anatomy.importer import import_atlas

    atlas = load_atlas()
    source = folder / "source"
    (source / "sub").mkdir(parents=True, exist_ok=True)
    outside = folder / "outside.stl"
    box = trimesh.creation.box(extents=[20.0, 20.0, 60.0])
    box.apply_translation([0.0, 40.0, 200.0])
    box.export(source / "st.stl")
    box.export(outside)
    (source / "st.txt").write_text("not a surface")
    points = {lid: atlas.landmark(lid).tolist() for lid in atlas.landmarks}
    outcome: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    runs = [0]

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(mapping_documents(points, absolute_surface=str(outside)))
    def one(doc: object) -> None:
        runs[0] += 1
        work = folder / f"run-{runs[0]}"
        work.mkdir()
        mapping = source / "mapping.json"
        mapping.write_text(to_json(doc), encoding="utf-8", errors="surrogatepass")
        before = {p for p in folder.rglob("*") if "run-" not in str(p)}
        try:
            import_atlas(mapping, work / "atlas", base=atlas)
            outcome["imported"] += 1
        except AtlasError:
            outcome["refused"] += 1
            if any(work.rglob("*")):
                outcome["refused, files left behind"] += 1
        except Exception as exc:
            outcome["traceback"] += 1
            kinds[f"{type(exc).__name__}: {str(exc)[:60]}"] += 1
        after = {p for p in folder.rglob("*") if "run-" not in str(p)}
        escaped = [p for p in work.rglob("*") if p.is_file() and (work / "atlas") not in p.parents]
        if after - before or escaped:
            outcome["wrote outside the output folder"] += 1
            for p in after - before:
                if p.is_file():
                    p.unlink()
        shutil.rmtree(work, ignore_errors=True)

    one()
    print(json.dumps(dict(outcome)))
    for kind, n in kinds.most_common(15):
        print(f"  {n:4d}  {kind}")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "generate":
        generate(Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 6000)
    elif len(sys.argv) == 3 and sys.argv[1] == "run":
        run(Path(sys.argv[2]))
    elif len(sys.argv) >= 3 and sys.argv[1] == "mappings":
        mappings(Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 500)
    else:
        print(__doc__)
        sys.exit(2)
