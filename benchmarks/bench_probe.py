"""Timings of issue 14's read-outs, the work each does per mouse event (a plain script,
not a test):

    python3 benchmarks/bench_probe.py

- a map's value under the cursor: viz.probe.value_at on the outer skin (one hover);
- the measuring tool's "which structure": viz.probe.structure_at over every structure
  (one click), at points on the skin, a muscle and the femur;
- a referral region's weights on the skin: anatomy.referral.region_weights_on_atlas
  (one trigger point chosen).

Median of 30 runs each, in milliseconds.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np

from thighmap.anatomy.atlas import load_atlas
from thighmap.anatomy.referral import region_weights_on_atlas
from thighmap.viz import probe


def _median_ms(run: Callable[[], object], n: int = 30) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return 1000.0 * statistics.median(times)


def main() -> None:
    atlas = load_atlas()
    skin = atlas.mesh("skin")
    values = np.random.default_rng(1).normal(size=len(skin.vertices))
    point = skin.vertices[skin.faces[len(skin.faces) // 2]].mean(axis=0)
    ms = _median_ms(lambda: probe.value_at(skin, values, point))
    print(f"value_at on the skin ({len(skin.faces)} triangles): {ms:.2f} ms")
    for sid in ("skin", "semitendinosus", "femur"):
        mesh = atlas.mesh(sid)
        p = mesh.vertices[mesh.faces[len(mesh.faces) // 3]].mean(axis=0)
        ms = _median_ms(lambda p=p: probe.structure_at(atlas, p, atlas.structures))
        print(f"structure_at, a point on the {sid}, {len(atlas.structures)} structures: {ms:.2f} ms")
    tp = atlas.trigger_points["st_nct_mid"]
    ms = _median_ms(lambda: region_weights_on_atlas(tp.referral_region, atlas))
    print(f"referral region weights on the skin ({len(skin.vertices)} vertices): {ms:.2f} ms")


if __name__ == "__main__":
    main()
