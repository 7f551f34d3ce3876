"""The atlas: landmarks.json read and validated into plain data objects.

Nothing here draws or imports Qt. Meshes are loaded lazily from assets/meshes/
(or generated on demand) and cached per atlas object.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thighmap import paths
from thighmap.anatomy import fields, shapes
from thighmap.anatomy.atlas_rules import RuleError, Rules, parse_rules
from thighmap.anatomy.meshgen import SurfaceMesh
from thighmap.anatomy.referral import ReferralRegion, parse_referral_region

KINDS = ("muscle", "tendon", "bone", "nerve", "artery", "vein", "skin", "fat", "fascia")
ROLES = ("target", "danger", "caution", "context")
# the roles whose structures are checked against needles (each has a safety block)
GUARDED_ROLES = ("danger", "caution")
REQUIRED_LANDMARKS = (
    "ischial_tuberosity",
    "greater_trochanter",
    "lesser_trochanter",
    "adductor_tubercle",
    "medial_epicondyle",
    "lateral_epicondyle",
    "fibular_head",
    "gluteal_fold",
    "popliteal_crease",
    "sciatic_bifurcation",
    "adductor_hiatus",
)
REQUIRED_STRUCTURES = (
    "skin",
    "biceps_femoris_long_head",
    "biceps_femoris_short_head",
    "semitendinosus",
    "semimembranosus",
    "adductor_magnus",
    "femur",
    "sciatic_nerve",
    "tibial_nerve",
    "common_fibular_nerve",
    "femoral_artery",
    "femoral_vein",
    "popliteal_artery",
    "popliteal_vein",
)


class AtlasError(ValueError):
    """landmarks.json cannot be used; the message names the file, field and value."""


@dataclass(frozen=True)
class Landmark:
    id: str
    position_mm: np.ndarray
    source: str
    name: str = ""  # the full name (hover, cards); from the id when the atlas gives none
    short_name: str = ""  # the label in the 3D view; the name when the atlas gives none


@dataclass(frozen=True)
class SafetySpec:
    """Danger-zone parameters of a danger or caution structure (for a caution structure
    the zone and the margin around it are a caution, never a danger).

    The uncertainty is a profile along the centreline (stations in [0, 1]); the
    reference adult uses `reference_mm`, a patient-fitted atlas `fitted_mm`.
    """

    uncertainty_stations: np.ndarray
    uncertainty_reference_mm: np.ndarray
    uncertainty_fitted_mm: np.ndarray
    caution_margin_mm: float
    uncertainty_source: str
    caution_margin_source: str

    def uncertainty_at(self, s: np.ndarray, fitted: bool) -> np.ndarray:
        vals = self.uncertainty_fitted_mm if fitted else self.uncertainty_reference_mm
        return np.interp(np.clip(s, 0, 1), self.uncertainty_stations, vals)


@dataclass(frozen=True)
class Structure:
    id: str
    name: str
    kind: str
    role: str
    recipe: Mapping[str, Any]
    info: Mapping[str, Any]
    safety: SafetySpec | None = None
    short_name: str = ""  # the label in the 3D view (the full name is on hover and in the card)

    @property
    def is_tube(self) -> bool:
        return self.recipe.get("type") == "tube"


@dataclass(frozen=True)
class Technique:
    """A recommended insertion for a trigger point (entry resolved on the skin)."""

    direction: np.ndarray
    depth_range_mm: tuple[float, float]
    needle_length_mm: float
    gauge_mm: float
    text: str
    source: str


@dataclass(frozen=True)
class TriggerPoint:
    id: str
    name: str
    muscle: str
    position_mm: np.ndarray
    spread_mm: float
    referral: str
    technique: Technique
    source: str
    protocol: str | None = None
    spread_source: str = ""
    referral_source: str = ""
    short_name: str = ""  # the label in the 3D view (the full name is on hover and in the card)
    referral_region: ReferralRegion | None = None  # the referral on the skin (anatomy.referral)


@dataclass(frozen=True)
class FittingParams:
    """Constants of the fit to a patient (landmarks.json, ``fitting``), with sources."""

    shaft_radius_mm: float
    shaft_radius_source: str
    female_default_posterior_fat_mm: float
    female_default_posterior_fat_source: str


@dataclass(eq=False)
class Atlas:
    """The posterior-thigh atlas of one subject (the reference adult or a fitted one)."""

    path: Path
    document: dict[str, Any]
    landmarks: dict[str, Landmark]
    structures: dict[str, Structure]
    trigger_points: dict[str, TriggerPoint]
    rules: Rules
    reference_adult: dict[str, Any]
    fitted: bool = False
    patient: Any = None
    meshes_dir: Path | None = None
    fitting: FittingParams | None = None
    _meshes: dict[str, SurfaceMesh] = field(default_factory=dict, repr=False)
    _tubes: dict[str, shapes.TubeSamples] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ queries
    @property
    def structure_ids(self) -> set[str]:
        return set(self.structures)

    @property
    def trigger_point_ids(self) -> set[str]:
        return set(self.trigger_points)

    def danger_structures(self) -> list[Structure]:
        """Structures whose zone is a danger (deep nerves, major vessels), atlas order."""
        return [s for s in self.structures.values() if s.role == "danger"]

    def caution_structures(self) -> list[Structure]:
        """Structures whose contact, or margin, is a caution and never a danger (cutaneous
        nerves, superficial veins), atlas order."""
        return [s for s in self.structures.values() if s.role == "caution"]

    def guarded_structures(self) -> list[Structure]:
        """Danger and caution structures, atlas order: every structure a needle is
        measured against (each has a clearance in a report)."""
        return [s for s in self.structures.values() if s.role in GUARDED_ROLES]

    def landmark(self, lid: str) -> np.ndarray:
        return self.landmarks[lid].position_mm

    def tube(self, sid: str) -> shapes.TubeSamples:
        """Sampled centreline and radii of a nerve or vessel (the checked geometry)."""
        if sid not in self._tubes:
            st = self.structures[sid]
            rec = st.recipe
            if "section" in rec:
                sec = rec["section"]
                self._tubes[sid] = shapes.sample_band(
                    np.array(rec["centreline_mm"], float),
                    np.array(sec["at"], float),
                    np.array(sec["width_mm"], float),
                    np.array(sec["thickness_mm"], float),
                    float(rec.get("spacing_mm", 2.5)),
                )
            else:
                self._tubes[sid] = shapes.sample_tube(
                    np.array(rec["centreline_mm"], float),
                    np.array(rec["radius"]["at"], float),
                    np.array(rec["radius"]["mm"], float),
                    float(rec.get("spacing_mm", 2.5)),
                )
        return self._tubes[sid]

    def mesh(self, sid: str) -> SurfaceMesh:
        """The structure's surface: the committed file if present, else generated."""
        if sid not in self._meshes:
            from thighmap.anatomy import meshio

            path = (self.meshes_dir or paths.meshes_dir()) / f"{sid}.ply"
            if path.exists() and not self.fitted:
                self._meshes[sid] = meshio.read_mesh(path)
            else:
                from thighmap.anatomy import build

                self._meshes[sid] = build.build_structure(self, sid)
        return self._meshes[sid]

    def set_mesh(self, sid: str, mesh: SurfaceMesh) -> None:
        self._meshes[sid] = mesh

    @property
    def skeleton_dir(self) -> Path:
        """The skeleton folder beside this atlas's landmarks.json (see anatomy/skeleton.py)."""
        return self.path.parent / "skeleton"


