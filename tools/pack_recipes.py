"""One-off migration (kept for the record): turn the muscles' loft recipes into packed
recipes with published volume targets, and add the fat regions and gastrocnemius heads
that fill the packed thigh. Run from the repository root."""

from __future__ import annotations

import json
from pathlib import Path

DOC = Path("assets/landmarks.json")
HANDSFIELD = (
    "handsfield2014 via shared/anatomy-references.md: regression on height x mass for a 1.75 m adult, "
    "taken at 80 kg (the mean of the references' 75 kg value and the upper end of its range); the "
    "range is the regression's value for 65-85 kg"
)


def handsfield(v75: float, lo: float, hi: float) -> dict:
    return {"target": round((v75 + hi) / 2, 1), "range": [lo, hi], "source": HANDSFIELD}


# Ward 2009 masses scaled to the reference adult by the ratio of the Handsfield volumes
# of the hamstrings and adductor magnus (1358 cm3) to Ward's masses of the same muscles
# (731.9 g): 1.855 cm3 per g
WARD_SCALE = 1358.0 / 731.9
# The reference adult is taken at 80 kg, midway between the references' 75 kg values and
# the upper ends of their ranges (the 85 kg values): the envelope's circumferences
# (mid-thigh 520 mm, AP 190 mm at the lesser trochanter) describe a man of about that
# size. The regression is linear in height x mass, so the 80 kg value is the mean of
# the 75 and 85 kg values; muscles without an 85 kg value in the references are scaled
# by the hamstrings' and adductor magnus's ratio (1433 / 1358 = 1.055).
AT_80_KG = (1358.0 + 1508.0) / 2 / 1358.0


def ward(mass_g: float, sd_g: float, what: str) -> dict:
    v = mass_g * WARD_SCALE * AT_80_KG
    return {
        "target": round(v, 1),
        "range": [round(v * 0.85, 1), round(v * 1.15, 1)],
        "source": (
            f"ward2009 mass of {what} {mass_g} +/- {sd_g} g scaled to the reference adult by 1.855 cm3/g "
            "(the ratio of handsfield2014's 75 kg volumes to ward2009's masses for the three hamstrings and "
            "adductor magnus) and by 1.055 to 80 kg (as those muscles scale); range +/-15% chosen (ward2009's SDs are about 40% of the mean, the "
            "regression's 65-85 kg span about +/-10%)"
        ),
    }


QUADS = 1892.0
WARD_Q = {"rf": 110.6, "vl": 375.9, "vi": 171.9, "vm": 239.4}
WQ = sum(WARD_Q.values())


def quad(part: float, what: str, extra: str = "") -> dict:
    v = QUADS * AT_80_KG * part / WQ
    return {
        "target": round(v, 1),
        "range": [round(v * 0.85, 1), round(v * 1.15, 1)],
        "source": (
            f"handsfield2014's quadriceps together (1892 cm3 at 75 kg, via shared/anatomy-references.md; "
            f"x 1.055 to 80 kg as the hamstrings scale) shared "
            f"among the heads in proportion to ward2009's masses (RF 110.6, VL 375.9, VI 171.9, VM 239.4 g): "
            f"{what}{extra}; range +/-15% chosen"
        ),
    }


