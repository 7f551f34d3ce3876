"""Large-plan benchmark (a plain script, not a test): prints figures, asserts nothing.

Run from the repository root:

    .venv/bin/python benchmarks/bench_scale.py [--sizes 10000,100000] [--src DIR]

For each size N it writes, into a temporary folder (deleted afterwards), a plan of N
needles: the bundled trigger points' recommended techniques on the reference adult,
their entries moved up to 8 mm, directions tilted up to about 10 degrees and depths
changed by up to 30 %. Then it measures:

  - `thighmap check PLAN --json` and `thighmap check PLAN` in a fresh process: wall time
    and peak resident memory (the child's ru_maxrss);
  - loading the plan (planning.load_plan against the reference atlas, as the window
    does) and saving it again (planning.save_plan: the original statements kept, which
    compares every needle with what was read), in this process.

--src points at another source tree (an older checkout's src/, with THIGHMAP_ASSETS set)
to measure before and after side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def make_plan(model, n: int, seed: int = 13) -> dict:  # type: ignore[no-untyped-def]
    """A plan of n explicit needles jittered around the bundled trigger-point techniques."""
    rng = np.random.default_rng(seed)
    base = [model.needle_from_trigger_point(tp) for tp in sorted(model.atlas.trigger_points)]
    pick = rng.integers(0, len(base), n)
    entry = np.array([b.entry_mm for b in base])[pick] + rng.uniform(-8.0, 8.0, (n, 3))
    direction = np.array([b.direction for b in base])[pick] + rng.normal(0.0, 0.1, (n, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    depth = np.array([b.depth_mm for b in base])[pick] * rng.uniform(0.7, 1.3, n)
    needles = []
    for i in range(n):
        b = base[pick[i]]
        needles.append(
            {
                "id": f"n{i:06d}",
                "entry_mm": [round(float(v), 6) for v in entry[i]],
                "direction": [round(float(v), 9) for v in direction[i]],
                "depth_mm": round(float(depth[i]), 6),
                "needle_length_mm": b.needle_length_mm,
                "gauge_mm": b.gauge_mm,
                "target": b.target,
            }
        )
    return {
        "format": "thighmap-plan",
        "version": 1,
        "side": "right",
        "title": f"{n} jittered trigger-point needles",
        "needles": needles,
    }


def run_child(src: Path, args: list[str]) -> tuple[float, float, float, int]:
    """(wall s, processor s (user + system), peak RSS MB, exit code) of
    `python -m thighmap ARGS`, output discarded."""
    env = dict(os.environ, PYTHONPATH=str(src))
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "thighmap", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1, 2):
        raise SystemExit(f"thighmap {' '.join(args)} failed ({code}): {err.decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, code


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000", help="comma-separated needle counts")
    ap.add_argument("--src", type=Path, default=ROOT / "src", help="source tree to run (default: ./src)")
    ap.add_argument("--skip-text", action="store_true", help="only the --json check")
    args = ap.parse_args()
    sys.path.insert(0, str(args.src))
    from thighmap.anatomy.atlas import load_atlas
    from thighmap.planning import load_plan, save_plan
    from thighmap.safety.engine import PlanningAtlas, SafetyModel

    model = SafetyModel.for_atlas(load_atlas())
    known = PlanningAtlas(model)
    print(f"source: {args.src}  ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f})")
    with tempfile.TemporaryDirectory(prefix="thighmap-scale-") as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            path = Path(tmp) / f"plan-{n}.thighplan.json"
            path.write_text(json.dumps(make_plan(model, n), indent=2) + "\n", encoding="utf-8")
            size_mb = path.stat().st_size / 1e6
            print(f"{n} needles ({size_mb:.1f} MB plan file):")
            for label, argv in (
                ("check (text):", ["check", str(path)]),
                ("check --json:", ["check", str(path), "--json"]),
            ):
                if args.skip_text and "--json" not in argv:
                    continue
                wall, cpu, rss, code = run_child(args.src, argv)
                print(
                    f"  thighmap {label:14s} {wall:7.2f} s  (processor {cpu:6.2f} s)  "
                    f"peak RSS {rss:6.0f} MB  (exit {code})"
                )
            t = time.perf_counter()
            plan = load_plan(path, known=known)
            t_load = time.perf_counter() - t
            out = Path(tmp) / f"saved-{n}.thighplan.json"
            t = time.perf_counter()
            save_plan(plan, out)
            t_save = time.perf_counter() - t
            same = json.loads(out.read_text(encoding="utf-8")) == json.loads(path.read_text(encoding="utf-8"))
            print(f"  load_plan:              {t_load:7.2f} s")
            print(f"  save_plan:              {t_save:7.2f} s  (saved document equals the original: {same})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