# ---------------------------------------------------------------------- loading


# tube, loft, limb and bone are built by thighmap's generator; mesh is a surface imported
# from elsewhere (thighmap atlas import), read as it is; skeleton is a bone of the atlas's
# skeleton folder (anatomy/skeleton.py), {"type": "skeleton", "bone": "femur"}; packed
# structures share the atlas's label volume (anatomy/packing.py), and a sleeve is a named
# layer of fat of given thickness around another structure in that volume.
RECIPE_TYPES: tuple[str, ...] = ("tube", "loft", "limb", "bone", "mesh", "skeleton", "packed", "sleeve")
SKELETON_BONES: tuple[str, ...] = ("femur", "hip_bone", "tibia", "fibula")


def _err(path: Path, where: str, value: Any, message: str) -> AtlasError:
    return fields.field_error(AtlasError, path, where, value, message)


def _vec3(path: Path, where: str, value: Any) -> np.ndarray:
    return fields.vec3(AtlasError, path, where, value)


def _number(path: Path, where: str, value: Any, *, positive: bool = False) -> float:
    return fields.number(AtlasError, path, where, value, positive=positive)


def _text(path: Path, where: str, value: Any) -> str:
    return fields.text(AtlasError, path, where, value)


LIMB_LAYERS = ("skin", "fat", "fascia")
MAX_FASCIA_MM = 10.0  # a deep fascia (or tract) thicker than this is a typing error, not anatomy