VOLUMES = {
    "biceps_femoris_long_head": handsfield(215, 194, 236),
    "biceps_femoris_short_head": handsfield(105, 92, 119),
    "semitendinosus": handsfield(196, 172, 219),
    "semimembranosus": handsfield(256, 230, 282),
    "adductor_magnus": handsfield(586, 521, 652),
    "adductor_longus": {
        "target": round(171 * AT_80_KG, 1),
        "range": [round(171 * 0.9, 1), round(171 * AT_80_KG * 1.1, 1)],
        "source": HANDSFIELD.replace(
            "taken at 80 kg (the mean of the references' 75 kg value and the upper end of its range); the "
            "range is the regression's value for 65-85 kg",
            "171 cm3 at 75 kg, x 1.055 to 80 kg as the hamstrings scale; range from 10% below the 75 kg "
            "value to 10% above the 80 kg value, chosen",
        ),
    },
    "vastus_lateralis": quad(WARD_Q["vl"], "vastus lateralis"),
    "vastus_medialis": quad(WARD_Q["vm"], "vastus medialis"),
    "vastus_intermedius": quad(WARD_Q["vi"], "vastus intermedius"),
    "rectus_femoris": quad(WARD_Q["rf"], "rectus femoris"),
    "adductor_brevis": ward(54.6, 24.8, "adductor brevis"),
    "sartorius": ward(78.5, 31.1, "sartorius"),
    "gluteus_maximus": {
        "target": 600.0,
        "range": [450.0, 750.0],
        "source": (
            "chosen: the part of gluteus maximus inside the model (below z = 495 mm), about 55% of the whole "
            "muscle's 1,070 cm3 (ward2009's 547.2 g, scaled like the others to the reference adult at 80 kg): "
            "its lower fibres, the gluteal fold and the insertion on the gluteal tuberosity and the iliotibial "
            "tract; range +/-25% chosen, as the split is an estimate"
        ),
    },
    "gracilis": ward(52.5, 16.7, "gracilis"),
}


def _sec(z: float, hw: float, hd: float) -> dict:
    return {"z_mm": z, "half_width_mm": hw, "half_depth_mm": hd}


def _muscle(
    sid,
    name,
    short,
    origin,
    insertion,
    nerve,
    action,
    description,
    centreline,
    sections,
    source,
    squareness=2.2,
):
    return {
        "id": sid,
        "name": name,
        "short_name": short,
        "kind": "muscle",
        "role": "context",
        "origin": origin,
        "insertion": insertion,
        "innervation": nerve,
        "action": action,
        "description": description,
        "recipe": {
            "type": "packed",
            "squareness": squareness,
            "centreline_mm": centreline,
            "sections": sections,
        },
        "source": source,
    }


