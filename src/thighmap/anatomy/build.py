"""Build the atlas surfaces from their recipes (`thighmap atlas build`)."""

from __future__ import annotations

from pathlib import Path

from thighmap.anatomy import meshgen, packing
from thighmap.anatomy.atlas import LIMB_LAYERS, Atlas
from thighmap.anatomy.meshgen import SurfaceMesh


def build_structure(atlas: Atlas, sid: str) -> SurfaceMesh:
    st = atlas.structures[sid]
    kind = st.recipe["type"]
    if kind == "tube":
        return meshgen.tube_mesh(atlas.tube(sid))
    if kind == "loft":
        return meshgen.loft_mesh(st.recipe)
    if kind == "bone":
        return meshgen.bone_mesh(st.recipe)
    if kind in packing.PACKED_TYPES:
        # every packed structure comes out of one volume: build them all at once
        meshes = build_packed(atlas)
        for other, mesh in meshes.items():
            atlas.set_mesh(other, mesh)
        return meshes[sid]
    if kind == "mesh":
        from thighmap.anatomy import meshio

        if atlas.meshes_dir is None:
            raise ValueError(f"structure {sid!r}: an imported mesh is read from its atlas folder, none here")
        return meshio.read_mesh(atlas.meshes_dir / st.recipe["file"])
    if kind == "skeleton":
        from thighmap.anatomy import skeleton

        return skeleton.read_bone(atlas.skeleton_dir, st.recipe["bone"])
    if kind == "limb":
        return _limb_layer(meshgen.limb_meshes(atlas.document["limb"]), sid, st.recipe)
    raise ValueError(f"structure {sid!r}: unknown recipe type {kind!r}")


def _limb_layer(layers: dict[str, SurfaceMesh], sid: str, recipe: dict) -> SurfaceMesh:
    layer = recipe.get("layer")
    if layer not in LIMB_LAYERS:
        raise ValueError(
            f"structure {sid!r}: field 'recipe.layer': value {layer!r}: one of {', '.join(LIMB_LAYERS)}"
        )
    if layer not in layers:
        raise ValueError(
            f"structure {sid!r}: field 'recipe.layer': value {layer!r}: the limb has no 'fascia' block "
            "giving the deep fascia's thickness"
        )
    return layers[layer]


def build_packed(atlas: Atlas, exact: dict[str, SurfaceMesh] | None = None) -> dict[str, SurfaceMesh]:
    """The surfaces of the packed structures, from the atlas's label volume (the bones,
    nerves and vessels it carves first are taken from `exact` or from the atlas)."""
    spec = packing.spec_from_atlas(atlas)
    given = exact or {}
    meshes = {sid: given[sid] if sid in given else atlas.mesh(sid) for sid in spec.exact}
    _, surfaces = packing.build_packed(atlas, meshes)
    return surfaces


def build_all(atlas: Atlas) -> dict[str, SurfaceMesh]:
    out: dict[str, SurfaceMesh] = {}
    limb = None
    for sid, st in atlas.structures.items():
        if st.recipe["type"] in packing.PACKED_TYPES:
            continue
        if st.recipe["type"] == "limb":
            if limb is None:
                limb = meshgen.limb_meshes(atlas.document["limb"])
            out[sid] = _limb_layer(limb, sid, st.recipe)
        else:
            out[sid] = build_structure(atlas, sid)
    if packing.packed_ids(atlas):
        out.update(build_packed(atlas, out))
    return {sid: out[sid] for sid in atlas.structures}


def write_all(meshes: dict[str, SurfaceMesh], directory: Path) -> list[Path]:
    from thighmap.anatomy import meshio

    written = []
    for sid, mesh in meshes.items():
        p = directory / f"{sid}.ply"
        meshio.write_mesh(mesh, p)
        written.append(p)
    return written