def _parse_fascia(path: Path, fascia: Any) -> None:
    """limb.fascia: the deep fascia's thickness round the section and its iliotibial tract
    (anatomy/meshgen.py FasciaLayer)."""
    where = "limb.fascia"
    if not isinstance(fascia, dict):
        raise _err(path, where, fascia, "expected an object with thickness_mm and iliotibial_tract")

    def thickness(w: str, value: Any) -> None:
        t = _number(path, w, value)
        if not 0.0 <= t <= MAX_FASCIA_MM:
            raise _err(path, w, value, f"a thickness in mm, 0 to {MAX_FASCIA_MM:g}")

    sides = fascia.get("thickness_mm")
    if not isinstance(sides, dict):
        raise _err(path, f"{where}.thickness_mm", sides, "expected medial, lateral, anterior and posterior")
    for key in ("medial", "lateral", "anterior", "posterior"):
        thickness(f"{where}.thickness_mm.{key}", sides.get(key))
    tract = fascia.get("iliotibial_tract")
    tw = f"{where}.iliotibial_tract"
    if not isinstance(tract, dict):
        raise _err(path, tw, tract, "expected an object (thickness_mm, centre_deg, half_width_deg, ...)")
    thickness(f"{tw}.thickness_mm", tract.get("thickness_mm"))
    _number(path, f"{tw}.centre_deg", tract.get("centre_deg"))
    for key in ("half_width_deg", "edge_deg"):
        angle = _number(path, f"{tw}.{key}", tract.get(key), positive=key == "edge_deg")
        if not 0.0 <= angle <= 90.0:
            raise _err(path, f"{tw}.{key}", tract.get(key), "an angle in degrees, 0 to 90")
    _number(path, f"{tw}.z_edge_mm", tract.get("z_edge_mm"), positive=True)
    z = tract.get("z_range_mm")
    if not (isinstance(z, list) and len(z) == 2):
        raise _err(path, f"{tw}.z_range_mm", z, "expected [lowest, highest] in mm")
    lo = _number(path, f"{tw}.z_range_mm[0]", z[0])
    hi = _number(path, f"{tw}.z_range_mm[1]", z[1])
    if lo >= hi:
        raise _err(path, f"{tw}.z_range_mm", z, "the lowest level must lie below the highest")


LIMB_DIRECTIONS = ("medial", "lateral", "anterior", "posterior")
MAX_LIMB_SECTIONS = 1000