PROXIMAL = [
    _muscle(
        "rectus_femoris",
        "Rectus femoris",
        "Rectus fem.",
        "anterior inferior iliac spine and the ilium above the acetabulum",
        "base of the patella, through the quadriceps tendon",
        "femoral nerve",
        "extension of the knee; flexion of the hip",
        "The superficial, two-joint head of the quadriceps in the front of the thigh, over vastus intermedius.",
        [[24, -62, 520], [20, -72, 420], [12, -74, 300], [8, -70, 200], [4, -60, 110], [2, -50, 50]],
        [
            _sec(500, 8, 6),
            _sec(420, 18, 12),
            _sec(300, 25, 14),
            _sec(200, 22, 12),
            _sec(110, 14, 8),
            {"at": 1.0, "half_width_mm": 10, "half_depth_mm": 5},
        ],
        "texts (attachments, superficial to vastus intermedius in the front of the thigh); path and sections chosen",
    ),
    _muscle(
        "adductor_brevis",
        "Adductor brevis",
        "Add. brevis",
        "body and inferior ramus of the pubis",
        "pectineal line and the upper part of the linea aspera",
        "obturator nerve",
        "adduction of the hip",
        "Lies between adductor longus in front and adductor magnus behind, in the upper third of the thigh.",
        [[-58, -18, 500], [-40, -10, 440], [-22, -2, 380], [-10, 4, 320]],
        [
            _sec(490, 14, 8),
            _sec(440, 20, 10),
            _sec(380, 16, 9),
            {"at": 1.0, "half_width_mm": 6, "half_depth_mm": 4},
        ],
        "texts (attachments; between adductor longus and adductor magnus); path and sections chosen",
    ),
    _muscle(
        "iliopsoas",
        "Iliopsoas",
        "Iliopsoas",
        "iliac fossa and the lumbar vertebrae (above the model)",
        "lesser trochanter",
        "femoral nerve and lumbar plexus",
        "flexion of the hip",
        "The part of iliopsoas below the inguinal ligament, in the floor of the femoral triangle lateral to the femoral vessels, down to the lesser trochanter.",
        [[2, -48, 500], [4, -36, 450], [8, -10, 400], [10, 8, 372]],
        [
            _sec(495, 18, 14),
            _sec(450, 16, 12),
            _sec(400, 11, 9),
            {"at": 1.0, "half_width_mm": 5, "half_depth_mm": 4},
        ],
        "texts (insertion on the lesser trochanter, floor of the femoral triangle lateral to the vessels); path and sections chosen; only its lowest part lies in the model",
    ),
    _muscle(
        "pectineus",
        "Pectineus",
        "Pectineus",
        "pectineal line of the pubis",
        "pectineal line of the femur, below the lesser trochanter",
        "femoral nerve (sometimes also obturator)",
        "adduction and flexion of the hip",
        "Flat muscle in the floor of the femoral triangle, medial to iliopsoas and behind the femoral vessels.",
        [[-42, -42, 500], [-28, -24, 440], [-10, 0, 385]],
        [_sec(495, 14, 7), _sec(440, 14, 7), {"at": 1.0, "half_width_mm": 6, "half_depth_mm": 4}],
        "texts (attachments; floor of the femoral triangle between iliopsoas and adductor longus); path and sections chosen",
    ),
    _muscle(
        "quadratus_femoris",
        "Quadratus femoris",
        "Quadr. femoris",
        "lateral border of the ischial tuberosity",
        "quadrate tubercle on the intertrochanteric crest",
        "nerve to quadratus femoris",
        "lateral rotation of the hip",
        "A flat quadrilateral muscle running across from the ischial tuberosity to the back of the femur, in front of (deep to) the sciatic nerve.",
        [[6, 30, 440], [6, 30, 404]],
        [_sec(440, 22, 6), _sec(422, 26, 8), {"at": 1.0, "half_width_mm": 20, "half_depth_mm": 6}],
        "texts (attachments; deep to the sciatic nerve between the tuberosity and the trochanter); its fibres run across the thigh, modelled as a wide level slab; extent chosen",
    ),
    _muscle(
        "gluteus_medius",
        "Gluteus medius and minimus",
        "Glut. med./min.",
        "outer surface of the ilium (above the model)",
        "greater trochanter",
        "superior gluteal nerve",
        "abduction and medial rotation of the hip",
        "The part of the small gluteal muscles that reaches the greater trochanter, lateral and deep to the upper part of gluteus maximus.",
        [[38, 6, 510], [44, 4, 470], [46, 2, 436]],
        [_sec(505, 26, 20), _sec(470, 20, 16), {"at": 1.0, "half_width_mm": 8, "half_depth_mm": 8}],
        "texts (insertion on the greater trochanter); only their lowest part lies in the model; path and sections chosen",
    ),
]

