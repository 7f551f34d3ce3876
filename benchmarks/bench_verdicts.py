"""How often the check can be fooled (a plain script, not a test): prints figures.

Run from the repository root:  .venv/bin/python benchmarks/bench_verdicts.py

On 120 random outer-skin points of the bundled reference adult (away from the cut ends of
the limb), checks a 30 mm insertion of a 50 mm needle pointing out of the skin (the inward
normal reversed, tilted at random), one laid along the skin (a random tangent), and one
of depth 5e-324 mm along the normal, and counts the verdicts. None of them enters the body
through the skin at its entry, so none should be safe (docs/reference.md, "Needles that
do not enter the body").
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from thighmap.anatomy.atlas import load_atlas
from thighmap.planning import Needle
from thighmap.safety.engine import SafetyModel


def main() -> None:
    model = SafetyModel.for_atlas(load_atlas())
    pts, normals = model.skin_points()
    keep = (pts[:, 2] > 20.0) & (pts[:, 2] < 400.0)
    pts, normals = pts[keep], normals[keep]
    rng = np.random.default_rng(12)
    idx = rng.choice(len(pts), 120, replace=False)
    counts: dict[str, Counter[str]] = {
        "outward": Counter(),
        "parallel": Counter(),
        "depth 5e-324 mm": Counter(),
    }
    for i in idx:
        n = normals[i]
        out = -n + rng.normal(scale=0.3, size=3)
        if out @ n >= 0:
            out = -n
        tangent = np.cross(n, rng.normal(size=3))
        cases = {
            "outward": (out, 30.0),
            "parallel": (tangent / np.linalg.norm(tangent), 30.0),
            "depth 5e-324 mm": (n, 5e-324),
        }
        for name, (direction, depth) in cases.items():
            report = model.check_needle(Needle("p", pts[i], direction, depth, 50.0, 0.25))
            counts[name][report.status] += 1
    for name, c in counts.items():
        print(f"{name:16s} " + ", ".join(f"{k} {c[k]}" for k in ("safe", "caution", "danger")))


if __name__ == "__main__":
    main()