def _parse_limb(path: Path, limb: Any) -> None:
    """limb: the envelope the skin, fat and fascia are built from (anatomy/meshgen.py
    LimbEnvelope), read before anything is built from it."""
    if not isinstance(limb, dict):
        raise _err(path, "limb", limb, "expected an object (z_range_mm, skin_thickness_mm, sections)")
    z = limb.get("z_range_mm")
    if not (isinstance(z, list) and len(z) == 2):
        raise _err(path, "limb.z_range_mm", z, "expected [lowest, highest] in mm")
    if _number(path, "limb.z_range_mm[0]", z[0]) >= _number(path, "limb.z_range_mm[1]", z[1]):
        raise _err(path, "limb.z_range_mm", z, "the lowest level must lie below the highest")
    skin = _number(path, "limb.skin_thickness_mm", limb.get("skin_thickness_mm"), positive=True)
    for key in ("squareness", "level_spacing_mm"):
        if key in limb:
            _number(path, f"limb.{key}", limb[key], positive=True)
    segments = limb.get("segments", 96)
    if not isinstance(segments, int) or isinstance(segments, bool) or not 8 <= segments <= 4096:
        raise _err(path, "limb.segments", segments, "a whole number of points round a section, 8 to 4096")
    sections = limb.get("sections")
    if not isinstance(sections, list) or not 2 <= len(sections) <= MAX_LIMB_SECTIONS:
        raise _err(path, "limb.sections", sections, f"expected a list of 2 to {MAX_LIMB_SECTIONS} sections")
    levels = []
    for i, sec in enumerate(sections):
        where = f"limb.sections[{i}]"
        if not isinstance(sec, dict):
            raise _err(path, where, sec, "expected an object (z_mm, centre_mm, half_extent_mm, fat_mm)")
        levels.append(_number(path, f"{where}.z_mm", sec.get("z_mm")))
        centre = sec.get("centre_mm")
        if not (isinstance(centre, list) and len(centre) == 2):
            raise _err(path, f"{where}.centre_mm", centre, "expected [x, y] in mm")
        for k, v in enumerate(centre):
            _number(path, f"{where}.centre_mm[{k}]", v)
        extent, fat = sec.get("half_extent_mm"), sec.get("fat_mm")
        for name, block in (("half_extent_mm", extent), ("fat_mm", fat)):
            if not isinstance(block, dict):
                raise _err(path, f"{where}.{name}", block, "expected medial, lateral, anterior and posterior")
        for key in LIMB_DIRECTIONS:
            e = _number(path, f"{where}.half_extent_mm.{key}", extent.get(key), positive=True)
            f = _number(path, f"{where}.fat_mm.{key}", fat.get(key))
            if f < 0:
                raise _err(path, f"{where}.fat_mm.{key}", fat.get(key), "a thickness cannot be negative")
            if skin + f + MAX_FASCIA_MM >= e:
                raise _err(
                    path,
                    f"{where}.fat_mm.{key}",
                    fat.get(key),
                    f"the skin ({skin:g} mm) and fat leave less than {MAX_FASCIA_MM:g} mm inside them "
                    f"(half extent {e:g} mm)",
                )
    if len(set(levels)) != len(levels):
        raise _err(path, "limb.sections", [s.get("z_mm") for s in sections], "two sections at one level")


def load_atlas(path: Path | str | None = None) -> Atlas:
    """Read and validate landmarks.json (the bundled one by default)."""
    path = Path(path) if path is not None else paths.landmarks_path()
    doc = fields.read_json(AtlasError, path, "atlas")
    return parse_atlas(doc, path)