NEW = PROXIMAL + [
    {
        "id": "gastrocnemius_medial_head",
        "name": "Gastrocnemius, medial head",
        "short_name": "Gastroc. med.",
        "kind": "muscle",
        "role": "context",
        "origin": "posterior surface of the medial femoral condyle, above the articular surface",
        "insertion": "calcaneus, through the calcaneal tendon (below the modelled part)",
        "innervation": "tibial nerve",
        "action": "plantar flexion of the ankle; flexion of the knee",
        "description": "The medial lower boundary of the popliteal fossa; only its upper part lies in the model.",
        "recipe": {
            "type": "packed",
            "squareness": 2.2,
            "centreline_mm": [[-24, 30, 18], [-24, 36, -20], [-22, 42, -60], [-20, 46, -100]],
            "sections": [
                _sec(18, 6, 5),
                _sec(-20, 14, 10),
                _sec(-60, 18, 13),
                {"at": 1.0, "half_width_mm": 19, "half_depth_mm": 14},
            ],
        },
        "source": "texts (origin above the medial condyle, lower medial boundary of the popliteal fossa); path and sections chosen to meet the condyle above and fill the back of the knee below the fossa",
    },
    {
        "id": "gastrocnemius_lateral_head",
        "name": "Gastrocnemius, lateral head",
        "short_name": "Gastroc. lat.",
        "kind": "muscle",
        "role": "context",
        "origin": "lateral surface of the lateral femoral condyle",
        "insertion": "calcaneus, through the calcaneal tendon (below the modelled part)",
        "innervation": "tibial nerve",
        "action": "plantar flexion of the ankle; flexion of the knee",
        "description": "The lateral lower boundary of the popliteal fossa, with plantaris; only its upper part lies in the model.",
        "recipe": {
            "type": "packed",
            "squareness": 2.2,
            "centreline_mm": [[26, 28, 15], [25, 34, -20], [21, 40, -60], [18, 44, -100]],
            "sections": [
                _sec(15, 5, 5),
                _sec(-20, 11, 9),
                _sec(-60, 14, 11),
                {"at": 1.0, "half_width_mm": 14, "half_depth_mm": 11},
            ],
        },
        "source": "texts (origin on the lateral condyle, lower lateral boundary of the popliteal fossa, smaller than the medial head: ward2009 masses 62.2 vs 113.5 g); path and sections chosen",
    },
    {
        "id": "popliteal_fat",
        "name": "Fat of the popliteal fossa",
        "short_name": "Popliteal fat",
        "kind": "fat",
        "role": "context",
        "description": "The fat that fills the popliteal fossa around the popliteal vessels and the tibial and common fibular nerves, between the hamstring tendons above and the heads of gastrocnemius below.",
        "recipe": {
            "type": "packed",
            "squareness": 2.0,
            "centreline_mm": [[0, 36, 120], [0, 36, 60], [0, 38, 0], [0, 42, -50], [0, 44, -90]],
            "sections": [
                _sec(120, 4, 4),
                _sec(60, 16, 10),
                _sec(0, 20, 12),
                _sec(-50, 10, 8),
                {"at": 1.0, "half_width_mm": 4, "half_depth_mm": 4},
            ],
        },
        "source": "texts (the fossa is filled with fat around the vessels and nerves; shared/anatomy-references.md); extent chosen: from where the hamstrings diverge (about 120 mm above the epicondyles) to where the heads of gastrocnemius meet",
    },
    {
        "id": "infrapatellar_fat_pad",
        "name": "Infrapatellar fat pad and anterior soft tissue of the knee",
        "short_name": "Ant. knee fat",
        "kind": "fat",
        "role": "context",
        "description": "In front of the knee below the vasti: the infrapatellar fat pad behind the patellar ligament, with the ligament itself and, further down, the front of the leg, which the model does not separate.",
        "recipe": {
            "type": "packed",
            "squareness": 2.0,
            "centreline_mm": [[0, -38, 40], [0, -40, 0], [0, -36, -50], [0, -32, -100]],
            "sections": [
                _sec(40, 6, 4),
                _sec(0, 22, 10),
                _sec(-50, 22, 10),
                {"at": 1.0, "half_width_mm": 20, "half_depth_mm": 10},
            ],
        },
        "source": "texts (the infrapatellar fat pad lies behind the patellar ligament, below the patella); chosen as the filler of the front of the knee below the vasti, which ends the quadriceps in the model",
    },
    {
        "id": "sciatic_fat",
        "name": "Fat around the sciatic nerve",
        "short_name": "Sciatic fat",
        "kind": "fat",
        "role": "context",
        "description": "The sciatic nerve runs in a thin layer of loose fat between adductor magnus in front and the hamstrings behind.",
        "recipe": {"type": "sleeve", "around": "sciatic_nerve", "thickness_mm": 2.5},
        "source": "texts (the nerve lies in the intermuscular plane in loose areolar and fatty tissue); thickness 2.5 mm chosen, a few voxels of the packed volume",
    },
    {
        "id": "common_fibular_fat",
        "name": "Fat around the common fibular nerve",
        "short_name": "Fibular n. fat",
        "kind": "fat",
        "role": "context",
        "description": "The common fibular nerve runs in the fat of the lateral popliteal fossa along the biceps tendon and, round the fibular neck, just under the deep fascia.",
        "recipe": {"type": "sleeve", "around": "common_fibular_nerve", "thickness_mm": 2.0},
        "source": "texts (the nerve lies in the fat of the fossa and is subcutaneous at the fibular neck); thickness 2 mm chosen, a voxel or so of the packed volume",
    },
]


