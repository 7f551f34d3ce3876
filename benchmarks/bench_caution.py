"""What caution structures cost the check (a plain script, not a test): prints figures.

Run from the repository root:  .venv/bin/python benchmarks/bench_caution.py

Compares the bundled atlas with and without its caution structures (cutaneous nerves,
superficial veins). If the atlas has none yet, four stand-ins are added: straight tubes
6 mm under the skin of the back of the thigh, 1-3 mm thick, about where the posterior
femoral cutaneous nerve, the medial sural cutaneous nerve and the great and small
saphenous veins run. Times per needle, for random needles from the outer skin: one
check_needle at a time, a plan checked in batches (check_plan), and check_many (the
geometric verdict of the skin maps). No timed assertions.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.caution_atlas import with_caution_tube, without_caution_structures

from thighmap.anatomy.atlas import Atlas, load_atlas
from thighmap.planning import Needle, Plan
from thighmap.safety.engine import SafetyModel

N_SINGLE = 300
N_PLAN = 2000
N_MANY = 20000

# (id, kind, skin point to lie under (x, z), radius mm): rough stand-ins, not anatomy
STAND_INS = (
    ("bench_posterior_femoral_cutaneous_nerve", "nerve", (0.0, 250.0), 1.0),
    ("bench_medial_sural_cutaneous_nerve", "nerve", (-10.0, 60.0), 0.8),
    ("bench_small_saphenous_vein", "vein", (5.0, 40.0), 1.5),
    ("bench_great_saphenous_vein", "vein", (-70.0, 200.0), 2.5),
)


def _with_stand_ins(atlas: Atlas) -> Atlas:
    model = SafetyModel.for_atlas(atlas)
    out = atlas
    for sid, kind, (x, z), radius in STAND_INS:
        ends = []
        for dz in (-50.0, 50.0):
            direction = np.array([x, 150.0, z + dz]) if x > -50 else np.array([-150.0, 0.0, z + dz])
            q, inward = model.skin_surface_frame(direction)
            ends.append(q + 6.0 * inward)
        out = with_caution_tube(out, sid, ends, radius_mm=radius, kind=kind)
    return out


def _needles(model: SafetyModel, n: int, seed: int) -> list[Needle]:
    pts, normals = model.skin_points()
    keep = (pts[:, 2] > 20.0) & (pts[:, 2] < 400.0)
    pts, normals = pts[keep], normals[keep]
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(pts), n)
    out = []
    for j, i in enumerate(idx):
        d = normals[i] + rng.normal(scale=0.3, size=3)
        out.append(Needle(f"n{j}", pts[i], d / np.linalg.norm(d), float(rng.uniform(10, 60)), 75.0, 0.25))
    return out


def _time(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    atlas = load_atlas()
    if atlas.caution_structures():
        with_c, without_c = atlas, without_caution_structures(atlas)
    else:
        with_c, without_c = _with_stand_ins(atlas), atlas
    print("caution structures: " + ", ".join(s.id for s in with_c.caution_structures()))
    rows = []
    for label, a in (("without", without_c), ("with", with_c)):
        model = SafetyModel.for_atlas(a)
        single = _needles(model, N_SINGLE, 1)
        plan = Plan(side="right", title=None, patient=None, needles=_needles(model, N_PLAN, 2))
        many = _needles(model, N_MANY, 3)
        entry = np.array([n.entry_mm for n in many])
        direction = np.array([n.direction for n in many])
        depth = np.array([n.depth_mm for n in many])
        for n in single[:5]:  # compile and build the indexes first
            model.check_needle(n)
        model.check_plan(Plan(side="right", title=None, patient=None, needles=single[:8]))
        t_single = _time(lambda m=model, s=single: [m.check_needle(n) for n in s], 1) / N_SINGLE
        t_plan = _time(lambda m=model, p=plan: m.check_plan(p), 1) / N_PLAN
        t_many = (
            _time(lambda m=model, e=entry, d=direction, h=depth: m.check_many(e, d, h, 0.25, 75.0)) / N_MANY
        )
        statuses = np.bincount(model.check_many(entry, direction, depth, 0.25, 75.0).status, minlength=3)
        rows.append((label, t_single, t_plan, t_many, statuses))
    print(
        f"{'':8s} {'check_needle':>14s} {'check_plan':>14s} {'check_many':>14s}   safe/caution/danger (many)"
    )
    for label, t_single, t_plan, t_many, statuses in rows:
        print(
            f"{label:8s} {t_single * 1e3:11.3f} ms {t_plan * 1e3:11.3f} ms {t_many * 1e6:11.2f} us   "
            + "/".join(str(int(v)) for v in statuses)
        )


if __name__ == "__main__":
    main()
