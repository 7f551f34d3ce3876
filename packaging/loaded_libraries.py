"""Which of a bundle's shared libraries the features load, from LD_DEBUG=files logs
(packaging/run_features.sh with LDLOG=FOLDER), by top folder of _internal/:

    python packaging/loaded_libraries.py dist/thighmap FOLDER [--never]

--never also lists every library no feature loaded, largest first.
"""

from __future__ import annotations

import os
import re
import sys
from collections import defaultdict
from pathlib import Path

MB = 2**20


def loaded_paths(logs: Path) -> set[str]:
    found = set()
    for log in logs.iterdir():
        for line in log.read_text(errors="replace").splitlines():
            m = re.search(r"calling init: (\S+)", line)
            if m:
                found.add(os.path.realpath(m.group(1)))
    return found


def main(bundle: Path, logs: Path, list_never: bool) -> None:
    internal = (bundle / "_internal").resolve()
    loaded = loaded_paths(logs)
    by_group: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    never = []
    for path in internal.rglob("*.so*"):
        if path.is_symlink() or not path.is_file():
            continue
        rel = path.relative_to(internal)
        group = rel.parts[0] if len(rel.parts) > 1 else "(top level)"
        size = path.stat().st_blocks * 512 / MB  # on disk, as du counts it
        is_loaded = os.path.realpath(path) in loaded
        by_group[group][0 if is_loaded else 1] += size
        if not is_loaded:
            never.append((size, str(rel)))
    print(f"{'':24}{'loaded MB':>10}{'never MB':>10}")
    for group, (yes, no) in sorted(by_group.items(), key=lambda kv: -sum(kv[1])):
        print(f"{group:24}{yes:10.1f}{no:10.1f}")
    total_loaded = sum(v[0] for v in by_group.values())
    total_never = sum(v[1] for v in by_group.values())
    print(f"{'total':24}{total_loaded:10.1f}{total_never:10.1f}")
    if list_never:
        for size, rel in sorted(never, reverse=True):
            print(f"{size:8.2f} {rel}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), "--never" in sys.argv[3:])