BONES = [
    {
        "id": "hip_bone",
        "name": "Hip bone (ischium and pubis)",
        "short_name": "Hip bone",
        "kind": "bone",
        "role": "context",
        "description": "The part of the right hip bone inside the model: the ischial tuberosity, from which the hamstrings and the ischiocondylar part of adductor magnus arise, the ischial and inferior pubic rami, and the acetabulum round the femoral head.",
        "recipe": {"type": "skeleton", "bone": "hip_bone"},
        "source": "skeleton: MyoLeg's pelvis (myo-sim, Apache-2.0, after rajagopal2016), scaled with the femur to the reference adult (assets/skeleton/skeleton.json)",
    },
    {
        "id": "tibia",
        "name": "Tibia (proximal part)",
        "short_name": "Tibia",
        "kind": "bone",
        "role": "context",
        "description": "The upper end of the tibia: the condyles on which semimembranosus inserts posteromedially and, through the pes anserinus, semitendinosus, gracilis and sartorius on the medial surface.",
        "recipe": {"type": "skeleton", "bone": "tibia"},
        "source": "skeleton: MyoLeg's tibia (myo-sim, Apache-2.0, after rajagopal2016), scaled with the femur (assets/skeleton/skeleton.json)",
    },
    {
        "id": "fibula",
        "name": "Fibula (head and neck)",
        "short_name": "Fibula",
        "kind": "bone",
        "role": "context",
        "description": "The head of the fibula, where biceps femoris inserts; the common fibular nerve winds round its neck.",
        "recipe": {"type": "skeleton", "bone": "fibula"},
        "source": "skeleton: MyoLeg's fibula (myo-sim, Apache-2.0, after rajagopal2016), scaled with the femur (assets/skeleton/skeleton.json)",
    },
]
BONE_LANDMARKS = (
    "ischial_tuberosity",
    "greater_trochanter",
    "lesser_trochanter",
    "adductor_tubercle",
    "medial_epicondyle",
    "lateral_epicondyle",
    "fibular_head",
)


def use_skeleton(doc: dict) -> None:
    skel = json.loads(Path("assets/skeleton/skeleton.json").read_text())
    femur = next(s for s in doc["structures"] if s["id"] == "femur")
    femur["recipe"] = {"type": "skeleton", "bone": "femur"}
    femur["source"] = (
        "skeleton: MyoLeg's right femur (myo-sim, Apache-2.0, after rajagopal2016), placed in the frame by its "
        "epicondyles and mechanical axis and scaled to the reference adult's thigh length "
        "(assets/skeleton/skeleton.json, tools/derive_skeleton.py)"
    )
    at = next(i for i, s in enumerate(doc["structures"]) if s["id"] == "femur") + 1
    have = {s["id"] for s in doc["structures"]}
    doc["structures"][at:at] = [b for b in BONES if b["id"] not in have]
    for lid in BONE_LANDMARKS:
        lm = skel["landmarks"][lid]
        doc["landmarks"][lid]["position_mm"] = [round(v, 1) for v in lm["position_mm"]]
        doc["landmarks"][lid]["source"] = (
            f"skeleton: measured on the {lm['bone'].replace('_', ' ')}: {lm['method']}"
        )


