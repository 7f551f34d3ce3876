"""Re-place the bundled trigger points on the committed meshes (run after `thighmap atlas
build`, from the repository root). Each site keeps its technique (direction, depth range,
needle) and its level (the protocol sites follow the ischial tuberosity and the popliteal
crease: 2 cm below the tuberosity, and halfway between them); across the thigh it moves
to the line, within 20 mm of where it was, along which the technique's depth range ends
inside the named muscle and the site's 15 mm region lies in the muscle as much as
possible (45-90% is the aim: see spread_source). Prints the moves."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import trimesh

sys.path.insert(0, ".")

from thighmap.anatomy.atlas import load_atlas
from thighmap.anatomy.voxels import inside_grid

DOC = Path("assets/landmarks.json")
PROTOCOL_LEVELS = {"nct_proximal": "proximal", "nct_mid": "mid"}


def _muscle_span(skin, muscle, p, d):
    hits, _, _ = skin.ray.intersects_location([p], [-d], multiple_hits=True)
    if not len(hits):
        return None
    entry = p - d * float(np.max((hits - p) @ -d))
    locs, _, _ = muscle.ray.intersects_location([entry], [d], multiple_hits=True)
    if len(locs) < 2:
        return None
    t = np.sort((locs - entry) @ d)
    return entry, float(t[0]), float(t[1])


def place(tp, skin, muscle, muscle_m, base, across, d, lo, hi, g, ball):
    """The best site along lines across the thigh from `base` (score: the share of its
    region in the muscle near 70%, then the smallest move), or None."""
    best = None
    for shift in np.arange(-20.0, 20.1, 1.0):
        span = _muscle_span(skin, muscle, base + across * shift, d)
        if span is None:
            continue
        entry, a, b = span
        if not (b >= hi + 1.0 and a <= hi - 3.0):
            continue
        site_depth = float(np.clip((max(a, lo) + hi) / 2.0, lo, hi))
        site = entry + d * site_depth
        inside = float(inside_grid(muscle_m, site[0] + g, site[1] + g, site[2] + g)[ball].mean())
        score = -abs(inside - 0.7) - 0.002 * abs(shift)
        if best is None or score > best[0]:
            best = (score, site, inside, shift)
    return best


def fit_range(tp, skin, muscle, base, across, d) -> bool:
    """Where the muscle is thinner than the technique's range reaches, end the range 1 mm
    inside the deepest reach of the muscle along lines within 20 mm (never shorter than
    5 mm); True when that gave a range."""
    tech = tp["technique"]
    lo, hi = tech["depth_range_mm"]
    deepest = 0.0
    for shift in np.arange(-20.0, 20.1, 1.0):
        span = _muscle_span(skin, muscle, base + across * shift, d)
        if span is not None and span[1] <= lo:
            deepest = max(deepest, span[2] - 1.0)
    new_hi = float(np.floor(min(deepest, hi) * 2) / 2)
    if new_hi < lo + 5.0:
        return False
    tech["depth_range_mm"] = [lo, new_hi]
    return True


def main() -> None:
    atlas = load_atlas()
    doc = json.loads(DOC.read_text())
    skin_m = atlas.mesh("skin")
    skin = trimesh.Trimesh(skin_m.vertices, skin_m.faces, process=False)
    it_z = float(atlas.landmark("ischial_tuberosity")[2])
    crease_z = float(atlas.landmark("popliteal_crease")[2])
    g = np.arange(-15.0, 15.1, 2.0)
    offsets = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1)
    ball = np.linalg.norm(offsets, axis=-1) <= 15.0
    for tp in doc["trigger_points"]:
        tid = tp["id"]
        muscle_m = atlas.mesh(tp["muscle"])
        muscle = trimesh.Trimesh(muscle_m.vertices, muscle_m.faces, process=False)
        tech = tp["technique"]
        d = np.array(tech["direction"], float)
        d /= np.linalg.norm(d)
        lo, hi = tech["depth_range_mm"]
        old = np.array(tp["position_mm"], float)
        z = old[2]
        if tid.endswith("nct_proximal"):
            z = it_z - 20.0
        elif tid.endswith("nct_mid"):
            z = round((it_z + crease_z) / 2.0, 1)
        across = np.array([-d[1], d[0], 0.0])
        best = place(tp, skin, muscle, muscle_m, np.array([old[0], old[1], z]), across, d, lo, hi, g, ball)
        if best is None and fit_range(tp, skin, muscle, np.array([old[0], old[1], z]), across, d):
            print(f"{tid}: depth range now {tech['depth_range_mm']} mm (the muscle is thinner here)")
            lo, hi = tech["depth_range_mm"]
            best = place(
                tp, skin, muscle, muscle_m, np.array([old[0], old[1], z]), across, d, lo, hi, g, ball
            )
        if best is None:
            print(
                f"{tid}: no line within 20 mm keeps the range inside {tp['muscle']}; left at {old.round(1)}"
            )
            continue
        _, site, inside, shift = best
        tp["position_mm"] = [round(float(v), 1) for v in site]
        print(
            f"{tid}: {old.round(1).tolist()} -> {tp['position_mm']} ({shift:+.0f} mm across, "
            f"{inside:.0%} of its region in the muscle)"
        )
    DOC.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
