"""The safety engine: one model per atlas (reference or fitted), checks of needles and
plans, the tissue ladder and the rules (the skin maps built on them are in maps.py).

    model = SafetyModel.for_atlas(load_atlas())
    report = model.check_needle(needle)
    plan_report = model_for_plan(plan).check_plan(plan)
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from thighmap.anatomy.atlas import Atlas
from thighmap.anatomy.meshgen import SurfaceMesh
from thighmap.planning import Needle, Plan, mirror_needle
from thighmap.safety import rules
from thighmap.safety.report import Finding, NearestDanger, NeedleReport, PlanReport, TissueSpan

if TYPE_CHECKING:
    from thighmap.safety.dangers import DangerSet
    from thighmap.safety.tissues import TissueIndex
    from thighmap.safety.tubes import CapsuleChains

_BUILDING = threading.Lock()  # one thread builds a model's danger set and tissue index

STATUS_CODES = ("safe", "caution", "danger")

# Which structure "holds" the tip when several overlap (branch points, tendon junctions).
_TIP_PRIORITY = {
    "nerve": 0,
    "artery": 0,
    "vein": 0,
    "muscle": 1,
    "tendon": 1,
    "bone": 2,
    "fascia": 3,
    "fat": 4,
    "skin": 5,
}


@dataclass
class BatchResult:
    """Results of check_many, one row per needle (status exact; see CapsuleChains.batch)."""

    status: np.ndarray  # (N,) int: 0 safe, 1 caution (danger structures only), 2 danger
    nearest_structure: list[str]
    nearest_clearance_mm: np.ndarray
    caution_clearance_mm: np.ndarray  # (N,) to the nearest caution zone, negative inside
    max_safe_depth_mm: np.ndarray
    limiting_structure: list[str | None]  # whose caution zone sets max_safe_depth_mm


class SafetyModel:
    """Everything needed to check needles against one atlas. Build once, query often."""

    _cache: ClassVar[weakref.WeakKeyDictionary[Atlas, SafetyModel]] = weakref.WeakKeyDictionary()

    def __init__(self, atlas: Atlas, side: str = "right", mesh_only: Iterable[str] = ()) -> None:
        """`mesh_only`: danger structures to check against their triangles even where a
        centreline exists (structures without one always are)."""
        self.atlas = atlas
        self.side = side
        self.names = {sid: st.name for sid, st in atlas.structures.items()}
        self._mesh_only = tuple(mesh_only)
        # the danger set and the tissue index, built at first use (the window draws the
        # atlas before anything is checked); shared with the left-thigh view of the model
        self._parts: dict[str, Any] = {}
        if self._mesh_only:
            self.dangers  # noqa: B018 - built now: an unknown structure is an error here
        self._skin_outer: tuple[SurfaceMesh, np.ndarray, np.ndarray] | None = None

    def _part(self, name: str) -> Any:
        parts = self._parts
        if name not in parts:
            with _BUILDING:
                if name not in parts:
                    if name == "dangers":
                        from thighmap.safety.dangers import DangerSet

                        parts[name] = DangerSet(self.atlas, self._mesh_only)
                    else:
                        from thighmap.safety.tissues import TissueIndex

                        meshes = {sid: self.atlas.mesh(sid) for sid in self.atlas.structures}
                        parts[name] = TissueIndex(meshes)
        return parts[name]

    @property
    def dangers(self) -> DangerSet:
        """Every danger structure, checked exactly (safety/dangers.py)."""
        return self._part("dangers")

    @dangers.setter
    def dangers(self, value: DangerSet) -> None:  # for a view of the model (safety/prefetch.py)
        self._parts = {**self._parts, "dangers": value}

    @property
    def chains(self) -> CapsuleChains:
        """The tube structures."""
        return self.dangers.chains

    @property
    def tissues(self) -> TissueIndex:
        """Which structures a line passes (safety/tissues.py)."""
        return self._part("tissues")

    @tissues.setter
    def tissues(self, value: TissueIndex) -> None:
        self._parts = {**self._parts, "tissues": value}

    @classmethod
    def for_atlas(cls, atlas: Atlas) -> SafetyModel:
        model = cls._cache.get(atlas)
        if model is None:
            model = cls(atlas)
            cls._cache[atlas] = model
        return model

    # ------------------------------------------------------------------ skin
    def _outer_skin(self) -> tuple[SurfaceMesh, np.ndarray, np.ndarray]:
        """The outer surface of the skin (skin triangles not shared with the fat layer),
        the points of its vertices and the vertex normals."""
        if self._skin_outer is None:
            skin = self.atlas.mesh("skin")
            faces = skin.faces
            if "subcutaneous_fat" in self.atlas.structures:
                fat = self.atlas.mesh("subcutaneous_fat")
                fat_keys = {tuple(v) for v in np.round(fat.vertices, 4)}
                shared = np.array([tuple(v) in fat_keys for v in np.round(skin.vertices, 4)])
                faces = faces[~shared[faces].any(axis=1)]
            v = skin.vertices
            vn = _vertex_normals(SurfaceMesh(v, faces))
            used = np.unique(faces)
            self._skin_outer = (SurfaceMesh(v, faces), np.ascontiguousarray(v[used]), vn)
            self._skin_used = used
            # vertex -> faces incidence for local search
            order = np.argsort(faces.ravel(), kind="stable")
            self._vf_faces = order // 3
            self._vf_start = np.searchsorted(faces.ravel()[order], np.arange(len(v)))
            self._vf_stop = np.searchsorted(faces.ravel()[order], np.arange(len(v)), side="right")
        return self._skin_outer

    def skin_surface_frame(self, point_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Closest point on the outer skin surface and the inward unit normal there."""
        from thighmap.safety.geometry import point_triangle_closest

        point = np.asarray(point_mm, float)
        flip = self.side == "left"
        if flip:
            point = point * np.array([-1.0, 1.0, 1.0])
        mesh, points, vn = self._outer_skin()
        verts = self._skin_used[_nearest(points, point, 12)]
        faces = np.unique(
            np.concatenate([self._vf_faces[self._vf_start[v] : self._vf_stop[v]] for v in verts])
        )
        tri = mesh.vertices[mesh.faces[faces]]
        dist, closest = point_triangle_closest(
            np.broadcast_to(point, (len(faces), 3)), tri[:, 0], tri[:, 1], tri[:, 2]
        )
        i = int(np.argmin(dist))
        q = closest[i]
        a, b, c = tri[i]
        # barycentric interpolation of vertex normals gives a smooth normal field
        m = np.array([b - a, c - a]).T
        w = np.linalg.lstsq(m, q - a, rcond=None)[0]
        f = mesh.faces[faces[i]]
        n = (1 - w.sum()) * vn[f[0]] + w[0] * vn[f[1]] + w[1] * vn[f[2]]
        n = -n / np.linalg.norm(n)
        if flip:
            q = q * np.array([-1.0, 1.0, 1.0])
            n = n * np.array([-1.0, 1.0, 1.0])
        return q, n

    # ------------------------------------------------------------------ trigger points
    def needle_from_trigger_point(self, tp_id: str, needle_id: str | None = None) -> Needle:
        """The recommended technique for a trigger point as a needle on this atlas.

        The entry is where the line through the site, along the technique's direction,
        leaves the skin; the tip is placed at the site."""
        tp = self.atlas.trigger_points[tp_id]
        site = tp.position_mm
        d = tp.technique.direction
        back = self.tissues.intervals(site, -d, 300.0)
        skin = [iv for iv in back if iv.structure == "skin"]
        if not skin:
            raise ValueError(f"trigger point {tp_id}: the line along its technique never meets the skin")
        depth = float(skin[0].exit_mm)
        entry = site - d * depth
        needle = Needle(
            id=needle_id or tp_id,
            entry_mm=entry,
            direction=d,
            depth_mm=round(depth, 3),
            needle_length_mm=tp.technique.needle_length_mm,
            gauge_mm=tp.technique.gauge_mm,
            target=tp.muscle,
            note=f"{tp.name}: {tp.technique.text}",
            source={"kind": "trigger_point", "trigger_point": tp_id},
        )
        return mirror_needle(needle) if self.side == "left" else needle

    # ------------------------------------------------------------------ checks
    def check_needle(self, needle: Needle) -> NeedleReport:
        if self.side == "left":
            report = self._check_right(mirror_needle(needle))
            return _mirror_report(report)
        return self._check_right(needle)

    def _check_right(self, needle: Needle) -> NeedleReport:
        entry = np.asarray(needle.entry_mm, float)
        direction = np.asarray(needle.direction, float)
        direction = direction / np.linalg.norm(direction)
        depth = float(needle.depth_mm)
        tip = entry + direction * depth
        gauge = float(needle.gauge_mm)
        res = self.dangers.needle_clearances(entry, tip, gauge)
        first = self.dangers.first_caution_hit(
            entry, direction, gauge, max(float(needle.needle_length_mm), depth)
        )
        ids = self.dangers.structure_ids
        k_near = int(np.argmin(res["clearance"]))
        k_limit = int(np.argmin(first))
        max_safe = float(min(first[k_limit], needle.needle_length_mm))
        limiting = (
            ids[k_limit]
            if np.isfinite(first[k_limit]) and first[k_limit] <= needle.needle_length_mm
            else None
        )
        nearest = NearestDanger(
            structure=ids[k_near],
            clearance_mm=float(res["clearance"][k_near]),
            zone_clearance_mm=float(res["zone"][k_near]),
            point_on_structure_mm=res["point_on_structure"][k_near],
            point_on_needle_mm=res["point_on_needle"][k_near],
            depth_on_needle_mm=float(res["s"][k_near] * depth),
        )
        line = self.tissues.intervals(entry, direction, depth, behind=True)
        ladder = [
            type(iv)(iv.structure, max(iv.enter_mm, 0.0), iv.exit_mm) for iv in line if iv.exit_mm >= 0.0
        ]
        tissues = [TissueSpan(iv.structure, iv.enter_mm, iv.exit_mm) for iv in ladder]
        tip_holders = [iv.structure for iv in ladder if iv.exit_mm >= depth - 1e-9]
        tip_in = min(
            tip_holders,
            key=lambda s: _TIP_PRIORITY.get(self.atlas.structures[s].kind, 9),
            default=None,
        )
        findings: list[Finding] = []
        for k, sid in enumerate(ids):
            name = self.names[sid]
            spec = self.atlas.structures[sid].safety
            assert spec is not None
            if res["zone"][k] < 0:
                findings.append(
                    Finding(
                        "danger_zone",
                        "danger",
                        f"The needle enters the danger zone of the {name} (the structure grown by "
                        "its positional uncertainty): "
                        + (
                            f"it enters the modelled structure by {-res['clearance'][k]:.1f} mm."
                            if res["clearance"][k] < 0
                            else f"it passes {res['clearance'][k]:.1f} mm from the modelled structure."
                        )
                        + f" Stop short of {first[k]:.1f} mm on this line or change the angle.",
                        sid,
                    )
                )
            elif res["caution"][k] < 0:
                findings.append(
                    Finding(
                        "caution_margin",
                        "caution",
                        f"The needle comes within the {spec.caution_margin_mm:.0f} mm caution margin "
                        f"of the {name}'s danger zone ({res['zone'][k]:.1f} mm from the zone, "
                        f"{res['clearance'][k]:.1f} mm from the structure). On this line it is "
                        f"clear only down to {first[k]:.1f} mm.",
                        sid,
                    )
                )
        findings += rules.evaluate(self.atlas, needle, direction, depth, ladder, line, tip_in)
        status = "safe"
        if any(f.severity == "danger" for f in findings):
            status = "danger"
        elif any(f.severity == "caution" for f in findings):
            status = "caution"
        severity_rank = {"danger": 0, "caution": 1, "note": 2}
        findings.sort(key=lambda f: severity_rank.get(f.severity, 3))
        return NeedleReport(
            id=needle.id,
            status=status,
            nearest_danger=nearest,
            clearances_mm={sid: float(res["clearance"][k]) for k, sid in enumerate(ids)},
            zone_clearances_mm={sid: float(res["zone"][k]) for k, sid in enumerate(ids)},
            max_safe_depth_mm=max_safe,
            limiting_structure=limiting,
            tissues=tissues,
            tip_in=tip_in,
            findings=findings,
            entry_mm=entry,
            direction=direction,
            depth_mm=depth,
            needle_length_mm=float(needle.needle_length_mm),
            gauge_mm=gauge,
            target=needle.target,
            names=self.names,
        )

    def check_plan(self, plan: Plan, plan_path: str | None = None) -> PlanReport:
        """check_needle for every needle of the plan (the geometry of many needles computed
        in batches: safety/prefetch.py; the reports are the same)."""
        from thighmap.safety.prefetch import check_needles

        return PlanReport(
            plan_path=plan_path,
            side=plan.side,
            needles=list(check_needles(self, plan.needles)),
            patient_fitted=self.atlas.fitted,
        )

    def check_many(
        self,
        entry_mm: np.ndarray,
        direction: np.ndarray,
        depth_mm: np.ndarray,
        gauge_mm: np.ndarray | float = 0.25,
        needle_length_mm: np.ndarray | float | None = None,
    ) -> BatchResult:
        """Vectorised check of N needles against the danger structures.

        The status here covers the danger zones and caution margins (the geometric core
        of the check); the per-needle rules (bone, shaft, regional) need the tissue
        ladder and are applied by check_needle."""
        entry = np.asarray(entry_mm, float).reshape(-1, 3)
        n = len(entry)
        direction = np.asarray(direction, float).reshape(-1, 3)
        if self.side == "left":
            entry = entry * np.array([-1.0, 1.0, 1.0])
            direction = direction * np.array([-1.0, 1.0, 1.0])
        depth = np.broadcast_to(np.asarray(depth_mm, float), (n,))
        gauge = np.broadcast_to(np.asarray(gauge_mm, float), (n,))
        reach = (
            depth if needle_length_mm is None else np.broadcast_to(np.asarray(needle_length_mm, float), (n,))
        )
        out = self.dangers.batch(entry, direction, depth, gauge, np.maximum(reach, depth))
        status = np.where(out["min_zone"] < 0, 2, np.where(out["min_caution"] < 0, 1, 0))
        ids = self.dangers.structure_ids
        limiting = np.where(out["first_caution_depth"] <= reach, out["first_caution_structure"], -1)
        return BatchResult(
            status=status,
            nearest_structure=[ids[k] for k in out["nearest"]],
            nearest_clearance_mm=out["nearest_clearance"],
            caution_clearance_mm=out["min_caution"],
            max_safe_depth_mm=np.minimum(out["first_caution_depth"], reach),
            limiting_structure=[ids[k] if k >= 0 else None for k in limiting],
        )

    # ------------------------------------------------------------------ skin vertices
    def outer_skin(self) -> SurfaceMesh:
        """The outer skin surface on this model's side; its vertices are skin_points()."""
        mesh, _, _ = self._outer_skin()
        used = self._skin_used
        remap = np.full(len(mesh.vertices), -1, np.int64)
        remap[used] = np.arange(len(used))
        verts, faces = mesh.vertices[used], remap[mesh.faces]
        if self.side == "left":
            return SurfaceMesh(verts * np.array([-1.0, 1.0, 1.0]), faces[:, ::-1].copy())
        return SurfaceMesh(verts, faces)

    def skin_points(self) -> tuple[np.ndarray, np.ndarray]:
        """Vertices of the outer skin and their inward normals (for maps)."""
        mesh, _, vn = self._outer_skin()
        used = self._skin_used
        pts, nrm = mesh.vertices[used], -vn[used]
        if self.side == "left":
            pts = pts * np.array([-1.0, 1.0, 1.0])
            nrm = nrm * np.array([-1.0, 1.0, 1.0])
        return pts, nrm

    def danger_zone_mesh(self, sid: str) -> SurfaceMesh:
        """The danger structure grown by its positional uncertainty (for drawing)."""
        from thighmap.anatomy import meshgen, shapes

        st = self.atlas.structures[sid]
        assert st.safety is not None
        if st.is_tube:
            tube = self.atlas.tube(sid)
            seg = np.linalg.norm(np.diff(tube.centres_mm, axis=0), axis=1)
            s = np.concatenate([[0.0], np.cumsum(seg)]) / seg.sum()
            grown = shapes.TubeSamples(
                tube.centres_mm, tube.radii_mm + st.safety.uncertainty_at(s, self.atlas.fitted)
            )
            mesh = meshgen.tube_mesh(grown, chord_error_mm=0.3)
        else:  # a surface without centreline: pushed out along its normals (drawing only)
            surface = self.atlas.mesh(sid)
            unc = float(np.max(st.safety.uncertainty_at(np.linspace(0.0, 1.0, 201), self.atlas.fitted)))
            mesh = SurfaceMesh(surface.vertices + _vertex_normals(surface) * unc, surface.faces)
        if self.side == "left":
            mesh = SurfaceMesh(mesh.vertices * np.array([-1.0, 1.0, 1.0]), mesh.faces[:, ::-1].copy())
        return mesh