# The envelope of the reference adult, refitted for the packed thigh: the medial and
# lateral half-extents above mid-thigh a little smaller and the fat on the medial,
# anterior and lateral sides thicker, so that what lies inside the deep fascia is what the
# published muscle volumes, the bones and the nerves and vessels fill (the posterior
# extents and posterior fat, which set the depth of the sciatic nerve, are kept).
ENVELOPE = {
    -90: ((54, 50, 46, 60), (8, 6, 4, 8)),
    -20: ((60, 56, 52, 63), (10, 6, 5, 9)),
    40: ((64, 59, 56, 64), (14, 8, 8, 10)),
    120: ((74, 67, 64, 72), (21, 12, 13, 11)),
    215: ((82, 75, 79, 82), (26, 15, 18, 12)),
    300: ((86, 79, 90, 88), (30, 17, 20, 14)),
    370: ((93, 86, 95, 95), (34, 19, 22, 16)),
    420: ((93, 88, 98, 106), (36, 22, 24, 24)),
    495: ((95, 92, 100, 110), (36, 24, 26, 28)),
}
SIDES = ("medial", "lateral", "anterior", "posterior")
SOURCES = {
    "handsfield2014": (
        "Handsfield, Meyer, Hart, Abel & Blemker, J Biomech 2014;47(3):631, 'Relationships of 35 lower limb "
        "muscles to height and body mass quantified using MRI': volumes from the regressions on height x mass, "
        "as computed for a 1.75 m adult at 75 kg (and 65-85 kg) in shared/anatomy-references.md"
    ),
    "rajagopal2016": (
        "Rajagopal, Dembia, DeMers, Delp, Hicks & Delp, IEEE Trans Biomed Eng 2016;63(10):2068, 'Full-body "
        "musculoskeletal model for muscle-driven simulation of human gait' (doi 10.1109/TBME.2016.2586891): the "
        "model the MyoLeg skeleton of myo-sim is derived from"
    ),
    "skeleton": (
        "The bundled skeleton (assets/skeleton/: femur, hip bone, tibia, fibula, landmarks and muscle attachment "
        "points), derived by tools/derive_skeleton.py from the MyoLeg model of the PyPI package myo-sim "
        "(Apache-2.0; notice in assets/skeleton/NOTICE), after rajagopal2016"
    ),
}


def envelope(doc: dict) -> None:
    limb = doc["limb"]
    for sec in limb["sections"]:
        ext, fat = ENVELOPE[sec["z_mm"]]
        sec["half_extent_mm"] = dict(zip(SIDES, ext, strict=True))
        sec["fat_mm"] = dict(zip(SIDES, fat, strict=True))
    limb["source"] += (
        ". Refitted for the packed thigh (tools/pack_recipes.py): above mid-thigh the medial and lateral "
        "half-extents 5-12% smaller and the medial, anterior and lateral fat 3-16 mm thicker than first chosen "
        "(the proximal medial thigh and the buttock carry the thickest fat in MRI sections), so that the space "
        "inside the deep fascia is what the published muscle volumes (handsfield2014, ward2009), the bones and "
        "the nerves and vessels fill; posterior extents and posterior fat unchanged (chosen)"
    )


def _old_shaft(doc: dict):
    import numpy as np

    from thighmap.anatomy import shapes

    femur = next(s for s in doc["structures"] if s["id"] == "femur")
    pts, _ = shapes.smooth_centreline(np.array(femur["recipe"]["parts"][0]["points_mm"], float), 2.0)
    order = np.argsort(pts[:, 2])
    return pts[order, 2], pts[order, :2]


def soft_tissue_shift(doc: dict):
    """The displacement (x, y) by level that keeps the soft tissue where it lay round the
    generated femur's shaft now that the skeleton's shaft replaces it: the difference of
    the two shafts' centres, reaching full size at z = 100 mm (zero at the epicondyles,
    where both femurs share their condyles) and held at its z = 280 mm value above, where
    the real shaft turns back toward the trochanters and the hip bone fixes the soft tissue."""
    import numpy as np

    oz, oxy = _old_shaft(doc)
    new = np.array(
        json.loads(Path("assets/skeleton/skeleton.json").read_text())["femur_shaft_centreline_mm"][
            "points_mm"
        ]
    )

    skel = json.loads(Path("assets/skeleton/skeleton.json").read_text())
    old_it = np.array(next(iter([doc["landmarks"]["ischial_tuberosity"]["position_mm"]])), float)
    new_it = np.array(skel["landmarks"]["ischial_tuberosity"]["position_mm"], float)
    at_tuberosity = (new_it - old_it)[:2]

    def delta(z: float) -> np.ndarray:
        zc = min(max(z, 100.0), 280.0)
        n = np.array([np.interp(zc, new[:, 2], new[:, k]) for k in (0, 1)])
        o = np.array([np.interp(zc, oz, oxy[:, k]) for k in (0, 1)])
        d = (n - o) * min(max(z / 100.0, 0.0), 1.0)
        # toward the hip, the soft tissue follows the hip bone: the shift blends into the
        # ischial tuberosity's own move between z = 280 mm and the tuberosity
        t = min(max((z - 280.0) / (new_it[2] - 280.0), 0.0), 1.0)
        return d * (1 - t) + at_tuberosity * t

    return delta


