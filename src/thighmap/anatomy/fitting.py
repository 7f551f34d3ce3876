"""Fitting the atlas to a patient profile.

The reference adult (landmarks.json, "reference_adult") is deformed so that:

- lengths scale along the thigh: z' = z * thigh_length / reference thigh length
  (about the knee, the frame's origin);
- soft tissue scales about the femur: a point at distance r from the femoral shaft
  axis moves to R + (r - R) * s, where R is the shaft radius and s is chosen so that
  the mid-thigh circumference matches; the bone itself keeps its shape;
- the subcutaneous fat takes the given posterior thickness: the fat layer everywhere
  is scaled by fat / reference fat (a woman's profile without a fat thickness takes
  the atlas's default for women).

R and the default fat for women are atlas data (landmarks.json, ``fitting``), each with
its source.

Nerves and vessels are regenerated from their deformed centrelines with their own
radii or band sections (a nerve does not get thicker with girth), so the safety engine stays exact on
the fitted atlas. Their positional uncertainty switches to the fitted values.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np

from thighmap.anatomy import shapes
from thighmap.anatomy.atlas import Atlas, FittingParams
from thighmap.anatomy.atlas_rules import Rules
from thighmap.anatomy.meshgen import LimbEnvelope, SurfaceMesh

SKIN_LANDMARKS = ("gluteal_fold", "popliteal_crease")
BONE_LANDMARKS = (
    "greater_trochanter",
    "lesser_trochanter",
    "adductor_tubercle",
    "medial_epicondyle",
    "lateral_epicondyle",
    "fibular_head",
)


class FemurAxis:
    """The femoral shaft axis (x, y) as a function of z, from the femur recipe (the first
    part of a generated bone, or the shaft centreline of a skeleton femur)."""

    def __init__(self, atlas: Atlas) -> None:
        recipe = atlas.structures["femur"].recipe
        if recipe["type"] == "skeleton":  # the centres of the skeleton femur's sections
            from thighmap.anatomy.skeleton import load_skeleton

            raw = load_skeleton(atlas.skeleton_dir).femur_shaft_centreline_mm
        else:
            raw = np.array(recipe["parts"][0]["points_mm"], float)
        pts, _ = shapes.smooth_centreline(raw, 2.0)
        order = np.argsort(pts[:, 2])
        self.z = pts[order, 2]
        self.xy = pts[order, :2]

    def __call__(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, float)
        return np.column_stack([np.interp(z, self.z, self.xy[:, 0]), np.interp(z, self.z, self.xy[:, 1])])


class ThighWarp:
    """Soft tissue beyond ``shaft_radius_mm`` of the femoral shaft axis scales radially
    by ``soft_scale``; everything scales by ``length_scale`` along z."""

    def __init__(
        self, axis: FemurAxis, length_scale: float, soft_scale: float, shaft_radius_mm: float
    ) -> None:
        self.axis = axis
        self.length_scale = length_scale
        self.soft_scale = soft_scale
        self.shaft_radius_mm = shaft_radius_mm

    def soft(self, p: np.ndarray) -> np.ndarray:
        p = np.atleast_2d(np.asarray(p, float))
        a = self.axis(p[:, 2])
        d = p[:, :2] - a
        r = np.linalg.norm(d, axis=1)
        big_r = self.shaft_radius_mm
        r_new = np.where(r <= big_r, r, big_r + (r - big_r) * self.soft_scale)
        scale = np.divide(r_new, r, out=np.ones_like(r), where=r > 1e-12)
        out = np.column_stack([a + d * scale[:, None], p[:, 2] * self.length_scale])
        return out

    def bone(self, p: np.ndarray) -> np.ndarray:
        p = np.atleast_2d(np.asarray(p, float)).copy()
        p[:, 2] *= self.length_scale
        return p

    def soft_inverse(self, q: np.ndarray) -> np.ndarray:
        """The reference point that :meth:`soft` takes to ``q`` (exact: the radial scaling
        is monotonic and the axis is looked up at the reference level)."""
        q = np.atleast_2d(np.asarray(q, float))
        z = q[:, 2] / self.length_scale
        a = self.axis(z)
        d = q[:, :2] - a
        r_new = np.linalg.norm(d, axis=1)
        big_r = self.shaft_radius_mm
        r = np.where(r_new <= big_r, r_new, big_r + (r_new - big_r) / self.soft_scale)
        scale = np.divide(r, r_new, out=np.ones_like(r_new), where=r_new > 1e-12)
        return np.column_stack([a + d * scale[:, None], z])


def _fitted_limb(limb: dict[str, Any], warp: ThighWarp, fat_scale: float) -> dict[str, Any]:
    out = copy.deepcopy(limb)
    t = float(limb["skin_thickness_mm"])
    dirs = {"medial": (-1.0, 0.0), "lateral": (1.0, 0.0), "anterior": (0.0, -1.0), "posterior": (0.0, 1.0)}
    for sec in out["sections"]:
        z = float(sec["z_mm"])
        c = np.array(sec["centre_mm"], float)
        new_c = warp.soft(np.array([[c[0], c[1], z]]))[0]
        for key, dv in dirs.items():
            dv_arr = np.array(dv)
            fascia = c + dv_arr * (sec["half_extent_mm"][key] - t - sec["fat_mm"][key])
            moved = warp.soft(np.array([[fascia[0], fascia[1], z]]))[0]
            fascia_extent = float(abs((moved[:2] - new_c[:2]) @ dv_arr))
            fat = sec["fat_mm"][key] * fat_scale
            sec["fat_mm"][key] = round(fat, 4)
            sec["half_extent_mm"][key] = round(fascia_extent + fat + t, 4)
        sec["centre_mm"] = [round(float(new_c[0]), 4), round(float(new_c[1]), 4)]
        sec["z_mm"] = round(z * warp.length_scale, 4)
    z0, z1 = limb["z_range_mm"]
    out["z_range_mm"] = [z0 * warp.length_scale, z1 * warp.length_scale]
    return out


def mid_thigh_circumference(limb: dict[str, Any], z: float) -> float:
    env = LimbEnvelope.from_recipe(limb)
    theta = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    pts = env.surface_points(np.array([z]), theta, 0.0)[0]
    closed = np.vstack([pts, pts[:1]])
    return float(np.sum(np.linalg.norm(np.diff(closed[:, :2], axis=0), axis=1)))


def fitting_params(atlas: Atlas) -> FittingParams:
    """The atlas's fitting constants; an atlas without them cannot be fitted."""
    if atlas.fitting is None:
        raise ValueError(
            f"{atlas.path}: field 'fitting': value null: this atlas has no fitting constants "
            "(shaft_radius_mm, female_default_posterior_fat_mm), so it is not fitted to a patient profile"
        )
    return atlas.fitting


