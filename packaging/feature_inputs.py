"""Write the inputs that packaging/run_features.sh feeds to a built bundle.

    python packaging/feature_inputs.py FOLDER

FOLDER gets a plan with two demonstration steps (demo.thighplan.json) and atlas import
mappings whose sciatic nerve is an STL, PLY, GLB or VTP file and popliteal artery an OBJ
(mapping-stl.json, ...), in millimetres, landmarks at the atlas's own places.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyvista as pv
import trimesh

from thighmap.anatomy.atlas import load_atlas
from thighmap.planning import load_plan, save_plan
from thighmap.planning.demo import Camera, DemoStep, with_steps

ROOT = Path(__file__).resolve().parents[1]
LANDMARKS = (
    "ischial_tuberosity",
    "greater_trochanter",
    "adductor_tubercle",
    "lateral_epicondyle",
    "fibular_head",
)
POSTERIOR = Camera((0.0, 900.0, 200.0), (0.0, 0.0, 200.0), (0.0, 0.0, 1.0), 30.0)
LATERAL = Camera((-900.0, 0.0, 150.0), (10.0, 5.0, 150.0), (0.0, 0.0, 1.0), 25.0)


def write_inputs(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    plan = load_plan(ROOT / "examples" / "nct02516137-sites.thighplan.json")
    steps = [
        DemoStep("The hamstrings", POSTERIOR, "Semitendinosus lies medial.", hidden=("subcutaneous_fat",)),
        DemoStep(
            "Sciatic nerve", LATERAL, "Deep to the long head.", opacity={"skin": 0.05}, danger_zones=False
        ),
    ]
    save_plan(with_steps(plan, steps), out / "demo.thighplan.json")

    atlas = load_atlas()
    nerve, artery = atlas.mesh("sciatic_nerve"), atlas.mesh("popliteal_artery")
    trimesh.Trimesh(artery.vertices, artery.faces, process=False).export(out / "artery.obj")
    nerve_mesh = trimesh.Trimesh(nerve.vertices, nerve.faces, process=False)
    for ext in ("stl", "ply", "glb"):
        nerve_mesh.export(out / f"nerve.{ext}")
    pv.wrap(nerve_mesh).save(out / "nerve.vtp")
    for ext in ("stl", "ply", "glb", "vtp"):
        mapping = {
            "format": "thighmap-import",
            "version": 1,
            "units": "mm",
            "fit": "rigid",
            "landmarks": [{"id": lid, "point": atlas.landmark(lid).tolist()} for lid in LANDMARKS],
            "structures": [
                {"file": f"nerve.{ext}", "id": "sciatic_nerve", "kind": "nerve", "role": "danger"},
                {"file": "artery.obj", "id": "popliteal_artery", "kind": "artery", "role": "danger"},
            ],
        }
        (out / f"mapping-{ext}.json").write_text(json.dumps(mapping), encoding="utf-8")


if __name__ == "__main__":
    write_inputs(Path(sys.argv[1]))
