"""`thighmap --self-test`: is this installation able to do its job? (no Qt)

Loads the atlas and its meshes, checks every bundled trigger point's recommended
technique (none may come out danger), checks one needle straight onto the sciatic
nerve (it must be danger), checks the techniques again as one batch (the compiled batch
path must give the single checks' figures), and renders one frame off screen (it must
not be blank).
Prints one line per check and returns 0 when all pass, 1 otherwise.
"""

from __future__ import annotations

import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

from thighmap import __version__


def _atlas_loads() -> str:
    from thighmap.anatomy.atlas import load_atlas

    atlas = load_atlas()
    triangles = sum(len(atlas.mesh(sid).faces) for sid in atlas.structures)
    tps = len(atlas.trigger_points)
    return f"{len(atlas.structures)} structures, {triangles} triangles, {tps} trigger points"


def _techniques_are_never_danger() -> str:
    from thighmap.anatomy.atlas import load_atlas
    from thighmap.safety.engine import SafetyModel

    model = SafetyModel.for_atlas(load_atlas())
    statuses = {}
    for tp in model.atlas.trigger_points:
        statuses[tp] = model.check_needle(model.needle_from_trigger_point(tp)).status
    bad = [tp for tp, s in statuses.items() if s == "danger"]
    if bad:
        raise AssertionError(f"recommended technique reaches a danger zone: {', '.join(bad)}")
    counts = {s: list(statuses.values()).count(s) for s in ("safe", "caution")}
    return f"{counts['safe']} safe, {counts['caution']} caution, none danger"


def _needle_onto_the_nerve_is_danger() -> str:
    from thighmap.anatomy.atlas import load_atlas
    from thighmap.planning import Needle
    from thighmap.safety.engine import SafetyModel

    model = SafetyModel.for_atlas(load_atlas())
    tube = model.atlas.tube("sciatic_nerve")
    centre = tube.centres_mm[len(tube.centres_mm) // 2]
    entry, inward = model.skin_surface_frame(centre + np.array([0.0, 150.0, 0.0]))
    depth = float(np.linalg.norm(centre - entry))
    report = model.check_needle(Needle("selftest", entry, inward, depth, max(75.0, depth + 5.0), 0.25))
    if report.status != "danger":
        raise AssertionError(f"a needle onto the sciatic nerve came out {report.status}")
    return f"danger as it must be (clearance {report.clearances_mm['sciatic_nerve']:.1f} mm)"


def _batch_agrees_with_single_checks() -> str:
    from thighmap.anatomy.atlas import load_atlas
    from thighmap.safety.engine import SafetyModel

    model = SafetyModel.for_atlas(load_atlas())
    needles = [model.needle_from_trigger_point(tp) for tp in model.atlas.trigger_points]
    batch = model.check_many(
        np.array([n.entry_mm for n in needles]),
        np.array([n.direction for n in needles]),
        np.array([n.depth_mm for n in needles]),
        np.array([n.gauge_mm for n in needles]),
        np.array([n.needle_length_mm for n in needles]),
    )
    worst = 0.0
    for i, needle in enumerate(needles):
        report = model.check_needle(needle)
        assert report.nearest_danger is not None
        worst = max(
            worst,
            abs(batch.nearest_clearance_mm[i] - report.nearest_danger.clearance_mm),
            abs(batch.max_safe_depth_mm[i] - report.max_safe_depth_mm),
        )
    if worst > 1e-9:
        raise AssertionError(f"batch and single checks differ by {worst:.3g} mm")
    return f"{len(needles)} needles, largest difference {worst:.1g} mm"


def _renders_a_frame() -> str:
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkIOImage import vtkPNGReader

    from thighmap.anatomy.atlas import load_atlas
    from thighmap.viz.render import render_atlas_png

    with tempfile.TemporaryDirectory() as tmp:
        png = render_atlas_png(load_atlas(), Path(tmp) / "frame.png", size=(300, 400))
        reader = vtkPNGReader()
        reader.SetFileName(str(png))
        reader.Update()
        pixels = vtk_to_numpy(reader.GetOutput().GetPointData().GetScalars())[:, :3].astype(float)
    if pixels.std() < 10.0:
        raise AssertionError("the off-screen frame is blank")
    return f"300x400 frame, pixel spread {pixels.std():.0f}"


CHECKS: tuple[tuple[str, Callable[[], str]], ...] = (
    ("atlas and meshes load", _atlas_loads),
    ("bundled techniques are never danger", _techniques_are_never_danger),
    ("a needle onto the sciatic nerve is danger", _needle_onto_the_nerve_is_danger),
    ("batch and single checks agree", _batch_agrees_with_single_checks),
    ("off-screen rendering", _renders_a_frame),
)


def run_self_test(write: Callable[[str], None] = print) -> int:
    write(f"thighmap {__version__} self-test")
    failed = 0
    for name, check in CHECKS:
        start = time.perf_counter()
        try:
            detail = check()
        except Exception as exc:  # report every failure, never a bare traceback
            failed += 1
            last = traceback.extract_tb(exc.__traceback__)[-1]
            write(f"FAIL  {name}: {exc} ({Path(last.filename).name}:{last.lineno})")
            continue
        write(f"ok    {name}: {detail} ({time.perf_counter() - start:.1f} s)")
    write("self-test passed" if not failed else f"self-test FAILED: {failed} of {len(CHECKS)} checks")
    return 0 if not failed else 1
