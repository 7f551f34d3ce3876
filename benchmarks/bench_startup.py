"""Start-up benchmark (a plain script, not a test): prints figures, asserts nothing.

Run from the repository root:

    .venv/bin/python benchmarks/bench_startup.py [--repeat 7] [--src DIR]

Every figure is the wall time of a fresh process (`python -m thighmap ...`), warm (one
untimed run first fills the compiled-kernel cache, Python's bytecode cache and the disk
cache; the first one after kernels.py changed builds the kernels ahead of time into the
user's cache folder, about 30 s, and later ones import no numba: run with
THIGHMAP_KERNEL_CACHE=off to measure numba's cache instead), as the median,
minimum and maximum of --repeat runs, with the peak resident memory of the slowest run.
--src points at another source tree (e.g. an older checkout's src/, with THIGHMAP_ASSETS
set) so that before and after can be measured side by side on the same machine.

On a machine shared with other work, take the medians, and compare figures measured
together; the processor time (user + system, median) is the figure least disturbed by
other work.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMMANDS: list[tuple[str, list[str]]] = [
    ("thighmap --help", ["--help"]),
    ("thighmap check --trigger-point bfl_nct_mid", ["check", "--trigger-point", "bfl_nct_mid"]),
    (
        "thighmap check danger-sciatic (1 needle)",
        ["check", str(ROOT / "examples/danger-sciatic.thighplan.json")],
    ),
    (
        "thighmap check fitted-patient (2 needles, fitted)",
        ["check", str(ROOT / "examples/fitted-patient.thighplan.json")],
    ),
]


def run_once(src: Path, args: list[str]) -> tuple[float, float, float]:
    """(wall seconds, processor seconds (user + system), peak RSS in MB) of one
    `python -m thighmap ARGS` process."""
    # warm includes Python's bytecode cache (an installed package has it): a
    # PYTHONDONTWRITEBYTECODE in the environment would make every run compile thighmap's
    # sources again (about 0.1-0.2 s here)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(src)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "thighmap", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1, 2):
        raise SystemExit(f"thighmap {' '.join(args)} failed with exit code {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--src", type=Path, default=ROOT / "src", help="source tree to run (default: ./src)")
    args = ap.parse_args()
    print(f"source: {args.src}  ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f})")
    for label, argv in COMMANDS:
        run_once(args.src, argv)  # warm: kernel cache, disk cache
        runs = [run_once(args.src, argv) for _ in range(args.repeat)]
        walls = [w for w, _, _ in runs]
        cpu = statistics.median(c for _, c, _ in runs)
        rss = max(r for _, _, r in runs)
        print(
            f"{label:52s} median {statistics.median(walls):5.2f} s  "
            f"(min {min(walls):5.2f}, max {max(walls):5.2f}; processor {cpu:5.2f} s; peak RSS {rss:4.0f} MB)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