def parse_atlas(doc: Any, path: Path) -> Atlas:
    if not isinstance(doc, dict):
        raise _err(path, "(top level)", type(doc).__name__, "the atlas must be a JSON object")
    if doc.get("format") != "thighmap-atlas":
        raise _err(path, "format", doc.get("format"), "expected 'thighmap-atlas'")
    if doc.get("version") != 1:
        raise _err(path, "version", doc.get("version"), "this thighmap reads atlas version 1")

    landmarks: dict[str, Landmark] = {}
    for lid, lm in (doc.get("landmarks") or {}).items():
        where = f"landmarks.{lid}"
        if not isinstance(lm, dict):
            raise _err(path, where, lm, "expected an object with position_mm and source")
        name = _optional_text(path, f"{where}.name", lm.get("name")) or lid.replace("_", " ").capitalize()
        landmarks[lid] = Landmark(
            lid,
            _vec3(path, f"{where}.position_mm", lm.get("position_mm")),
            _text(path, f"{where}.source", lm.get("source")),
            name,
            _optional_text(path, f"{where}.short_name", lm.get("short_name")) or name,
        )
    for lid in REQUIRED_LANDMARKS:
        if lid not in landmarks:
            raise _err(path, f"landmarks.{lid}", None, "this landmark is required")

    structures: dict[str, Structure] = {}
    for i, st in enumerate(doc.get("structures") or []):
        where = f"structures[{i}]"
        if not isinstance(st, dict):
            raise _err(path, where, st, "expected an object")
        sid = _text(path, f"{where}.id", st.get("id"))
        where = f"structures.{sid}"
        if sid in structures:
            raise _err(path, f"{where}.id", sid, "duplicate structure id")
        kind = st.get("kind")
        if kind not in KINDS:
            raise _err(path, f"{where}.kind", kind, f"expected one of {', '.join(KINDS)}")
        role = st.get("role")
        if role not in ROLES:
            raise _err(path, f"{where}.role", role, f"expected one of {', '.join(ROLES)}")
        recipe = st.get("recipe")
        if not isinstance(recipe, dict) or recipe.get("type") not in RECIPE_TYPES:
            raise _err(
                path,
                f"{where}.recipe.type",
                (recipe or {}).get("type") if isinstance(recipe, dict) else recipe,
                f"expected one of {', '.join(RECIPE_TYPES)}",
            )
        safety = None
        if role in GUARDED_ROLES:
            safety = _parse_safety(path, where, st.get("safety"), role)
            if recipe["type"] not in ("tube", "mesh"):
                raise _err(
                    path,
                    f"{where}.recipe.type",
                    recipe["type"],
                    f"a {role} structure is a tube (centreline and radius) or an imported closed mesh",
                )
        if recipe["type"] == "mesh" and not isinstance(recipe.get("file"), str):
            raise _err(path, f"{where}.recipe.file", recipe.get("file"), "an imported mesh names its file")
        if recipe["type"] == "skeleton" and recipe.get("bone") not in SKELETON_BONES:
            raise _err(
                path,
                f"{where}.recipe.bone",
                recipe.get("bone"),
                f"a skeleton recipe names one of the skeleton's bones: {', '.join(SKELETON_BONES)}",
            )
        if recipe["type"] == "tube":
            _parse_tube_recipe(path, where, recipe)
        if recipe["type"] == "packed":
            _parse_packed_recipe(path, where, recipe)
        if recipe["type"] == "sleeve":
            _number(path, f"{where}.recipe.thickness_mm", recipe.get("thickness_mm"), positive=True)
            if not isinstance(recipe.get("around"), str):
                raise _err(
                    path,
                    f"{where}.recipe.around",
                    recipe.get("around"),
                    "a sleeve names the structure it surrounds",
                )
        info = {k: v for k, v in st.items() if k not in ("id", "kind", "role", "recipe", "safety")}
        name = _text(path, f"{where}.name", st.get("name"))
        short_name = _optional_text(path, f"{where}.short_name", st.get("short_name")) or name
        structures[sid] = Structure(sid, name, kind, role, recipe, info, safety, short_name)
    for sid in REQUIRED_STRUCTURES:
        if sid not in structures:
            raise _err(path, f"structures.{sid}", None, "this structure is required")
    for sid, st in structures.items():
        if st.recipe["type"] == "sleeve" and st.recipe["around"] not in structures:
            raise _err(
                path, f"structures.{sid}.recipe.around", st.recipe["around"], "no structure of that id"
            )
    limb = doc.get("limb")
    if limb is not None:
        _parse_limb(path, limb)
    fascia = limb.get("fascia") if isinstance(limb, dict) else None
    if fascia is not None:
        _parse_fascia(path, fascia)
    for sid, st in structures.items():
        if st.recipe["type"] != "limb":
            continue
        layer = st.recipe.get("layer")
        if layer not in LIMB_LAYERS:
            raise _err(path, f"structures.{sid}.recipe.layer", layer, f"one of {', '.join(LIMB_LAYERS)}")
        if layer == "fascia" and fascia is None:
            raise _err(
                path,
                f"structures.{sid}.recipe.layer",
                layer,
                "a fascia layer needs limb.fascia, which gives the deep fascia's thickness",
            )

    try:
        from thighmap.planning.model import CONTRAINDICATION_KEYS

        rules = parse_rules(
            doc.get("rules"),
            path,
            structures=structures,
            landmarks=landmarks,
            contraindication_keys=CONTRAINDICATION_KEYS,
        )
    except RuleError as exc:
        raise AtlasError(str(exc)) from None
    atlas = Atlas(
        path=path,
        document=doc,
        landmarks=landmarks,
        structures=structures,
        trigger_points={},
        rules=rules,
        reference_adult=doc.get("reference_adult") or {},
        meshes_dir=path.parent / "meshes",
        fitting=_parse_fitting(path, doc["fitting"]) if "fitting" in doc else None,
    )
    for i, tp in enumerate(doc.get("trigger_points") or []):
        t = _parse_trigger_point(path, f"trigger_points[{i}]", tp, structures)
        if t.id in atlas.trigger_points:
            raise _err(path, f"trigger_points[{i}].id", t.id, "duplicate trigger point id")
        atlas.trigger_points[t.id] = t
    return atlas