def move_soft_tissue(doc: dict) -> None:
    delta = soft_tissue_shift(doc)

    def moved(p: list) -> list:
        d = delta(float(p[2]))
        return [round(p[0] + d[0], 1), round(p[1] + d[1], 1), p[2]]

    for sec in doc["limb"]["sections"]:
        d = delta(float(sec["z_mm"]))
        sec["centre_mm"] = [round(sec["centre_mm"][0] + d[0], 1), round(sec["centre_mm"][1] + d[1], 1)]
    for st in doc["structures"]:
        rec = st["recipe"]
        if rec["type"] in ("packed", "tube", "loft"):
            rec["centreline_mm"] = [moved(p) for p in rec["centreline_mm"]]
    for lid in ("gluteal_fold", "popliteal_crease", "sciatic_bifurcation", "adductor_hiatus"):
        doc["landmarks"][lid]["position_mm"] = moved(doc["landmarks"][lid]["position_mm"])
    for tp in doc["trigger_points"]:
        tp["position_mm"] = moved(tp["position_mm"])


def _set_path(
    doc: dict, sid: str, points: list, *, above: float | None = None, below: float | None = None
) -> None:
    """Replace a recipe's centreline points above (or below) a level by `points`."""
    rec = next(s for s in doc["structures"] if s["id"] == sid)["recipe"]
    keep = rec["centreline_mm"]
    if above is not None:
        keep = [p for p in keep if p[2] < above]
        rec["centreline_mm"] = points + keep
    elif below is not None:
        keep = [p for p in keep if p[2] > below]
        rec["centreline_mm"] = keep + points
    else:
        rec["centreline_mm"] = points