def _nearest(points: np.ndarray, point: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k points nearest to `point` (all of them if there are fewer)."""
    diff = points - point
    d2 = np.einsum("ij,ij->i", diff, diff)
    if len(d2) <= k:
        return np.arange(len(d2))
    return np.argpartition(d2, k - 1)[:k]


def _vertex_normals(mesh: SurfaceMesh) -> np.ndarray:
    v, f = mesh.vertices, mesh.faces
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    vn = np.zeros_like(v)
    for k in range(3):
        np.add.at(vn, f[:, k], fn)
    norm = np.linalg.norm(vn, axis=1, keepdims=True)
    return np.divide(vn, norm, out=np.zeros_like(vn), where=norm > 0)


def _mirror_report(report: NeedleReport) -> NeedleReport:
    flip = np.array([-1.0, 1.0, 1.0])
    nd = report.nearest_danger
    if nd is not None:
        report.nearest_danger = NearestDanger(
            nd.structure,
            nd.clearance_mm,
            nd.zone_clearance_mm,
            nd.point_on_structure_mm * flip,
            nd.point_on_needle_mm * flip,
            nd.depth_on_needle_mm,
        )
    report.entry_mm = report.entry_mm * flip
    report.direction = report.direction * flip
    return report


_FITTED: dict[tuple, Atlas] = {}


def _patient_key(patient: object) -> tuple:
    return tuple(
        getattr(patient, f, None)
        for f in ("thigh_length_mm", "mid_thigh_circumference_mm", "subcutaneous_fat_mm", "sex")
    )


def model_for_patient(patient: object | None, base: Atlas | None = None, side: str = "right") -> SafetyModel:
    """The model for a patient profile (None: the reference adult) on one side.

    Fitted atlases are cached per profile, so asking again is cheap."""
    atlas = base if base is not None else _default_atlas()
    if patient is not None and _has_measurements(patient):
        from thighmap.anatomy.fitting import fit_atlas

        key = (id(atlas), _patient_key(patient))
        if key not in _FITTED:
            if len(_FITTED) > 8:
                _FITTED.clear()
            _FITTED[key] = fit_atlas(atlas, patient)
        atlas = _FITTED[key]
    model = SafetyModel.for_atlas(atlas)
    if side == "left":
        left = SafetyModel.__new__(SafetyModel)
        left.__dict__.update(model.__dict__)
        left.side = "left"
        return left
    return model


_DEFAULT: list[Atlas] = []


def _default_atlas() -> Atlas:
    from thighmap.anatomy.atlas import load_atlas

    if not _DEFAULT:
        _DEFAULT.append(load_atlas())
    return _DEFAULT[0]


def model_for_plan(plan: Plan, base: Atlas | None = None) -> SafetyModel:
    """The model a plan is checked against: fitted to its patient, on its side."""
    return model_for_patient(plan.patient, base, plan.side)


class PlanningAtlas:
    """The atlas as the plan loader sees it (planning.AtlasForPlanning), on the model's
    subject, in the atlas (right-thigh) frame: the loader mirrors left plans itself."""

    def __init__(self, model: SafetyModel) -> None:
        self.model = model if model.side == "right" else SafetyModel.for_atlas(model.atlas)

    @property
    def structure_ids(self) -> set[str]:
        return self.model.atlas.structure_ids

    @property
    def trigger_point_ids(self) -> set[str]:
        return self.model.atlas.trigger_point_ids

    def trigger_point_technique(self, tp_id: str) -> dict:
        n = self.model.needle_from_trigger_point(tp_id)
        return {
            "entry_mm": n.entry_mm,
            "direction": n.direction,
            "depth_mm": n.depth_mm,
            "needle_length_mm": n.needle_length_mm,
            "gauge_mm": n.gauge_mm,
            "target": n.target,
        }

    def skin_surface_frame(self, point_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.model.skin_surface_frame(point_mm)


def load_plan_for_checking(path: str, base: Atlas | None = None) -> tuple[Plan, SafetyModel]:
    """Load a plan and the model it is checked against. Trigger-point and angle
    statements resolve on the patient's fitted atlas. Raises planning.PlanError."""
    import json

    from thighmap.planning import PatientProfile, load_plan

    patient = None
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
        p = raw.get("patient") if isinstance(raw, dict) else None
        if isinstance(p, dict):
            fields = ("thigh_length_mm", "mid_thigh_circumference_mm", "subcutaneous_fat_mm", "sex")
            patient = PatientProfile(**{k: p[k] for k in fields if k in p})
            if patient.problems():
                patient = None
    except (OSError, ValueError, TypeError):
        patient = None  # the full load below reports the problem properly
    model = model_for_patient(patient, base)
    plan = load_plan(path, known=PlanningAtlas(model))
    return plan, model_for_patient(plan.patient, base, plan.side)


def _has_measurements(patient: object) -> bool:
    return any(
        getattr(patient, f, None) is not None
        for f in ("thigh_length_mm", "mid_thigh_circumference_mm", "subcutaneous_fat_mm")
    )
