"""The `thighmap` command: the desktop program by default, plus headless subcommands.

    thighmap [PLAN]                 open the program (optionally on a plan)
    thighmap check PLAN [--json]    check a plan; exit 0 safe, 1 caution, 2 danger, 3 bad input
    thighmap check --trigger-point ID
    thighmap atlas build | info | trigger-points
    thighmap atlas import MAPPING -o FOLDER [--force]
    thighmap render [PLAN] -o FILE.png [--approach TARGET | --depth-map]
    thighmap report PLAN -o FILE.pdf
    thighmap demo PLAN -o FOLDER [--gif FILE.gif]
    thighmap export [PLAN] -o FOLDER [--space LPS|RAS]   for 3D Slicer and other medical software
    thighmap schema                 the plan file's JSON Schema
    thighmap --self-test            check this installation

Bad input never produces a traceback: it is reported on stderr with exit code 3, and so
is a usage error or any unexpected failure (one line), so `check` exits only with 0-3.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import NoReturn

from thighmap import NOT_A_MEDICAL_DEVICE

EXIT_SAFE, EXIT_CAUTION, EXIT_DANGER, EXIT_BAD_INPUT = 0, 1, 2, 3
STATUS_EXIT = {"safe": EXIT_SAFE, "caution": EXIT_CAUTION, "danger": EXIT_DANGER}
SUBCOMMANDS = ("check", "atlas", "render", "report", "demo", "export", "schema", "gui")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits 3 (unusable input), never 2 (which `check`
    uses for "danger")."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {_one_line(message)}\n")


MAX_MESSAGE_CHARS = 2000  # an unexpected error is reported in one line of at most this


def _one_line(text: str) -> str:
    """``text`` on one line, unprintable characters escaped, cut to a readable length."""
    from thighmap.planning.planfile import printable

    return printable(" ".join(str(text).split()), MAX_MESSAGE_CHARS)


class _Version(argparse.Action):
    """--version, reading the version only when asked (see thighmap.__getattr__)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)  # type: ignore[arg-type]

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        import thighmap

        print(f"thighmap {thighmap.__version__}")  # on stdout, as argparse's version action
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="thighmap",
        description=(
            "3D posterior-thigh atlas and dry-needling insertion checker. "
            "Run without a subcommand to open the desktop program. " + NOT_A_MEDICAL_DEVICE
        ),
    )
    p.add_argument("--version", action=_Version, help="show the program's version number and exit")
    p.add_argument(
        "--atlas",
        type=Path,
        metavar="PATH",
        help="use another atlas (a landmarks.json or its folder, e.g. one made by 'atlas import')",
    )
    p.add_argument(
        "--self-test",
        action="store_true",
        help="check this installation (atlas, safety engine, off-screen rendering) and exit 0 or 1",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    g = sub.add_parser("gui", help="open the desktop program (the default)")
    g.add_argument("plan", nargs="?", help="a .thighplan.json file to open")

    c = sub.add_parser(
        "check",
        help="check a plan's needles against the danger zones and caution structures",
        description="Exit codes: 0 all safe, 1 at least one caution, 2 at least one danger, "
        "3 the input could not be used.",
    )
    c.add_argument("plan", nargs="?", help="plan file (.thighplan.json)")
    c.add_argument("--json", action="store_true", help="print the report as one JSON document")
    c.add_argument(
        "--trigger-point",
        metavar="ID",
        help="check a bundled trigger point's recommended technique on the reference adult",
    )

    a = sub.add_parser("atlas", help="build or describe the bundled atlas")
    asub = a.add_subparsers(dest="atlas_command", metavar="ACTION")
    b = asub.add_parser(
        "build", help="regenerate the atlas's meshes/ from its landmarks.json (in a checkout: assets/)"
    )
    b.add_argument("--out", type=Path, help="write the meshes here instead of the atlas's meshes/ folder")
    i = asub.add_parser("info", help="list every structure: kind, role, volume, bounding box")
    i.add_argument("--json", action="store_true")
    asub.add_parser("trigger-points", help="list the bundled trigger points")
    imp = asub.add_parser(
        "import",
        help="bring in surfaces (STL, OBJ, PLY, VTP, glTF) with a mapping file; writes a new atlas folder",
    )
    imp.add_argument("mapping", type=Path, help="the mapping file (see docs/reference.md)")
    imp.add_argument("-o", "--output", required=True, type=Path, help="folder for the new atlas")
    imp.add_argument(
        "--force", action="store_true", help="replace the atlas in an existing, non-empty folder"
    )

    rep = sub.add_parser(
        "report",
        help="check a plan and write the PDF report for the clinician's file",
        description="Exit codes as for check: 0 all safe, 1 caution, 2 danger, 3 bad input.",
    )
    rep.add_argument("plan", help="plan file (.thighplan.json)")
    rep.add_argument("-o", "--output", required=True, type=Path, help="PDF file to write")

    sub.add_parser("schema", help="print the JSON Schema of the plan file (version 1)")

    d = sub.add_parser(
        "demo",
        help="export a plan's demonstration steps as PNG images (and an animated GIF)",
    )
    d.add_argument("plan", help="plan file with recorded demonstration steps")
    d.add_argument("-o", "--output", required=True, type=Path, help="folder for step-01.png, step-02.png, …")
    d.add_argument("--gif", type=Path, help="also write an animated GIF with smooth camera moves")
    d.add_argument("--size", default="960x720", help="image size WIDTHxHEIGHT (default 960x720)")

    x = sub.add_parser(
        "export",
        help="write the (fitted, sided) atlas and a plan's needles for 3D Slicer: surfaces, a NIfTI "
        "label volume, Markups files",
        description="Writes FOLDER/thighmap-export.json (the index), surfaces/*.vtp, labels.nii.gz with "
        "labels.ctbl, landmarks and trigger points, and needles/*.mrk.json with each needle's check status. "
        "Exit 0 when written, 3 when the input or the folder cannot be used (nothing is left behind).",
    )
    x.add_argument("plan", nargs="?", help="plan file (.thighplan.json); without it, the reference adult")
    x.add_argument(
        "-o", "--output", required=True, type=Path, metavar="FOLDER", help="folder to write (new or empty)"
    )
    x.add_argument("--space", default="LPS", metavar="LPS|RAS", help="coordinates of the files (default LPS)")
    x.add_argument("--side", metavar="right|left", help="thigh side without a plan (default right)")
    x.add_argument("--no-volume", action="store_true", help="skip the NIfTI label volume")
    x.add_argument("--spacing", default="1", metavar="MM", help="label volume voxel size, 0.5-10 (default 1)")
    x.add_argument("--force", action="store_true", help="replace an earlier export in FOLDER")

    r = sub.add_parser("render", help="draw the atlas (and a plan's needles) off screen to a PNG")
    r.add_argument("plan", nargs="?", help="optional plan whose needles are drawn")
    r.add_argument("-o", "--output", required=True, type=Path, help="PNG file to write")
    r.add_argument(
        "--view",
        default="posterior",
        choices=[
            "posterior",
            "anterior",
            "lateral",
            "medial",
            "axial_from_below",
            "axial_from_above",
        ],
    )
    r.add_argument("--size", default="900x1200", help="image size WIDTHxHEIGHT (default 900x1200)")
    r.add_argument("--hide", default="", help="comma-separated structure ids to hide")
    maps = r.add_mutually_exclusive_group()
    maps.add_argument(
        "--approach",
        metavar="TARGET",
        help="colour the skin by the clearance of the straight path to TARGET "
        "(a trigger point id, or a point 'x,y,z' in mm) and mark the best entry",
    )
    maps.add_argument(
        "--depth-map",
        action="store_true",
        help="colour the skin by the maximum safe depth of a needle along the inward normal",
    )
    r.add_argument(
        "--needle-length",
        type=float,
        default=75.0,
        metavar="MM",
        help="needle length for --depth-map (default 75 mm)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _safe_stdio()
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        # no screen: render off screen through EGL straight away (VTK would first try X
        # and print a warning about it)
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    # `thighmap PLAN` opens the program on a plan.
    if argv and not argv[0].startswith("-") and argv[0] not in SUBCOMMANDS:
        argv = ["gui", *argv]
    args = _parser().parse_args(argv)
    if args.self_test:
        from thighmap.selftest import run_self_test

        return run_self_test()
    return guarded(_dispatch, args)


def _safe_stdio() -> None:
    """Text that cannot be encoded (a lone surrogate in an id, a terminal without UTF-8)
    is written as backslash escapes instead of raising UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if callable(reconfigure):
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # detached or closed
                pass


def guarded(action: Callable[..., int], *args: object) -> int:
    """Run a subcommand as :func:`main` does: its exit code, or 3 with a one-line message
    on stderr for anything unexpected (never a traceback, never exit 1, which `check`
    uses for "caution")."""
    try:
        code = action(*args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader of our output went away (`thighmap check P | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except MemoryError:
        return _fail("out of memory (is the input far larger than a plan should be?)")
    except Exception as exc:
        return _fail(
            f"internal error, the input could not be used: {type(exc).__name__}: {_one_line(str(exc))} "
            "(please report this with the file that caused it)"
        )
    return code if isinstance(code, int) and 0 <= code <= 255 else EXIT_BAD_INPUT


def _dispatch(args: argparse.Namespace) -> int:
    if args.command in (None, "gui"):
        return _gui(args)
    if args.command == "check":
        return _check(args)
    if args.command == "atlas":
        return _atlas(args)
    if args.command == "render":
        return _render(args)
    if args.command == "report":
        return _report(args)
    if args.command == "demo":
        return _demo(args)
    if args.command == "export":
        return _export(args)
    if args.command == "schema":
        from thighmap.planning.schema import plan_schema

        print(json.dumps(plan_schema(), indent=2))
    return 0


MAX_MESSAGE_LINES = 60  # a refusal lists at most this many lines (PlanError lists 50 problems)


def _fail(message: str) -> int:
    """Say what is wrong on stderr (bounded: lines escaped and cut, at most
    MAX_MESSAGE_LINES of them) and return the exit code for unusable input."""
    from thighmap.planning.planfile import printable

    lines = str(message).splitlines() or [""]
    shown = [printable(line, MAX_MESSAGE_CHARS) for line in lines[:MAX_MESSAGE_LINES]]
    if len(lines) > MAX_MESSAGE_LINES:
        shown.append(f"… and {len(lines) - MAX_MESSAGE_LINES} more line(s)")
    print("thighmap: " + "\n".join(shown), file=sys.stderr)
    return EXIT_BAD_INPUT


def _gui(args: argparse.Namespace) -> int:
    from thighmap.gui.app import run

    atlas = None
    if getattr(args, "atlas", None) is not None:
        atlas, err = _load_atlas_or_fail(args)
        if atlas is None:
            return _fail(err or "cannot load the atlas")
    return run(getattr(args, "plan", None), atlas=atlas)


def _load_atlas_or_fail(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The atlas of --atlas (a landmarks.json or its folder), else the bundled one."""
    from thighmap.anatomy.atlas import AtlasError, load_atlas

    path = getattr(args, "atlas", None)
    if path is not None and Path(path).is_dir():
        path = Path(path) / "landmarks.json"
    try:
        return load_atlas(path), None
    except AtlasError as exc:
        return None, str(exc)


def _load_plan(path: str, atlas):  # type: ignore[no-untyped-def]
    """(plan, model) to check it against, or the exit code after saying what is wrong."""
    from thighmap.planning import PlanError
    from thighmap.safety.engine import load_plan_for_checking

    try:
        return load_plan_for_checking(path, atlas)
    except PlanError as exc:
        print(str(exc), file=sys.stderr)  # bounded: PlanError lists at most 50 problems
        return EXIT_BAD_INPUT
    except ValueError as exc:
        return _fail(f"{path}: field 'patient': cannot fit the atlas to this profile: {exc}")


def _say_if_compiling() -> None:
    """On a machine's first run the safety kernels compile (about half a minute): say so
    on stderr rather than sit silent, and compile them all, so that later runs load them
    at once (compiled ahead of time into the user's cache folder where a C compiler is
    at hand, else from numba's cache)."""
    from thighmap.safety import kernels

    message = kernels.first_run_message()
    if message is None:
        return
    print(f"thighmap: {message}", file=sys.stderr, flush=True)
    problem = kernels.prepare()
    if problem is not None:
        print(
            f"thighmap: could not compile the safety kernels ahead of time ({problem}); "
            "numba compiles them instead and keeps them in its cache",
            file=sys.stderr,
            flush=True,
        )


def _check(args: argparse.Namespace) -> int:
    from thighmap.safety.engine import SafetyModel

    atlas, err = _load_atlas_or_fail(args)
    if atlas is None:
        return _fail(err or "cannot load the atlas")
    _say_if_compiling()
    if args.trigger_point:
        if args.plan:
            return _fail("give either a plan file or --trigger-point, not both")
        if args.trigger_point not in atlas.trigger_points:
            known = ", ".join(sorted(atlas.trigger_points))
            return _fail(f"unknown trigger point {args.trigger_point!r}; known: {known}")
        model = SafetyModel.for_atlas(atlas)
        needle = model.needle_from_trigger_point(args.trigger_point, args.trigger_point)
        from thighmap.safety.report import PlanReport

        report = PlanReport(None, "right", [model.check_needle(needle)])
        pieces = iter([json.dumps(report.to_json(), indent=2) if args.json else report.to_text()])
        status = report.status
    else:
        if not args.plan:
            return _fail("check needs a plan file or --trigger-point ID")
        return check_plan_file(args.plan, atlas, as_json=args.json)
    return _write_report(pieces, status)


def check_plan_file(path: str, atlas, *, as_json: bool = False) -> int:  # type: ignore[no-untyped-def]
    """`thighmap check PATH [--json]` once the atlas is loaded: prints the report (or
    says on stderr why the file cannot be used) and returns the exit code, 0-3. Guarded
    as by :func:`main` (no exception escapes), so tests can run it in-process."""

    def run() -> int:
        import gc

        from thighmap.safety import rules
        from thighmap.safety.prefetch import check_needles
        from thighmap.safety.rendering import render_plan_report

        # a large plan makes millions of small objects and almost no reference cycles:
        # the cycle collector's passes over them would cost more than they free
        collecting = gc.isenabled()
        gc.disable()
        try:
            loaded = _load_plan(path, atlas)
            if isinstance(loaded, int):
                return loaded
            plan, model = loaded
            # each needle's report rendered as it is checked (the same text as
            # model.check_plan(plan).to_text() or its JSON, in a fraction of the memory)
            pieces, status = render_plan_report(
                check_needles(model, plan.needles, plan.contraindications),
                plan_path=str(path),
                side=plan.side,
                patient_fitted=model.atlas.fitted,
                as_json=as_json,
                findings=rules.contraindication_findings(model.atlas.rules, plan.contraindications),
            )
            return _write_report(pieces, status)
        finally:
            if collecting:
                gc.enable()

    return guarded(run)


def _write_report(pieces: Iterable[str], status: str) -> int:
    try:
        for piece in pieces:  # written piece by piece: a large plan's report is never one string
            sys.stdout.write(piece)
        sys.stdout.write("\n")
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away: the exit code still tells the status
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return STATUS_EXIT[status]


def _atlas(args: argparse.Namespace) -> int:
    from thighmap import paths
    from thighmap.anatomy import build

    atlas, err = _load_atlas_or_fail(args)
    if atlas is None:
        return _fail(err or "cannot load the atlas")
    if args.atlas_command == "build":
        out = args.out
        if out is None:  # beside the atlas that was read: --atlas's folder, else the default one
            where = paths.atlas_location()
            if args.atlas is None and not where.writable:
                return _fail(
                    f"atlas build: the atlas of an installed thighmap ({where.directory}) is part of "
                    "the program and is not rewritten; write the surfaces elsewhere with --out DIR"
                )
            out = atlas.meshes_dir or paths.meshes_dir()
        meshes = build.build_all(atlas)
        build.write_all(meshes, out)
        total = sum(m.n_triangles for m in meshes.values())
        print(f"wrote {len(meshes)} surfaces ({total} triangles) to {out}")
        return 0
    if args.atlas_command == "info":
        from thighmap.anatomy.describe import describe_atlas

        rows = describe_atlas(atlas)
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            print(f"{atlas.document.get('title', 'atlas')} ({atlas.path})")
            print(
                f"{'structure':30s} {'kind':7s} {'role':8s} {'volume cm3':>10s}  bounding box mm (min -> max)"
            )
            for r in rows:
                lo, hi = r["bounds_mm"]
                box = f"[{lo[0]:6.1f} {lo[1]:6.1f} {lo[2]:6.1f}] -> [{hi[0]:6.1f} {hi[1]:6.1f} {hi[2]:6.1f}]"
                print(f"{r['id']:30s} {r['kind']:7s} {r['role']:8s} {r['volume_cm3']:10.1f}  {box}")
            print(f"{len(rows)} structures, {sum(r['triangles'] for r in rows)} triangles")
        return 0
    if args.atlas_command == "import":
        from thighmap.anatomy.atlas import AtlasError
        from thighmap.anatomy.importer import import_atlas

        try:
            result = import_atlas(args.mapping, args.output, base=atlas, force=args.force)
        except AtlasError as exc:
            return _fail(str(exc))
        print(f"imported {', '.join(result.structures)} into {result.atlas_path}")
        print(
            f"{result.fit} fit, scale {result.scale:.4f}: landmark residual RMS {result.rms_mm:.3f} mm, "
            f"max {result.max_mm:.3f} mm"
        )
        for lid, r in result.residuals_mm.items():
            print(f"  {lid:24s} {r:7.3f} mm")
        print(f"use it with: thighmap --atlas {args.output} check PLAN")
        return 0
    if args.atlas_command == "trigger-points":
        for tp in atlas.trigger_points.values():
            lo, hi = tp.technique.depth_range_mm
            length = tp.technique.needle_length_mm
            print(f"{tp.id:32s} {tp.name}  (depth {lo:.0f}-{hi:.0f} mm, {length:.0f} mm needle)")
        return 0
    print("usage: thighmap atlas {build,info,trigger-points,import}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _report(args: argparse.Namespace) -> int:
    from thighmap.report import write_plan_report

    atlas, err = _load_atlas_or_fail(args)
    if atlas is None:
        return _fail(err or "cannot load the atlas")
    _say_if_compiling()
    loaded = _load_plan(args.plan, atlas)
    if isinstance(loaded, int):
        return loaded
    plan, model = loaded
    report = model.check_plan(plan, plan_path=str(args.plan))
    try:
        out = write_plan_report(plan, model, args.output, plan_path=str(args.plan), report=report)
    except OSError as exc:
        return _fail(f"--output: value {str(args.output)!r}: cannot write the report: {exc}")
    print(f"wrote {out} ({len(report.needles) + 1} pages; plan status {report.status})")
    return STATUS_EXIT[report.status]


def _demo(args: argparse.Namespace) -> int:
    from thighmap.planning.demo import DemoError, steps_of
    from thighmap.viz.demo import export_demonstration

    atlas, err = _load_atlas_or_fail(args)
    if atlas is None:
        return _fail(err or "cannot load the atlas")
    size = _size(args.size)
    if size is None:
        return _fail(f"--size: value {args.size!r}: expected WIDTHxHEIGHT, e.g. 960x720")
    loaded = _load_plan(args.plan, atlas)
    if isinstance(loaded, int):
        return loaded
    plan, model = loaded
    try:
        steps = steps_of(plan)
    except DemoError as exc:
        return _fail(f"{args.plan}: {exc}")
    if not steps:
        return _fail(f"{args.plan}: field 'demonstration': the plan has no recorded steps")
    try:
        written = export_demonstration(plan, model, args.output, gif=args.gif, size=size)
    except OSError as exc:
        return _fail(f"--output: cannot write the images: {exc}")
    print(f"wrote {len(written)} step images to {args.output}" + (f" and {args.gif}" if args.gif else ""))
    return 0


def _export(args: argparse.Namespace) -> int:
    from thighmap.export import ExportError, export_folder

    space = args.space.upper()
    if space not in ("LPS", "RAS"):
        return _fail(f"--space: value {args.space!r}: expected LPS or RAS")
    if args.side not in (None, "right", "left"):
        return _fail(f"--side: value {args.side!r}: expected right or left")
    try:
        spacing = float(args.spacing)
    except ValueError:
        return _fail(f"--spacing: value {args.spacing!r}: expected a number of mm")
    atlas, err = _load_atlas_or_fail(args)
    if atlas is None:
        return _fail(err or "cannot load the atlas")
    plan = None
    if args.plan:
        loaded = _load_plan(args.plan, atlas)
        if isinstance(loaded, int):
            return loaded
        plan, model = loaded
        if args.side and args.side != plan.side:
            return _fail(f"--side: value {args.side!r}: {args.plan}: field 'side' says {plan.side!r}")
    else:
        from thighmap.safety.engine import model_for_patient

        model = model_for_patient(None, atlas, args.side or "right")
    try:
        result = export_folder(
            args.output,
            model,
            plan,
            plan_path=args.plan,
            space=space,
            spacing_mm=None if args.no_volume else spacing,
            force=args.force,
            progress=lambda text: print(f"  {text}", file=sys.stderr),
        )
    except ExportError as exc:
        return _fail(str(exc))
    except OSError as exc:
        name = getattr(exc, "filename", None) or args.output
        return _fail(f"--output: value {str(args.output)!r}: cannot write {name}: {exc.strerror or exc}")
    needles = len(result.index["needles"])
    print(
        f"wrote {len(result.files)} files to {result.folder} ({result.index['space']}, "
        f"{result.index['side']} thigh, {len(result.index['structures'])} surfaces, {needles} needles)"
    )
    return 0


def _size(text: str) -> tuple[int, int] | None:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        return None
    return (w, h) if w > 0 and h > 0 else None


def _render(args: argparse.Namespace) -> int:
    from thighmap.viz.render import render_atlas_png

    atlas, err = _load_atlas_or_fail(args)
    if atlas is None:
        return _fail(err or "cannot load the atlas")
    size = _size(args.size)
    if size is None:
        return _fail(f"--size: value {args.size!r}: expected WIDTHxHEIGHT, e.g. 900x1200")
    w, h = size
    hidden = [s for s in args.hide.split(",") if s]
    unknown = [s for s in hidden if s not in atlas.structures]
    if unknown:
        return _fail(f"--hide: unknown structure id(s): {', '.join(unknown)}")
    extra = []
    model = None
    if args.plan:
        from thighmap.viz.needles import needle_actors_for_report

        loaded = _load_plan(args.plan, atlas)
        if isinstance(loaded, int):
            return loaded
        plan, model = loaded
        atlas = model.atlas
        report = model.check_plan(plan, plan_path=str(args.plan))
        for nr in report.needles:
            extra.extend(needle_actors_for_report(nr))
    decorate = []
    if args.approach or args.depth_map:
        from thighmap.safety.engine import SafetyModel

        model = model or SafetyModel.for_atlas(atlas)
        made = _skin_map(args, model)
        if isinstance(made, int):
            return made
        decorate.append(made)
        hidden = [*hidden, "skin"]
    out = render_atlas_png(
        atlas, args.output, view=args.view, size=(w, h), hidden=hidden, extra=extra, decorate=decorate
    )
    print(f"wrote {out}")
    return 0


def _skin_map(args: argparse.Namespace, model):  # type: ignore[no-untyped-def]
    """Compute the requested skin map, print its summary, and return the function that
    draws it (or an exit code for bad input)."""
    import time

    import numpy as np

    from thighmap.safety import maps
    from thighmap.viz import maps as draw

    start = time.perf_counter()
    if args.depth_map:
        if not np.isfinite(args.needle_length) or args.needle_length <= 0:
            return _fail(f"--needle-length: value {args.needle_length}: must be a positive number of mm")
        dmap = maps.depth_map(model, args.needle_length)
        elapsed = time.perf_counter() - start
        d = dmap.max_safe_depth_mm
        print(
            f"depth map: {len(d)} skin points in {elapsed * 1e3:.0f} ms; max safe depth along the "
            f"normal: median {np.median(d):.1f} mm, {np.mean(d < 20):.0%} of the skin below 20 mm "
            f"(needle {args.needle_length:.0f} mm)"
        )
        return lambda pl: draw.add_depth_map(pl, model, dmap)
    target = _target_point(args.approach, model)
    if target is None:
        known = ", ".join(sorted(model.atlas.trigger_points))
        return _fail(
            f"--approach: value {args.approach!r}: not a trigger point id ({known}) nor 'x,y,z' in mm"
        )
    amap = maps.approach_map(model, target)
    elapsed = time.perf_counter() - start
    s = amap.summary()
    print(
        f"approach map to {args.approach}: {s['skin_vertices']} skin points in {elapsed * 1e3:.0f} ms; "
        f"paths: {s['danger_fraction']:.0%} danger, {s['caution_fraction']:.0%} caution, "
        f"{s['safe_fraction']:.0%} safe ({s['usable_safe_vertices']} safe entries a needle can use)"
    )
    if amap.best_index is None:
        print("no safe entry a needle can use reaches this target on a straight path")
    else:
        i = amap.best_index
        e = amap.points_mm[i]
        print(
            f"best entry: [{e[0]:.1f}, {e[1]:.1f}, {e[2]:.1f}] mm, path {amap.length_mm[i]:.1f} mm, "
            f"{amap.angle_from_normal_deg[i]:.0f} deg from the skin normal, "
            f"{amap.caution_clearance_mm[i]:.1f} mm clear of the nearest caution zone "
            f"({model.names[amap.nearest_structure[i]]} nearest)"
        )
    return lambda pl: draw.add_approach_map(pl, model, amap)


def _target_point(text: str, model):  # type: ignore[no-untyped-def]
    import numpy as np

    from thighmap import sides

    if text in model.atlas.trigger_points:
        p = model.atlas.trigger_points[text].position_mm
        return sides.from_atlas_frame(p, model.side)
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        return None
    if len(values) != 3 or not all(np.isfinite(values)):
        return None
    return np.array(values)


if __name__ == "__main__":
    raise SystemExit(main())
