"""Atlases with and without caution structures, for tests.

`with_caution_tube` adds a caution structure (a cutaneous nerve or a superficial vein, a
tube like the atlas's nerves) to a copy of an atlas; `without_caution_structures` takes
every caution structure out of a copy, for tests whose expectations predate them. Both
return new Atlas objects (the committed meshes of the other structures are reused).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np

from thighmap.anatomy.atlas import Atlas, parse_atlas


def _reparsed(atlas: Atlas, doc: dict) -> Atlas:
    out = parse_atlas(doc, atlas.path)
    out.meshes_dir = atlas.meshes_dir
    # meshes already read or built for the base atlas serve the copy (same structures)
    for sid, mesh in atlas._meshes.items():
        if sid in out.structures and out.structures[sid].recipe == atlas.structures[sid].recipe:
            out.set_mesh(sid, mesh)
    return out


def without_caution_structures(atlas: Atlas) -> Atlas:
    """A copy of the atlas with every structure whose role is caution removed (and any
    rule or trigger point that names one)."""
    return without_structures(atlas, [st.id for st in atlas.caution_structures()])


def without_structures(atlas: Atlas, ids: Sequence[str]) -> Atlas:
    """A copy of the atlas without the named structures (and any trigger point in one)."""
    gone = set(ids)
    doc = copy.deepcopy(atlas.document)
    if not gone:
        return _reparsed(atlas, doc)
    doc["structures"] = [st for st in doc["structures"] if st.get("id") not in gone]
    doc["trigger_points"] = [tp for tp in doc.get("trigger_points") or [] if tp.get("muscle") not in gone]
    return _reparsed(atlas, doc)


def with_caution_tube(
    atlas: Atlas,
    sid: str,
    centreline_mm: Sequence[Sequence[float]],
    *,
    radius_mm: float = 1.0,
    kind: str = "nerve",
    caution_margin_mm: float = 2.0,
    uncertainty_mm: float = 1.0,
    name: str | None = None,
) -> Atlas:
    """A copy of the atlas with one more structure of role caution: a round tube along
    `centreline_mm` of constant radius, its positional uncertainty constant."""
    doc = copy.deepcopy(atlas.document)
    doc["structures"].append(
        {
            "id": sid,
            "name": name or sid.replace("_", " ").capitalize(),
            "kind": kind,
            "role": "caution",
            "recipe": {
                "type": "tube",
                "spacing_mm": 2.5,
                "centreline_mm": np.asarray(centreline_mm, float).tolist(),
                "radius": {"at": [0.0, 1.0], "mm": [radius_mm, radius_mm]},
            },
            "safety": {
                "uncertainty": {
                    "at": [0.0, 1.0],
                    "reference_mm": [uncertainty_mm, uncertainty_mm],
                    "fitted_mm": [uncertainty_mm, uncertainty_mm],
                },
                "uncertainty_source": "test",
                "caution_margin_mm": caution_margin_mm,
                "caution_margin_source": "test",
            },
            "source": "test",
        }
    )
    return _reparsed(atlas, doc)
