"""Renders of the atlas's anatomy for the documentation (issue #10): the posterior,
lateral and medial views with the skin and fat hidden, and labelled axial sections at 25%,
50% and 75% of the way from the popliteal crease to the gluteal fold, seen from below (the
radiological convention: the patient's right on the image's left for a right thigh).

Run from the repository root after `thighmap atlas build`:

    .venv/bin/python tools/render_anatomy_docs.py [--out docs/anatomy]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import PathPatch
from matplotlib.path import Path as MplPath

from thighmap.anatomy.atlas import Atlas, load_atlas
from thighmap.viz import render, scene
from thighmap.viz.section_cut import atlas_polydata, cut_loops
from thighmap.viz.section_layout import grid_in_loops

LEVELS = (0.25, 0.50, 0.75)
HIDDEN = ("skin", "subcutaneous_fat", "fascia_lata")
GRID_MM = 0.5
INSIDE_LABEL_MM = 3.5  # a label goes inside a region whose inscribed circle is at least this wide


def render_views(atlas: Atlas, out: Path) -> list[Path]:
    written = []
    for view in ("posterior", "lateral", "medial"):
        written.append(
            render.render_atlas_png(
                atlas, out / f"anatomy-{view}.png", view=view, size=(800, 1300), hidden=HIDDEN
            )
        )
    return written


def _level_z(atlas: Atlas, fraction: float) -> float:
    crease = float(atlas.landmark("popliteal_crease")[2])
    fold = float(atlas.landmark("gluteal_fold")[2])
    return crease + fraction * (fold - crease)


def _draw_order(atlas: Atlas) -> list[str]:
    """Outer layers first, so that what lies inside them is drawn over them."""
    first = [s for s in ("skin", "subcutaneous_fat", "fascia_lata") if s in atlas.structures]
    rest = [s for s in atlas.structures if s not in first]
    return first + rest


def render_section(atlas: Atlas, fraction: float, out: Path) -> Path:
    from scipy import ndimage

    z = _level_z(atlas, fraction)
    origin = np.array([0.0, 0.0, z])
    normal = np.array([0.0, 0.0, 1.0])
    e1, e2 = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    regions: dict[str, list[np.ndarray]] = {}
    for sid in _draw_order(atlas):
        loops = cut_loops(atlas_polydata(atlas, sid), origin, normal, e1, e2)
        if loops:
            regions[sid] = loops
    fig, ax = plt.subplots(figsize=(9, 9), dpi=110)
    fig.patch.set_facecolor("#20242b")
    ax.set_facecolor("#20242b")
    for sid, loops in regions.items():
        st = atlas.structures[sid]
        verts, codes = [], []
        for loop in loops:
            verts.extend([*loop.tolist(), loop[0].tolist()])
            codes.extend([MplPath.MOVETO] + [MplPath.LINETO] * (len(loop) - 1) + [MplPath.CLOSEPOLY])
        colour = scene.structure_colour(st.kind, sid)
        ax.add_patch(PathPatch(MplPath(verts, codes), facecolor=colour, edgecolor="#111111", lw=0.4))
    everything = np.vstack([np.vstack(v) for v in regions.values()])
    lo, hi = everything.min(axis=0) - 4.0, everything.max(axis=0) + 4.0
    xs = np.arange(lo[0], hi[0], GRID_MM)
    ys = np.arange(lo[1], hi[1], GRID_MM)
    # which structure is seen at each grid point: the last drawn that contains it
    owner = np.full((len(ys), len(xs)), -1)  # rows are ys
    names = list(regions)
    for k, sid in enumerate(names):
        owner[grid_in_loops(xs, ys, regions[sid])] = k
    legend: list[str] = []
    for k, sid in enumerate(names):
        if sid in ("skin",):
            continue
        mask = owner == k
        if not mask.any():
            continue
        depth = ndimage.distance_transform_edt(mask) * GRID_MM
        j, i = np.unravel_index(np.argmax(depth), depth.shape)
        st = atlas.structures[sid]
        short = getattr(st, "short_name", None) or st.name
        x, y = xs[i], ys[j]
        if depth[j, i] >= INSIDE_LABEL_MM and len(short) * 1.6 <= 2.6 * depth[j, i] + 10:
            ax.text(
                x,
                y,
                short,
                ha="center",
                va="center",
                fontsize=6.5,
                color="white",
                bbox={"boxstyle": "round,pad=0.15", "fc": "#000000", "alpha": 0.45, "lw": 0},
            )
        else:
            legend.append(short)
            ax.text(
                x,
                y,
                str(len(legend)),
                ha="center",
                va="center",
                fontsize=6.5,
                color="white",
                fontweight="bold",
            )
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    # seen from below, posterior (+y) at the bottom? the atlas's +y is posterior: put it at
    # the bottom as a supine axial MRI shows it, and lateral (+x) on the image's left
    ax.invert_xaxis()
    ax.invert_yaxis()
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    side = {"left": "medial", "right": "lateral"}
    ax.set_title(
        f"Axial section at z = {z:.0f} mm ({100 * fraction:.0f}% of the way from the popliteal crease "
        "to the gluteal fold), seen from below",
        color="white",
        fontsize=9,
    )
    ax.text(0.5, 0.01, "posterior", transform=ax.transAxes, ha="center", color="#bbbbbb", fontsize=8)
    ax.text(0.5, 0.97, "anterior", transform=ax.transAxes, ha="center", color="#bbbbbb", fontsize=8)
    ax.text(0.01, 0.5, side["right"], transform=ax.transAxes, va="center", color="#bbbbbb", fontsize=8)
    ax.text(
        0.99, 0.5, side["left"], transform=ax.transAxes, va="center", ha="right", color="#bbbbbb", fontsize=8
    )
    if legend:
        ax.text(
            1.0,
            0.0,
            "\n".join(f"{n}  {name}" for n, name in enumerate(legend, start=1)),
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=7,
            color="white",
        )
    bar = 20.0
    ax.plot([hi[0] - 4, hi[0] - 4 - bar], [hi[1] - 4, hi[1] - 4], color="white", lw=2)
    ax.text(hi[0] - 4 - bar / 2, hi[1] - 7, "20 mm", color="white", fontsize=7, ha="center", va="top")
    path = out / f"section-{round(100 * fraction)}.png"
    fig.savefig(path, facecolor=fig.get_facecolor(), bbox_inches="tight")
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/anatomy"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    atlas = load_atlas()
    for path in [*render_views(atlas, args.out), *(render_section(atlas, f, args.out) for f in LEVELS)]:
        print(path)


if __name__ == "__main__":
    main()
