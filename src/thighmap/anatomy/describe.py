"""Per-structure facts for `thighmap atlas info` and the information cards."""

from __future__ import annotations

from typing import Any

import numpy as np

from thighmap.anatomy.atlas import Atlas


def describe_atlas(atlas: Atlas) -> list[dict[str, Any]]:
    rows = []
    for sid, st in atlas.structures.items():
        mesh = atlas.mesh(sid)
        lo = mesh.vertices.min(axis=0)
        hi = mesh.vertices.max(axis=0)
        rows.append(
            {
                "id": sid,
                "name": st.name,
                "kind": st.kind,
                "role": st.role,
                "volume_cm3": round(mesh.signed_volume_mm3() / 1000.0, 2),
                "bounds_mm": [np.round(lo, 1).tolist(), np.round(hi, 1).tolist()],
                "triangles": mesh.n_triangles,
            }
        )
    return rows