def fit_atlas(atlas: Atlas, patient: Any) -> Atlas:
    """A new atlas deformed to the patient's thigh length, girth and fat."""
    imported = [sid for sid, st in atlas.structures.items() if st.recipe.get("type") == "mesh"]
    if imported:
        raise ValueError(
            f"this atlas has imported surfaces ({', '.join(imported)}), which are one person's anatomy: "
            "it is not fitted to a patient profile; remove the profile or use the bundled atlas"
        )
    params = fitting_params(atlas)
    shaft_radius = params.shaft_radius_mm
    ref = atlas.reference_adult
    ref_length = float(ref["thigh_length_mm"])
    ref_fat = float(ref["posterior_subcutaneous_fat_mm"])
    length = getattr(patient, "thigh_length_mm", None) or ref_length
    fat = getattr(patient, "subcutaneous_fat_mm", None)
    if fat is None:
        fat = params.female_default_posterior_fat_mm if getattr(patient, "sex", None) == "female" else ref_fat
    length_scale = float(length) / ref_length
    fat_scale = float(fat) / ref_fat
    axis = FemurAxis(atlas)
    limb = atlas.document["limb"]
    z_mid_ref = (atlas.landmark("greater_trochanter")[2] + atlas.landmark("lateral_epicondyle")[2]) / 2

    circumference = getattr(patient, "mid_thigh_circumference_mm", None)
    soft_scale = 1.0
    if circumference is not None:
        target = float(circumference)

        def circ(s: float) -> float:
            w = ThighWarp(axis, length_scale, s, shaft_radius)
            return mid_thigh_circumference(_fitted_limb(limb, w, fat_scale), z_mid_ref * length_scale)

        lo, hi = 0.3, 3.0
        if not circ(lo) <= target <= circ(hi):
            raise ValueError(
                f"mid_thigh_circumference_mm {target:g} cannot be reached with a "
                f"{fat:g} mm fat layer on this atlas"
            )
        for _ in range(40):
            mid = (lo + hi) / 2
            if circ(mid) < target:
                lo = mid
            else:
                hi = mid
        soft_scale = (lo + hi) / 2

    warp = ThighWarp(axis, length_scale, soft_scale, shaft_radius)
    doc = copy.deepcopy(atlas.document)
    doc["limb"] = _fitted_limb(limb, warp, fat_scale)
    for st in doc["structures"]:
        rec = st["recipe"]
        if rec["type"] == "tube":
            rec["centreline_mm"] = np.round(warp.soft(np.array(rec["centreline_mm"], float)), 4).tolist()

    fitted = Atlas(
        path=atlas.path,
        document=doc,
        landmarks={},
        structures={},
        trigger_points={},
        rules=_fitted_rules(atlas.rules, warp),
        reference_adult=atlas.reference_adult,
        fitted=True,
        patient=patient,
        meshes_dir=None,
        fitting=atlas.fitting,
    )
    for sid, st in atlas.structures.items():
        new_recipe = next(s["recipe"] for s in doc["structures"] if s["id"] == sid)
        fitted.structures[sid] = type(st)(st.id, st.name, st.kind, st.role, new_recipe, st.info, st.safety)
        if st.recipe["type"] in ("loft", "packed", "sleeve"):
            m = atlas.mesh(sid)
            fitted.set_mesh(sid, SurfaceMesh(warp.soft(m.vertices), m.faces))
        elif st.recipe["type"] in ("bone", "skeleton"):
            m = atlas.mesh(sid)
            fitted.set_mesh(sid, SurfaceMesh(warp.bone(m.vertices), m.faces))

    env = LimbEnvelope.from_recipe(doc["limb"])
    for lid, lm in atlas.landmarks.items():
        if lid in BONE_LANDMARKS:
            pos = warp.bone(lm.position_mm)[0]
        elif lid in SKIN_LANDMARKS:
            z = lm.position_mm[2] * length_scale
            centre, ext, _ = env.at_levels(np.array([z]))
            pos = np.array([centre[0, 0], centre[0, 1] + ext[0, 3], z])
        else:
            pos = warp.soft(lm.position_mm)[0]
        fitted.landmarks[lid] = dataclasses.replace(lm, position_mm=pos)
    for tid, tp in atlas.trigger_points.items():
        fitted.trigger_points[tid] = dataclasses.replace(tp, position_mm=warp.soft(tp.position_mm)[0])
    fitted.document["fit"] = {
        "length_scale": length_scale,
        "soft_tissue_scale": soft_scale,
        "fat_scale": fat_scale,
    }
    return fitted


