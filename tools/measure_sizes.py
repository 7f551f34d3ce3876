"""Measure the packed muscles on the committed meshes and write what was measured into
their size_checks and sources in assets/landmarks.json (run after `thighmap atlas build`,
from the repository root). Each check keeps its measure and its published figure; the
model's value, the level and the agreement (the tightest true one of: within range,
within 1 SD, within 2 SD, within 10 points, above, below) are what the mesh gives now.
tests/test_atlas_anatomy.py measures them again."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, ".")

from tests.test_atlas_anatomy import _measure

from thighmap.anatomy.atlas import load_atlas

DOC = Path("assets/landmarks.json")
# Ward 2009 muscle lengths (cm, mean and SD) for the muscles the atlas gained with the
# packed thigh, from the ward2009 source entry's transcription
WARD_LENGTH = {"rectus_femoris": (36.28, 4.73), "adductor_brevis": (15.39, 2.46)}
NAMES = {
    "acsa_max_cm2": "largest section {v} cm2 at z = {z:.0f} mm",
    "fleshy_length_cm": "fleshy length {v} cm",
    "proximal_cord_cm": "thin proximal part {v} cm long",
    "distal_cord_cm": "thin distal part {v} cm long",
    "volume_cm3": "volume {v} cm3",
    "volume_ratio": "volume {v} times that of {rel}",
    "belly_position_pct": "largest outline {v}% of the way down",
}


def agreement(value: float, published: dict, measure: str) -> str:
    if "range" in published:
        lo, hi = published["range"]
        return "within range" if lo <= value <= hi else ("above" if value > hi else "below")
    mean, sd = published["mean"], published.get("sd")
    if sd is not None and abs(value - mean) <= sd:
        return "within 1 SD"
    if sd is not None and abs(value - mean) <= 2 * sd:
        return "within 2 SD"
    if measure.endswith("_pct") and abs(value - mean) <= 10.0:
        return "within 10 points"
    return "above" if value > mean else "below"


def phrase(check: dict) -> str:
    z = check.get("at_z_mm", 0.0)
    text = NAMES[check["measure"]].format(v=check["model"], z=z, rel=check.get("relative_to", ""))
    pub = check.get("published")
    if pub:
        if "range" in pub:
            text += f" ({check['agreement']} {pub['range'][0]}-{pub['range'][1]}, {pub['source']})"
        else:
            sd = f" +/- {pub['sd']}" if pub.get("sd") is not None else ""
            text += f" ({check['agreement']} {pub['source']}'s {pub['mean']}{sd})"
    return text


def main() -> None:
    atlas = load_atlas()
    doc = json.loads(DOC.read_text())
    for st in doc["structures"]:
        rec = st["recipe"]
        if st["kind"] != "muscle" or rec["type"] != "packed":
            continue
        checks = [c for c in st.get("size_checks", []) if c["measure"] != "volume_cm3"]
        if "volume_cm3" in rec:
            vol = rec["volume_cm3"]
            first = vol["source"].split()[0].rstrip(":").removesuffix("'s")
            checks.insert(0, {"measure": "volume_cm3", "published": {"source": first, "range": vol["range"]}})
        if st["id"] in WARD_LENGTH and not any(c["measure"] == "fleshy_length_cm" for c in checks):
            mean, sd = WARD_LENGTH[st["id"]]
            checks.append(
                {"measure": "fleshy_length_cm", "published": {"source": "ward2009", "mean": mean, "sd": sd}}
            )
        if not checks:
            continue
        if not any(c["measure"] == "acsa_max_cm2" for c in checks):
            checks.append({"measure": "acsa_max_cm2"})
        for c in checks:
            value, z = _measure(atlas, st["id"], c)
            c["model"] = round(value, 2 if c["measure"] == "volume_ratio" else 1)
            if z is not None:
                c["at_z_mm"] = round(z)
            if "published" in c:
                c["agreement"] = agreement(value, c["published"], c["measure"])
        st["size_checks"] = checks
        head = re.split(r"(?<=\)) ?[.;] ", st["source"], maxsplit=1)[0].rstrip(".")
        head = head.split(". Measured on the mesh")[0].split(". Packed (anatomy/packing.py)")[0]
        st["source"] = (
            f"{head}. Packed (anatomy/packing.py): its path and the shape of its sections are drawn "
            "(chosen, to the texts' relations), its share of each level follows from them and, where "
            "recipe.volume_cm3 gives one, from its published volume. Measured on the mesh (size_checks, "
            "tested): " + "; ".join(phrase(c) for c in checks)
        )
        print(st["id"], "|", st["source"][-240:])
    DOC.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