def _parse_packed_recipe(path: Path, where: str, recipe: Mapping[str, Any]) -> None:
    """A packed structure's path (centreline, at least two points) and its sections (each
    with positive half-width and half-depth at a level or a fraction of the path), and an
    optional published volume with a positive target."""
    pts = recipe.get("centreline_mm")
    if not isinstance(pts, list) or len(pts) < 2:
        raise _err(path, f"{where}.recipe.centreline_mm", pts, "expected a list of at least two points")
    for k, p in enumerate(pts):
        _vec3(path, f"{where}.recipe.centreline_mm[{k}]", p)
    secs = recipe.get("sections")
    if not isinstance(secs, list) or not secs:
        raise _err(path, f"{where}.recipe.sections", secs, "expected a list of sections")
    for k, sec in enumerate(secs):
        at = f"{where}.recipe.sections[{k}]"
        if not isinstance(sec, dict) or ("z_mm" not in sec and "at" not in sec):
            raise _err(path, at, sec, "a section has half_width_mm, half_depth_mm and a z_mm or an at")
        _number(path, f"{at}.half_width_mm", sec.get("half_width_mm"), positive=True)
        _number(path, f"{at}.half_depth_mm", sec.get("half_depth_mm"), positive=True)
        _number(path, f"{at}.{'z_mm' if 'z_mm' in sec else 'at'}", sec.get("z_mm", sec.get("at")))
    if "volume_cm3" in recipe:
        vol = recipe["volume_cm3"]
        if not isinstance(vol, dict):
            raise _err(path, f"{where}.recipe.volume_cm3", vol, "expected target, range and source")
        _number(path, f"{where}.recipe.volume_cm3.target", vol.get("target"), positive=True)


def _parse_fitting(path: Path, raw: Any) -> FittingParams:
    if not isinstance(raw, dict):
        raise _err(path, "fitting", raw, "expected an object with the fitting constants and their sources")
    return FittingParams(
        shaft_radius_mm=_number(path, "fitting.shaft_radius_mm", raw.get("shaft_radius_mm"), positive=True),
        shaft_radius_source=_text(path, "fitting.shaft_radius_source", raw.get("shaft_radius_source")),
        female_default_posterior_fat_mm=_number(
            path,
            "fitting.female_default_posterior_fat_mm",
            raw.get("female_default_posterior_fat_mm"),
            positive=True,
        ),
        female_default_posterior_fat_source=_text(
            path,
            "fitting.female_default_posterior_fat_source",
            raw.get("female_default_posterior_fat_source"),
        ),
    )


