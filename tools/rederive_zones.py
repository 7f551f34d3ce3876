"""Re-derive the nerves' and vessels' danger zones by their stated rules from the depths
measured on the committed meshes (run after `thighmap atlas build`, from the repository
root): 22% (chan2006's coefficient of variation) of the depth below the skin, for the
sciatic nerve at each station rounded up to 0.1 mm, for the others the largest along the
structure rounded up to 0.5 mm; fitted sqrt(1 - 0.5) of the reference, rounded up alike.
Rewrites the numbers in assets/landmarks.json and prints what changed; the sentences
that quote depth ranges are updated where they follow the usual wording."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, ".")

from tests.test_atlas_anatomy import CV_CHAN_2006, _depths_below_skin_mm

from thighmap.anatomy.atlas import load_atlas

DOC = Path("assets/landmarks.json")


def up(value: float, step: float) -> float:
    return round(math.ceil(value / step - 1e-9) * step, 1)


def main() -> None:
    atlas = load_atlas()
    doc = json.loads(DOC.read_text())
    for st in doc["structures"]:
        sid = st["id"]
        if st.get("role") != "danger" or "safety" not in st:
            continue
        if "22%" not in st["safety"].get("uncertainty_source", ""):
            continue  # a zone chosen by another stated rule (the perforating arteries)
        unc = st["safety"]["uncertainty"]
        depth = _depths_below_skin_mm(atlas, sid)
        if sid == "sciatic_nerve":
            s = np.linspace(0.0, 1.0, len(depth))
            rule = CV_CHAN_2006 * np.interp(np.array(unc["at"], float), s, depth)
            ref = [up(v, 0.1) for v in rule]
            fit = [up(math.sqrt(0.5) * v, 0.1) for v in ref]
        else:
            r = up(CV_CHAN_2006 * float(depth.max()), 0.5)
            ref = [r] * len(unc["at"])
            fit = [up(math.sqrt(0.5) * r, 0.5)] * len(unc["at"])
            text = st["safety"]["uncertainty_source"]
            old = unc["reference_mm"][0]
            text = re.sub(rf"^chosen: {old:.1f} mm", f"chosen: {r:.1f} mm", text)
            text = re.sub(
                r"(\d+)-(\d+) mm below the nearest skin \(measured on the meshes",
                f"{depth.min():.0f}-{depth.max():.0f} mm below the nearest skin (measured on the meshes",
                text,
            )
            text = re.sub(
                r"which gives (\d+\.\d)-(\d+\.\d) mm",
                f"which gives {CV_CHAN_2006 * depth.min():.1f}-{CV_CHAN_2006 * depth.max():.1f} mm",
                text,
            )
            text = re.sub(
                rf"sqrt\(1 - 0\.5\) x {old:.1f} = (\d+\.\d), rounded up to (\d+\.\d)",
                f"sqrt(1 - 0.5) x {r:.1f} = {math.sqrt(0.5) * r:.1f}, rounded up to {fit[0]:.1f}",
                text,
            )
            st["safety"]["uncertainty_source"] = text
        if ref != unc["reference_mm"] or fit != unc["fitted_mm"]:
            print(
                f"{sid}: depth {depth.min():.1f}-{depth.max():.1f} mm; reference {unc['reference_mm']} -> {ref}, "
                f"fitted {unc['fitted_mm']} -> {fit}"
            )
        unc["reference_mm"], unc["fitted_mm"] = ref, fit
    DOC.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