def attach_to_skeleton(doc: dict) -> None:
    """Paths re-drawn where the skeleton moved what they attach to or pass (chosen, to
    the texts' relations; see each structure's source): the hamstrings' origins on the
    tuberosity (semitendinosus and the long head from its medial impression,
    semimembranosus from its lateral one, deep to them), the biceps tendon to the fibular
    head, the common fibular nerve along the tendon's medial border and round the fibular
    neck, the sciatic nerve behind the lesser trochanter, adductor magnus to the
    adductor tubercle."""
    _set_path(
        doc,
        "semitendinosus",
        [[-25, 54, 388], [-26, 62, 378], [-30, 66, 360], [-28, 66, 320], [-24, 62, 280]],
        above=270,
    )
    _set_path(
        doc, "semimembranosus", [[-8, 44, 392], [-6, 38, 382], [-8, 42, 330], [-14, 40, 270]], above=260
    )
    sm = next(s for s in doc["structures"] if s["id"] == "semimembranosus")["recipe"]["sections"]
    for sec in sm:
        if sec.get("z_mm", 0) >= 320:
            sec["half_width_mm"], sec["half_depth_mm"] = 5, 2.5
        if sec.get("z_mm", 0) == 270:
            sec["half_width_mm"], sec["half_depth_mm"] = 8, 4
        if sec.get("z_mm", 0) == 215:
            sec["half_width_mm"], sec["half_depth_mm"] = 16, 9
    _set_path(
        doc,
        "biceps_femoris_long_head",
        [[-19, 56, 388], [-18, 63, 378], [-20, 68, 360], [-16, 68, 330], [-4, 66, 290], [14, 57, 250]],
        above=240,
    )
    st = next(s for s in doc["structures"] if s["id"] == "semitendinosus")["recipe"]["centreline_mm"]
    for p in st:
        if 60 <= p[2] <= 170:
            p[0] = round(p[0] - 4.0, 1)
    _set_path(doc, "biceps_femoris_long_head", [[40, 32, 0], [41, 30, -30], [39, 26, -52]], below=30)
    _set_path(doc, "gastrocnemius_lateral_head", [[22, 26, 15], [22, 31, -20], [19, 38, -60], [16, 42, -100]])
    _set_path(doc, "biceps_femoris_short_head", [[37, 26, 10], [37, 24, -40]], below=20)
    _set_path(
        doc,
        "common_fibular_nerve",
        [
            [34, 32, 10],
            [37, 30, 0],
            [38, 28, -10],
            [39, 29, -30],
            [41, 29, -50],
            [44, 22, -66],
            [44, 10, -80],
            [42, -2, -90],
        ],
        below=20,
    )
    _set_path(
        doc,
        "sciatic_nerve",
        [
            [12, 46, 470],
            [6, 42, 420],
            [0, 37, 385],
            [-1, 34, 370],
            [8, 37, 345],
            [14, 36, 310],
            [16, 33, 280],
        ],
        above=270,
    )
    _set_path(doc, "adductor_magnus", [[-30, -20, 90], [-33, -16, 55], [-33.5, -8, 16]], below=110)
    # the tendons to their insertions on the skeleton's tibia and fibula
    for sid, pts, below in (
        ("semimembranosus", [[-25, 24, -30], [-22, 18, -40]], -25),
        ("semitendinosus", [[-30, 0, -50], [-18, -12, -68]], -45),
        ("gracilis", [[-32, -2, -48], [-19, -8, -64]], -45),
        ("sartorius", [[-30, -8, -50], [-17, -17, -72]], -45),
        ("biceps_femoris_long_head", [[38, 26, -40], [35, 22, -58]], -35),
        ("biceps_femoris_short_head", [[36, 24, -35], [34, 23, -50]], -30),
    ):
        _set_path(doc, sid, pts, below=below)
    cfn = next(s for s in doc["structures"] if s["id"] == "common_fibular_nerve")
    for p in cfn["recipe"]["centreline_mm"]:
        if p[2] == 28:
            p[0], p[1], p[2] = 18.0, 36.0, 32
    cfn["recipe"]["radius"] = {"at": [0.0, 0.75, 1.0], "mm": [3.0, 2.6, 2.3]}
    cfn["radius_source"] = cfn["radius_source"].replace(
        "3.0 mm at the bifurcation tapering to 2.4 mm at the fibular neck",
        "3.0 mm at the bifurcation tapering to 2.6 mm at the fibular head and 2.3 mm round the fibular neck",
    )


def main() -> None:
    doc = json.loads(DOC.read_text())
    for st in doc["structures"]:
        rec = st["recipe"]
        if rec.get("type") != "loft":
            continue
        rec["type"] = "packed"
        rec.pop("segments", None)
        if st["id"] in VOLUMES:
            rec["volume_cm3"] = VOLUMES[st["id"]]
        st.pop("size_checks", None)
    have = {s["id"] for s in doc["structures"]}
    at = next(i for i, s in enumerate(doc["structures"]) if s["id"] == "sciatic_nerve")
    doc["structures"][at:at] = [s for s in NEW if s["id"] not in have]
    for st in doc["structures"]:
        if st["id"] in VOLUMES and st["recipe"]["type"] == "packed":
            st["recipe"]["volume_cm3"] = VOLUMES[st["id"]]
    envelope(doc)
    move_soft_tissue(doc)
    use_skeleton(doc)
    attach_to_skeleton(doc)
    doc["sources"].update({k: v for k, v in SOURCES.items() if k not in doc["sources"]})
    doc["packing"] = {
        "spacing_mm": [1.5, 1.5, 3.0],
        "source": (
            "chosen: 1.5 mm across and 3 mm along the thigh, fine enough for the thinnest muscles and fat "
            "layers drawn (5-8 mm), coarse enough to build in seconds; anatomy/packing.py"
        ),
    }
    DOC.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