def _parse_tube_recipe(path: Path, where: str, recipe: Mapping[str, Any]) -> None:
    pts = recipe.get("centreline_mm")
    if not isinstance(pts, list) or len(pts) < 2:
        raise _err(path, f"{where}.recipe.centreline_mm", pts, "expected at least two points")
    for k, p in enumerate(pts):
        _vec3(path, f"{where}.recipe.centreline_mm[{k}]", p)
    if "section" in recipe:
        if "radius" in recipe:
            raise _err(
                path,
                f"{where}.recipe.radius",
                recipe["radius"],
                "a tube has either a radius (round) or a section (a flat band), not both",
            )
        _parse_band_section(path, f"{where}.recipe.section", recipe["section"])
        return
    rad = recipe.get("radius")
    if not isinstance(rad, dict) or len(rad.get("at", [])) != len(rad.get("mm", [])) or not rad.get("at"):
        raise _err(
            path,
            f"{where}.recipe.radius",
            rad,
            "expected {'at': [...], 'mm': [...]} of equal length",
        )
    for k, r in enumerate(rad["mm"]):
        _number(path, f"{where}.recipe.radius.mm[{k}]", r, positive=True)


def _parse_band_section(path: Path, where: str, sec: Any) -> None:
    """A flat band's section: stations along the centreline (0..1, increasing), and the
    width (across, lateral) and thickness (antero-posterior) there; width >= thickness."""
    keys = ("at", "width_mm", "thickness_mm")
    if (
        not isinstance(sec, dict)
        or not all(isinstance(sec.get(k), list) for k in keys)
        or not sec["at"]
        or not len(sec["at"]) == len(sec["width_mm"]) == len(sec["thickness_mm"])
    ):
        raise _err(
            path,
            where,
            sec,
            "expected {'at': [...], 'width_mm': [...], 'thickness_mm': [...]} of equal length",
        )
    at = [_number(path, f"{where}.at[{k}]", v) for k, v in enumerate(sec["at"])]
    if any(not 0.0 <= a <= 1.0 for a in at) or any(b <= a for a, b in itertools.pairwise(at)):
        raise _err(path, f"{where}.at", sec["at"], "stations must increase strictly from 0 to 1")
    for k in range(len(at)):
        width = _number(path, f"{where}.width_mm[{k}]", sec["width_mm"][k], positive=True)
        thickness = _number(path, f"{where}.thickness_mm[{k}]", sec["thickness_mm"][k], positive=True)
        if width < thickness:
            raise _err(
                path,
                f"{where}.width_mm[{k}]",
                sec["width_mm"][k],
                f"the width must be at least the thickness ({thickness:g} mm); a band is broad across",
            )