def _fitted_rules(rules: Rules, warp: ThighWarp) -> Rules:
    """The rules with their lines (near_line: drawn on the femur) moved as the bone moves."""
    if not rules.near_line:
        return rules
    moved = tuple(
        dataclasses.replace(
            r, line_mm=tuple((float(x), float(y), float(z)) for x, y, z in warp.bone(np.array(r.line_mm)))
        )
        for r in rules.near_line
    )
    return dataclasses.replace(rules, near_line=moved)


def warp_of(atlas: Atlas) -> ThighWarp | None:
    """The soft-tissue warp that made ``atlas`` from its reference adult; ``None`` for an
    atlas that was not fitted (the identity)."""
    fit = atlas.document.get("fit") if atlas.fitted else None
    if not fit:
        return None
    return ThighWarp(
        FemurAxis(atlas),
        float(fit["length_scale"]),
        float(fit["soft_tissue_scale"]),
        fitting_params(atlas).shaft_radius_mm,
    )


def same_fit(a: Atlas, b: Atlas) -> bool:
    """Are two fits of the same atlas the same deformation (nothing would move)?"""
    if a is b:
        return True
    fit_a = a.document.get("fit") if a.fitted else None
    fit_b = b.document.get("fit") if b.fitted else None
    return a.path == b.path and fit_a == fit_b


class FitMap:
    """Points and directions from one fit of an atlas to another fit of the same atlas.

    Both fits are warps of the same reference adult (an unfitted atlas is the identity
    fit), so a point of the source goes back to the reference through the source's warp
    inverse and forward through the target's warp: muscles, nerves, vessels, the femur's
    surroundings and trigger points move exactly as :func:`fit_atlas` moved them. The
    subcutaneous fat is not part of that warp (it takes the patient's own thickness),
    so a point on the source's skin lands near, not on, the target's skin: callers put
    skin points back on the target's skin themselves.

    Frame: the atlas (right-thigh) frame of ``design.md``; mirror left-side points first.
    """

    def __init__(self, source: Atlas, target: Atlas) -> None:
        self.source = source
        self.target = target
        self._from = warp_of(source)
        self._to = warp_of(target)

    def __call__(self, points_mm: np.ndarray) -> np.ndarray:
        """Mapped points, same shape as given ((3,) or (N, 3))."""
        p = np.asarray(points_mm, float)
        out = p.reshape(-1, 3)
        if self._from is not None:
            out = self._from.soft_inverse(out)
        if self._to is not None:
            out = self._to.soft(out)
        return out.reshape(p.shape)

    def linear_part(self, point_mm: np.ndarray, step_mm: float = 0.05) -> np.ndarray:
        """The map's Jacobian (3 x 3) at ``point_mm``, by central differences; a direction
        ``d`` at that point maps to ``J @ d`` (renormalise it)."""
        p = np.asarray(point_mm, float).reshape(3)
        steps = np.eye(3) * step_mm
        ahead = self(p + steps)
        behind = self(p - steps)
        return ((ahead - behind) / (2.0 * step_mm)).T

    def inverse(self) -> FitMap:
        return FitMap(self.target, self.source)