def _parse_safety(path: Path, where: str, sf: Any, role: str = "danger") -> SafetySpec:
    if not isinstance(sf, dict):
        raise _err(path, f"{where}.safety", sf, f"a {role} structure needs a safety object")
    unc = sf.get("uncertainty")
    if not isinstance(unc, dict):
        raise _err(path, f"{where}.safety.uncertainty", unc, "expected {at, reference_mm, fitted_mm}")
    at = unc.get("at")
    ref = unc.get("reference_mm")
    fit = unc.get("fitted_mm")
    if not (isinstance(at, list) and isinstance(ref, list) and isinstance(fit, list)) or not (
        len(at) == len(ref) == len(fit) >= 1
    ):
        raise _err(
            path,
            f"{where}.safety.uncertainty",
            unc,
            "at, reference_mm and fitted_mm must be lists of equal length",
        )
    for k in range(len(at)):
        _number(path, f"{where}.safety.uncertainty.at[{k}]", at[k])
        if _number(path, f"{where}.safety.uncertainty.reference_mm[{k}]", ref[k]) < 0:
            raise _err(
                path,
                f"{where}.safety.uncertainty.reference_mm[{k}]",
                ref[k],
                "must not be negative",
            )
        if _number(path, f"{where}.safety.uncertainty.fitted_mm[{k}]", fit[k]) < 0:
            raise _err(path, f"{where}.safety.uncertainty.fitted_mm[{k}]", fit[k], "must not be negative")
    margin = _number(path, f"{where}.safety.caution_margin_mm", sf.get("caution_margin_mm"))
    if margin < 0:
        raise _err(path, f"{where}.safety.caution_margin_mm", margin, "must not be negative")
    return SafetySpec(
        np.array(at, float),
        np.array(ref, float),
        np.array(fit, float),
        margin,
        _text(path, f"{where}.safety.uncertainty_source", sf.get("uncertainty_source")),
        _text(path, f"{where}.safety.caution_margin_source", sf.get("caution_margin_source")),
    )


def _parse_trigger_point(
    path: Path, where: str, tp: Any, structures: Mapping[str, Structure]
) -> TriggerPoint:
    if not isinstance(tp, dict):
        raise _err(path, where, tp, "expected an object")
    tid = _text(path, f"{where}.id", tp.get("id"))
    where = f"trigger_points.{tid}"
    muscle = tp.get("muscle")
    if muscle not in structures:
        raise _err(path, f"{where}.muscle", muscle, "unknown structure id")
    tech = tp.get("technique")
    if not isinstance(tech, dict):
        raise _err(path, f"{where}.technique", tech, "expected an object")
    direction = _vec3(path, f"{where}.technique.direction", tech.get("direction"))
    norm = float(np.linalg.norm(direction))
    if norm == 0:
        raise _err(path, f"{where}.technique.direction", tech.get("direction"), "zero-length direction")
    dr = tech.get("depth_range_mm")
    if not isinstance(dr, list) or len(dr) != 2:
        raise _err(path, f"{where}.technique.depth_range_mm", dr, "expected [min, max]")
    lo = _number(path, f"{where}.technique.depth_range_mm[0]", dr[0], positive=True)
    hi = _number(path, f"{where}.technique.depth_range_mm[1]", dr[1], positive=True)
    if hi < lo:
        raise _err(path, f"{where}.technique.depth_range_mm", dr, "max is below min")
    technique = Technique(
        direction / norm,
        (lo, hi),
        _number(path, f"{where}.technique.needle_length_mm", tech.get("needle_length_mm"), positive=True),
        _number(path, f"{where}.technique.gauge_mm", tech.get("gauge_mm"), positive=True),
        _text(path, f"{where}.technique.text", tech.get("text")),
        _text(path, f"{where}.technique.source", tech.get("source")),
    )
    name = _text(path, f"{where}.name", tp.get("name"))
    return TriggerPoint(
        id=tid,
        name=name,
        short_name=_optional_text(path, f"{where}.short_name", tp.get("short_name")) or name,
        muscle=muscle,
        position_mm=_vec3(path, f"{where}.position_mm", tp.get("position_mm")),
        spread_mm=_number(path, f"{where}.spread_mm", tp.get("spread_mm"), positive=True),
        referral=_text(path, f"{where}.referral", tp.get("referral")),
        technique=technique,
        source=_text(path, f"{where}.source", tp.get("source")),
        protocol=tp.get("protocol"),
        spread_source=_optional_text(path, f"{where}.spread_source", tp.get("spread_source")),
        referral_source=_optional_text(path, f"{where}.referral_source", tp.get("referral_source")),
        referral_region=parse_referral_region(
            path, f"{where}.referral_region", tp.get("referral_region"), _err
        ),
    )


def _optional_text(path: Path, where: str, value: Any) -> str:
    return "" if value is None else _text(path, where, value)
