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

from thighmap import sides
from thighmap.anatomy.atlas import Atlas
from thighmap.anatomy.meshgen import SurfaceMesh
from thighmap.planning import Needle, Plan
from thighmap.safety import rules, wording
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

    # (N,) int: 0 safe, 1 caution (a danger structure's margin, or a caution structure's
    # contact, zone or margin), 2 danger (a danger structure's zone)
    status: np.ndarray
    nearest_structure: list[str]
    nearest_clearance_mm: np.ndarray
    caution_clearance_mm: np.ndarray  # (N,) to the nearest caution zone, negative inside
    max_safe_depth_mm: np.ndarray  # as NeedleReport.max_safe_depth_mm (every depth rule)
    limiting_structure: list[str | None]  # whose caution zone (or bone) sets max_safe_depth_mm
    limiting_rule: list[str | None]  # the rule that sets it
    # the nearest caution structure (None: the atlas has none) and its clearance (inf: none)
    nearest_caution_structure: list[str | None] | None = None
    nearest_caution_clearance_mm: np.ndarray | None = None


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
        self._bone_index: TissueIndex | None = None
        self._outer_index: TissueIndex | None = None

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
                shared = _rows_in(np.round(skin.vertices, 4), np.round(fat.vertices, 4))
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
            self._skin_nearest = NearestPoints(self._skin_outer[1])
        return self._skin_outer

    def _skin_frame_at(self, q: np.ndarray, face: int) -> tuple[np.ndarray, np.ndarray]:
        """(q, the inward unit normal at q), q a point of the outer-skin face `face`."""
        mesh, _, vn = self._outer_skin()
        f = mesh.faces[face]
        a, b, c = mesh.vertices[f]
        # barycentric interpolation of vertex normals gives a smooth normal field
        m = np.array([b - a, c - a]).T
        w = np.linalg.lstsq(m, q - a, rcond=None)[0]
        n = (1 - w.sum()) * vn[f[0]] + w[0] * vn[f[1]] + w[1] * vn[f[2]]
        n = -n / np.linalg.norm(n)
        return q, n

    def skin_surface_frame(self, point_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Closest point on the outer skin surface and the inward unit normal there."""
        point = sides.to_atlas_frame(point_mm, self.side)
        q, n = self._skin_frame_right(point)
        return sides.from_atlas_frame(q, self.side), sides.from_atlas_frame(n, self.side)

    def _skin_frame_right(self, point: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """skin_surface_frame in the atlas (right-thigh) frame."""
        self._outer_skin()
        near = self._skin_nearest.nearest(point, SKIN_VERTICES)[None]
        return self._skin_frames_near(np.asarray(point, float).reshape(1, 3), near)[0]

    def _skin_frames_right(self, points: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """_skin_frame_right of N points (N,3) at once."""
        self._outer_skin()
        points = np.ascontiguousarray(points, float).reshape(-1, 3)
        return self._skin_frames_near(points, self._skin_nearest.nearest_many(points, SKIN_VERTICES))

    def _skin_frames_near(self, points: np.ndarray, near: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """The skin frames of N points (N,3) on the outer-skin faces around the skin
        vertices near[j] (indices into the used vertices): the closest point on those
        faces found compiled (kernels.closest_on_vertex_faces, the same bits as
        geometry.point_triangle_closest), or by _skin_frame_on_faces where it leaves the
        choice to numpy."""
        from thighmap.safety import kernels  # numba: loaded at the first check

        mesh, _, _ = self._outer_skin()
        near = np.ascontiguousarray(self._skin_used[near], np.int64)
        if not compiled_skin_search_agrees():
            return [self._skin_frame_on_faces(points[j], near[j]) for j in range(len(points))]
        q, face = np.empty((len(points), 3)), np.empty(len(points), np.int64)
        ok = kernels.closest_on_vertex_faces(
            np.ascontiguousarray(points, float),
            near,
            self._vf_faces,
            self._vf_start,
            self._vf_stop,
            mesh.vertices,
            mesh.faces,
            q,
            face,
        )
        return [
            self._skin_frame_at(q[j], int(face[j]))
            if ok[j]
            else self._skin_frame_on_faces(points[j], near[j])
            for j in range(len(points))
        ]

    def _skin_frame_on_faces(self, point: np.ndarray, verts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The skin frame at the closest point to `point` on the faces around the mesh
        vertices `verts` (numpy: geometry.point_triangle_closest)."""
        from thighmap.safety.geometry import point_triangle_closest

        mesh, _, _ = self._outer_skin()
        faces = np.unique(
            np.concatenate([self._vf_faces[self._vf_start[v] : self._vf_stop[v]] for v in verts])
        )
        tri = mesh.vertices[mesh.faces[faces]]
        dist, closest = point_triangle_closest(
            np.broadcast_to(point, (len(faces), 3)), tri[:, 0], tri[:, 1], tri[:, 2]
        )
        i = int(np.argmin(dist))
        return self._skin_frame_at(closest[i], int(faces[i]))

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
        return sides.mirror_needle(needle) if sides.is_mirrored(self.side) else needle

    # ------------------------------------------------------------------ checks
    def check_needle(self, needle: Needle, contraindications: dict[str, bool] | None = None) -> NeedleReport:
        """The report of one needle (in this model's side's frame). `contraindications`:
        the plan's checklist (planning.Plan.contraindications); each "yes" adds its finding."""
        if sides.is_mirrored(self.side):
            return sides.mirror_report(self._check_right(sides.mirror_needle(needle), contraindications))
        return self._check_right(needle, contraindications)

    def _check_right(self, needle: Needle, contraindications: dict[str, bool] | None = None) -> NeedleReport:
        entry = np.asarray(needle.entry_mm, float)
        direction = np.asarray(needle.direction, float)
        direction = direction / np.linalg.norm(direction)
        depth = float(needle.depth_mm)
        length = float(needle.needle_length_mm)
        reach = max(length, depth)
        tip = entry + direction * depth
        gauge = float(needle.gauge_mm)
        res = self.dangers.needle_clearances(entry, tip, gauge)
        first = self.dangers.first_caution_hit(entry, direction, gauge, reach)
        ids = self.dangers.structure_ids
        n_danger = self.dangers.n_danger
        nearest = _nearest_of(ids, res, depth, 0, n_danger)
        nearest_caution = _nearest_of(ids, res, depth, n_danger, len(ids))
        # the whole line, from outside the body to the needle's length: the skin behind
        # and ahead of the entry, the ladder to the tip, and the bone ahead for the limit
        line = self.tissues.intervals(entry, direction, reach, behind=True)
        ladder = [
            type(iv)(iv.structure, max(iv.enter_mm, 0.0), min(iv.exit_mm, depth))
            for iv in line
            if iv.exit_mm > 0.0 and iv.enter_mm <= depth  # not what the line left behind the entry
        ]
        tissues = [TissueSpan(iv.structure, iv.enter_mm, iv.exit_mm) for iv in ladder]
        tip_holders = [iv.structure for iv in ladder if iv.exit_mm >= depth - 1e-9]
        tip_in = min(
            tip_holders,
            key=lambda s: _TIP_PRIORITY.get(self.atlas.structures[s].kind, 9),
            default=None,
        )
        bone = self.atlas.rules.bone_strike
        bone_hit = rules.first_enter(line, bone.structures) if bone is not None else None
        k_first = int(np.argmin(first))
        max_safe, limiting_rule, limiting = self._max_safe_depth(
            entry[None],
            direction[None],
            np.array([length]),
            np.array([first[k_first]]),
            np.array([k_first if np.isfinite(first[k_first]) else -1]),
            np.array([bone_hit[1] if bone_hit else np.inf]),
            [bone_hit[0] if bone_hit else None],
            np.array([gauge]),
        )
        findings: list[Finding] = []
        for k, sid in enumerate(ids):
            name = self.names[sid]
            spec = self.atlas.structures[sid].safety
            assert spec is not None
            if k >= n_danger:  # a caution structure: its contact, zone or margin is a caution
                if res["caution"][k] < -rules.BOUNDARY_MM:
                    kind = self.atlas.structures[sid].kind
                    findings.append(
                        Finding(
                            "caution_structure",
                            "caution",
                            wording.caution_structure_message(
                                name,
                                kind,
                                spec.caution_margin_mm,
                                float(res["zone"][k]),
                                float(res["clearance"][k]),
                                float(first[k]),
                                bleeding=rules.vessel_margin_severity(
                                    self.atlas.rules, contraindications, kind
                                )
                                is not None,
                            ),
                            sid,
                        )
                    )
                continue
            if res["zone"][k] < -rules.BOUNDARY_MM:
                findings.append(
                    Finding(
                        "danger_zone",
                        "danger",
                        wording.danger_zone_message(name, float(res["clearance"][k]), float(first[k])),
                        sid,
                    )
                )
            elif res["caution"][k] < -rules.BOUNDARY_MM:
                message = wording.caution_margin_message(
                    name,
                    spec.caution_margin_mm,
                    float(res["zone"][k]),
                    float(res["clearance"][k]),
                    float(first[k]),
                )
                raised = rules.vessel_margin_severity(
                    self.atlas.rules, contraindications, self.atlas.structures[sid].kind
                )
                severity = "caution"
                if raised is not None:
                    severity, extra = raised
                    message = f"{message} {extra}"
                findings.append(Finding("caution_margin", severity, message, sid))
        findings += rules.evaluate(self.atlas, needle, direction, depth, ladder, tip_in)
        if self.atlas.rules.entry is not None:
            findings += rules.entry_findings(
                self.atlas.rules.entry,
                self._skin_contact(entry, direction),
                line,
                self._outer_skin_crossings(entry, direction, depth),
                depth,
            )
        findings += rules.contraindication_findings(self.atlas.rules, contraindications)
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
            nearest_caution=nearest_caution,
            caution_structures=tuple(ids[n_danger:]),
            clearances_mm={sid: float(res["clearance"][k]) for k, sid in enumerate(ids)},
            zone_clearances_mm={sid: float(res["zone"][k]) for k, sid in enumerate(ids)},
            max_safe_depth_mm=float(max_safe[0]),
            limiting_structure=limiting[0],
            limiting_rule=limiting_rule[0],
            tissues=tissues,
            tip_in=tip_in,
            findings=findings,
            entry_mm=entry,
            direction=direction,
            depth_mm=depth,
            needle_length_mm=length,
            gauge_mm=gauge,
            target=needle.target,
            names=self.names,
        )

    def _skin_contact(self, entry: np.ndarray, direction: np.ndarray) -> rules.SkinContact:
        """Where the entry lies relative to the outer skin, and the needle's angle to the
        inward normal there (atlas frame)."""
        q, inward = self._skin_frame_right(entry)
        offset = entry - q
        cos = float(np.clip(direction @ inward, -1.0, 1.0))
        return rules.SkinContact(
            distance_mm=float(np.linalg.norm(offset)),
            outside=bool(offset @ inward < 0.0),
            angle_deg=float(np.degrees(np.arccos(cos))),
        )

    def _outer_skin_crossings(
        self, entry: np.ndarray, direction: np.ndarray, length_mm: float
    ) -> list[float]:
        """Sorted depths (negative behind the entry) at which the needle's line crosses the
        outer surface of the skin, from where it starts outside every surface up to
        `length_mm` (atlas frame)."""
        return [float(v) for v in self._outer_skin_index().crossing_depths(entry, direction, length_mm)]

    def _outer_skin_index(self) -> TissueIndex:
        """The outer skin closed at its cut ends, as a TissueIndex (built at first use)."""
        if self._outer_index is None:
            mesh, _, _ = self._outer_skin()
            # the body ends where the model is cut off (hip and leg): close the outer skin
            # there, so a needle leaving the model through a cut end counts as leaving it
            from thighmap.safety.tissues import TissueIndex

            self._outer_index = TissueIndex({"skin": close_open_ends(mesh)})
        return self._outer_index

    def _max_safe_depth(
        self,
        entry: np.ndarray,
        direction: np.ndarray,
        needle_length_mm: np.ndarray,
        caution: np.ndarray,
        caution_structure: np.ndarray,
        bone_enter_mm: np.ndarray,
        bone_structure: list[str | None],
        gauge_mm: np.ndarray,
    ) -> tuple[np.ndarray, list[str | None], list[str | None]]:
        """For N needles (atlas frame): the maximum safe depth (the depth at which the
        first depth-dependent rule would fire, capped at the needle's length), the rule
        that sets it and its structure. `caution`: the depth at which the first danger or
        caution structure's caution zone is reached (inf: never), `caution_structure` its
        index in the danger set (-1: none); `bone_enter_mm`: where the line first meets bone
        (inf: never); `gauge_mm`: the needles' gauges (the near-line rules count the
        needle's width)."""
        ids = self.dangers.structure_ids
        k = caution_structure
        limit, which = rules.depth_limits(
            self.atlas, entry, direction, needle_length_mm, bone_enter_mm, gauge_mm
        )
        max_safe = np.minimum(np.minimum(caution, limit), needle_length_mm)
        rule: list[str | None] = []
        structure: list[str | None] = []
        for i in range(len(k)):
            # k[i] < 0: no caution zone on this line (with no needle length, every limit
            # may be infinite: then nothing sets the depth)
            if k[i] >= 0 and caution[i] <= limit[i] and caution[i] <= needle_length_mm[i]:
                rule.append("caution_structure" if k[i] >= self.dangers.n_danger else "caution_margin")
                structure.append(ids[k[i]])
            elif limit[i] <= needle_length_mm[i]:
                rule.append(which[i])
                structure.append(bone_structure[i] if which[i] == "bone_strike" else None)
            else:
                rule.append(None)
                structure.append(None)
        return max_safe, rule, structure

    def check_plan(self, plan: Plan, plan_path: str | None = None) -> PlanReport:
        """check_needle for every needle of the plan (the geometry of many needles computed
        in batches: safety/prefetch.py; the reports are the same)."""
        from thighmap.safety.prefetch import check_needles

        return PlanReport(
            plan_path=plan_path,
            side=plan.side,
            needles=list(check_needles(self, plan.needles, plan.contraindications)),
            patient_fitted=self.atlas.fitted,
            findings=rules.contraindication_findings(self.atlas.rules, plan.contraindications),
        )

    def check_many(
        self,
        entry_mm: np.ndarray,
        direction: np.ndarray,
        depth_mm: np.ndarray,
        gauge_mm: np.ndarray | float = 0.25,
        needle_length_mm: np.ndarray | float | None = None,
        *,
        max_safe_depth: bool = True,
    ) -> BatchResult:
        """Vectorised check of N needles against the danger and caution structures.

        The status here covers the danger zones and caution margins and the caution
        structures (the geometric core of the check); the other rules need the tissue
        ladder and are applied by check_needle. The maximum safe depth is check_needle's:
        every depth rule (the caution margins, the shaft rule when a needle length is
        given, bone, the regional depth limits). With `max_safe_depth=False` (a caller that only wants the
        statuses and clearances, such as the approach map) it is not computed: NaN, with
        no limiting rule or structure."""
        entry = np.asarray(entry_mm, float).reshape(-1, 3)
        n = len(entry)
        direction = np.asarray(direction, float).reshape(-1, 3)
        entry = sides.to_atlas_frame(entry, self.side)
        direction = sides.to_atlas_frame(direction, self.side)
        depth = np.broadcast_to(np.asarray(depth_mm, float), (n,))
        gauge = np.broadcast_to(np.asarray(gauge_mm, float), (n,))
        reach = (
            depth if needle_length_mm is None else np.broadcast_to(np.asarray(needle_length_mm, float), (n,))
        )
        reach = np.maximum(reach, depth)
        out = self.dangers.batch(entry, direction, depth, gauge, reach)
        edge = -rules.BOUNDARY_MM
        status = np.where(out["min_zone"] < edge, 2, np.where(out["min_caution"] < edge, 1, 0))
        ids = self.dangers.structure_ids
        near_caution: dict[str, Any] = {
            "nearest_caution_structure": [ids[k] for k in out["nearest_caution"]]
            if "nearest_caution" in out
            else [None] * n,
            "nearest_caution_clearance_mm": out.get("nearest_caution_clearance", np.full(n, np.inf)),
        }
        unit = direction / np.linalg.norm(direction, axis=1, keepdims=True)
        lengths = (
            np.full(n, np.inf)
            if needle_length_mm is None
            else np.broadcast_to(np.asarray(needle_length_mm, float), (n,))
        )
        if not max_safe_depth:
            return BatchResult(
                status=status,
                nearest_structure=[ids[k] for k in out["nearest"]],
                nearest_clearance_mm=out["nearest_clearance"],
                caution_clearance_mm=out["min_caution"],
                max_safe_depth_mm=np.full(n, np.nan),
                limiting_structure=[None] * n,
                limiting_rule=[None] * n,
                **near_caution,
            )
        # bone only matters where it comes before every other limit: trace it that far
        others, _ = rules.depth_limits(self.atlas, entry, unit, lengths, np.full(n, np.inf), gauge)
        cap = np.minimum(np.minimum(reach, lengths), np.minimum(out["first_caution_depth"], others))
        max_safe, limiting_rule, limiting = self._max_safe_depth(
            entry,
            unit,
            lengths,
            out["first_caution_depth"],
            out["first_caution_structure"],
            *self._bone_enter_many(entry, unit, cap),
            gauge,
        )
        if needle_length_mm is None:  # no needle: the limit along the path asked for
            max_safe = np.minimum(max_safe, reach)
        return BatchResult(
            status=status,
            nearest_structure=[ids[k] for k in out["nearest"]],
            nearest_clearance_mm=out["nearest_clearance"],
            caution_clearance_mm=out["min_caution"],
            max_safe_depth_mm=max_safe,
            limiting_structure=limiting,
            limiting_rule=limiting_rule,
            **near_caution,
        )

    def _bone_enter_many(
        self, entry: np.ndarray, direction: np.ndarray, reach: np.ndarray
    ) -> tuple[np.ndarray, list[str | None]]:
        """Where each line first meets the bone of the bone-strike rule (inf: not within
        reach), and which bone."""
        bone = self.atlas.rules.bone_strike
        out = np.full(len(entry), np.inf)
        which: list[str | None] = [None] * len(entry)
        if bone is None:
            return out, which
        if self._bone_index is None:
            from thighmap.safety.tissues import TissueIndex

            self._bone_index = TissueIndex({sid: self.atlas.mesh(sid) for sid in bone.structures})
        index = self._bone_index
        out, owner = index.first_entries(entry, direction, reach)
        which = [index.ids[k] if k >= 0 else None for k in owner]
        return out, which

    # ------------------------------------------------------------------ skin vertices
    def outer_skin(self) -> SurfaceMesh:
        """The outer skin surface on this model's side; its vertices are skin_points()."""
        mesh, _, _ = self._outer_skin()
        used = self._skin_used
        remap = np.full(len(mesh.vertices), -1, np.int64)
        remap[used] = np.arange(len(used))
        return sides.mesh_on_side(SurfaceMesh(mesh.vertices[used], remap[mesh.faces]), self.side)

    def skin_points(self) -> tuple[np.ndarray, np.ndarray]:
        """Vertices of the outer skin and their inward normals (for maps)."""
        mesh, _, vn = self._outer_skin()
        used = self._skin_used
        return sides.from_atlas_frame(mesh.vertices[used], self.side), sides.from_atlas_frame(
            -vn[used], self.side
        )

    def danger_zone_mesh(self, sid: str) -> SurfaceMesh:
        """The danger structure grown by its positional uncertainty (for drawing)."""
        from thighmap.anatomy import meshgen, shapes

        st = self.atlas.structures[sid]
        assert st.safety is not None
        if st.is_tube:
            tube = self.atlas.tube(sid)
            seg = np.linalg.norm(np.diff(tube.centres_mm, axis=0), axis=1)
            s = np.concatenate([[0.0], np.cumsum(seg)]) / seg.sum()
            # a band grown by u is the band of the same flat part with radius r + u
            grown = shapes.TubeSamples(
                tube.centres_mm,
                tube.radii_mm + st.safety.uncertainty_at(s, self.atlas.fitted),
                tube.flat_half_width_mm,
            )
            mesh = meshgen.tube_mesh(grown, chord_error_mm=0.3)
        else:  # a surface without centreline: pushed out along its normals (drawing only)
            surface = self.atlas.mesh(sid)
            unc = float(np.max(st.safety.uncertainty_at(np.linspace(0.0, 1.0, 201), self.atlas.fitted)))
            mesh = SurfaceMesh(surface.vertices + _vertex_normals(surface) * unc, surface.faces)
        return sides.mesh_on_side(mesh, self.side)


def _nearest_of(
    ids: list[str], res: dict[str, np.ndarray], depth: float, lo: int, hi: int
) -> NearestDanger | None:
    """The structure of ids[lo:hi] nearest to the needle (None if the range is empty)."""
    if hi <= lo:
        return None
    k = lo + int(np.argmin(res["clearance"][lo:hi]))
    return NearestDanger(
        structure=ids[k],
        clearance_mm=float(res["clearance"][k]),
        zone_clearance_mm=float(res["zone"][k]),
        point_on_structure_mm=res["point_on_structure"][k],
        point_on_needle_mm=res["point_on_needle"][k],
        depth_on_needle_mm=float(res["s"][k] * depth),
    )


def close_open_ends(mesh: SurfaceMesh) -> SurfaceMesh:
    """``mesh`` with each hole (a loop of edges used by one triangle only) closed by a fan
    of triangles from the loop's centroid, wound like the triangles along the loop. The
    outer skin's holes are the limb's two cut ends, whose outlines are star-shaped about
    their centroids, so the fan covers each end exactly once."""
    faces = np.asarray(mesh.faces, np.int64)
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    key = np.sort(directed, axis=1)
    _, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    boundary = directed[counts[inverse.ravel()] == 1]
    if len(boundary) == 0:
        return mesh
    # a boundary edge a->b of the mesh runs b->a in the cap, so the cap continues its winding
    following = {int(b): int(a) for a, b in boundary}
    vertices = [np.asarray(mesh.vertices, float)]
    caps: list[np.ndarray] = []
    count = len(vertices[0])
    unvisited = set(following)
    while unvisited:
        start = unvisited.pop()
        loop = [start]
        nxt = following[start]
        while nxt != start and nxt in unvisited:
            unvisited.discard(nxt)
            loop.append(nxt)
            nxt = following[nxt]
        ring = np.array(loop)
        centre = vertices[0][ring].mean(axis=0)
        vertices.append(centre[None, :])
        caps.append(np.column_stack([ring, np.roll(ring, -1), np.full(len(ring), count)]))
        count += 1
    return SurfaceMesh(np.concatenate(vertices), np.concatenate([faces, *caps]))


SKIN_VERTICES = 12  # the skin vertices whose faces are searched for the closest skin point
_TIE_RELATIVE = 1e-9  # gap between the k-th and (k+1)-th distance that rounding cannot close


def _nearest(points: np.ndarray, point: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k points nearest to `point` (all of them if there are fewer), by a
    full scan (the reference NearestPoints answers exactly)."""
    diff = points - point
    d2 = np.einsum("ij,ij->i", diff, diff)
    if len(d2) <= k:
        return np.arange(len(d2))
    return np.argpartition(d2, k - 1)[:k]


class NearestPoints:
    """The k nearest of a fixed set of points, exactly the set _nearest's full scan gives,
    found in a uniform grid of buckets (numpy; no scipy on the check path). The search
    widens ring by ring around the point's cell until the (k+1) nearest candidates all
    lie within the searched box's inscribed distance, so they are the (k+1) nearest of
    all points. When the (k+1)-th is farther than the k-th by more than rounding could
    change (relative 1e-9, absolute 1e-9 mm), the k nearest are one set, whichever way
    the distances are rounded. Otherwise (a tie, a point that is not finite, a point so
    far away that the rings would cover most of the grid) the full scan decides."""

    CELL_MM = 8.0  # about a dozen skin vertices to an occupied cell
    MAX_RING = 6

    def __init__(self, points: np.ndarray) -> None:
        self.points = np.ascontiguousarray(points, float)
        self._lo = self.points.min(axis=0) if len(self.points) else np.zeros(3)
        cells = np.floor((self.points - self._lo) / self.CELL_MM).astype(np.int64)
        self._dims = cells.max(axis=0) + 1 if len(self.points) else np.ones(3, np.int64)
        keys = np.ravel_multi_index(cells.T, self._dims)
        self._order = np.argsort(keys, kind="stable")
        sorted_keys = keys[self._order]
        every = np.arange(int(np.prod(self._dims)))
        self._start = np.searchsorted(sorted_keys, every)
        self._stop = np.searchsorted(sorted_keys, every, side="right")
        self._strides = np.array([self._dims[1] * self._dims[2], self._dims[2], 1])
        # the cell offsets of each ring's cube, (n, 3)
        self._cubes = [
            np.stack(np.meshgrid(*[np.arange(-r, r + 1)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
            for r in range(self.MAX_RING + 1)
        ]

    def _query(self, point: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(distances, indices) of the m nearest points, ascending, or None if the grid
        cannot be sure within MAX_RING rings."""
        centre = np.floor((point - self._lo) / self.CELL_MM).astype(np.int64)
        for ring in range(1, self.MAX_RING + 1):
            cells = centre + self._cubes[ring]
            cells = cells[np.all((cells >= 0) & (cells < self._dims), axis=1)]
            if len(cells) == 0:
                continue  # the point lies beyond the grid: widen
            keys = cells @ self._strides
            starts, stops = self._start[keys], self._stop[keys]
            lengths = stops - starts
            total = int(lengths.sum())
            if total < m:
                continue
            offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
            candidates = self._order[offsets + np.arange(total)]
            diff = self.points[candidates] - point
            d = np.sqrt(np.einsum("ij,ij->i", diff, diff))
            part = np.argpartition(d, m - 1)[:m]
            part = part[np.argsort(d[part], kind="stable")]
            # every point outside the searched box is at least this far from `point`
            box_lo = self._lo + (centre - ring) * self.CELL_MM
            box_hi = self._lo + (centre + ring + 1) * self.CELL_MM
            inscribed = float(np.min(np.minimum(point - box_lo, box_hi - point)))
            if d[part[-1]] < inscribed:
                return d[part], candidates[part]
        return None

    def nearest(self, point: np.ndarray, k: int) -> np.ndarray:
        """The indices of the k points nearest to `point`, sorted (as a set: _nearest's)."""
        if len(self.points) <= k:
            return np.arange(len(self.points))
        point = np.asarray(point, float)
        if np.all(np.isfinite(point)):
            found = self._query(point, k + 1)
            if found is not None:
                d, idx = found
                if d[k] > d[k - 1] * (1.0 + _TIE_RELATIVE) + _TIE_RELATIVE:
                    return np.sort(idx[:k])
        return np.sort(_nearest(self.points, point, k))

    def nearest_many(self, points: np.ndarray, k: int) -> np.ndarray:
        """nearest() of N points at once, (N, k)."""
        points = np.asarray(points, float).reshape(-1, 3)
        if len(self.points) <= k:
            return np.broadcast_to(np.arange(len(self.points)), (len(points), len(self.points))).copy()
        out = np.empty((len(points), k), np.int64)
        for i, point in enumerate(points):
            out[i] = self.nearest(point, k)
        return out


_SKIN_KERNEL_AGREES: list[bool] = []


def compiled_skin_search_agrees() -> bool:
    """Whether kernels.closest_on_vertex_faces gives geometry.point_triangle_closest's
    closest points to the bit on this machine (numpy's einsum sums three terms in an
    order that may depend on the processor's vector instructions; the kernel follows
    the order seen here). Checked once, on random triangles of every shape; where it
    does not agree, the skin search runs in numpy as before."""
    if not _SKIN_KERNEL_AGREES:
        from thighmap.safety import kernels
        from thighmap.safety.geometry import point_triangle_closest

        rng = np.random.default_rng(20261130)
        n = 256
        scale = 10.0 ** rng.integers(-3, 4, (n, 1, 1))
        tri = rng.normal(size=(n, 3, 3)) * scale
        tri[: n // 8, 2] = tri[: n // 8, 0] + 2.0 * (tri[: n // 8, 1] - tri[: n // 8, 0])  # collinear
        tri[n // 8 : n // 4, 1] = tri[n // 8 : n // 4, 0]  # two corners in one point
        points = tri.mean(axis=1) + rng.normal(size=(n, 3)) * scale[:, 0] * rng.choice(
            [1e-6, 0.3, 3.0], (n, 1)
        )
        vertices = tri.reshape(-1, 3)
        faces = np.arange(3 * n, dtype=np.int64).reshape(n, 3)
        vf_faces, vf_start = np.repeat(np.arange(n), 3), np.arange(3 * n)
        q, face = np.empty((n, 3)), np.empty(n, np.int64)
        near = np.arange(0, 3 * n, 3, dtype=np.int64)[:, None]
        ok = kernels.closest_on_vertex_faces(
            points, near, vf_faces, vf_start, vf_start + 1, vertices, faces, q, face
        )
        _, want = point_triangle_closest(points, tri[:, 0], tri[:, 1], tri[:, 2])
        _SKIN_KERNEL_AGREES.append(bool(ok.all() and np.array_equal(q, want)))
    return _SKIN_KERNEL_AGREES[0]


def _rows_in(points: np.ndarray, others: np.ndarray) -> np.ndarray:
    """For each row of points (N,3), whether the same three floats are a row of others
    (M,3), as a set of float triples would say: the rows' bits (-0.0 made 0.0, so that bits
    compare as the floats do; a mesh has no NaN) sorted together, each run of equal rows
    holding a row of others or not."""
    p = np.ascontiguousarray(np.asarray(points, np.float64).reshape(-1, 3) + 0.0).view(np.int64)
    o = np.ascontiguousarray(np.asarray(others, np.float64).reshape(-1, 3) + 0.0).view(np.int64)
    if len(p) == 0 or len(o) == 0:
        return np.zeros(len(p), bool)
    rows = np.concatenate([o, p])
    order = np.lexsort(rows.T[::-1])
    ordered = rows[order]
    starts = np.ones(len(rows), bool)
    starts[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    run = np.cumsum(starts) - 1
    of_others = order < len(o)
    run_has_other = np.zeros(run[-1] + 1, bool)
    run_has_other[run[of_others]] = True
    inside = np.empty(len(p), bool)
    inside[order[~of_others] - len(o)] = run_has_other[run[~of_others]]
    return inside


def _vertex_normals(mesh: SurfaceMesh) -> np.ndarray:
    v, f = mesh.vertices, mesh.faces
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    vn = np.zeros_like(v)
    for k in range(3):
        np.add.at(vn, f[:, k], fn)
    norm = np.linalg.norm(vn, axis=1, keepdims=True)
    return np.divide(vn, norm, out=np.zeros_like(vn), where=norm > 0)


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
    statements resolve on the patient's fitted atlas. The file is read once (so a
    byte-order mark, the size limits and the rest apply to the patient as to every
    other field). Raises planning.PlanError."""
    from thighmap.planning.planfile import parse_plan_document, patient_of_document, read_plan_document

    doc, pre = read_plan_document(path)
    model = model_for_patient(patient_of_document(doc), base)
    plan = parse_plan_document(doc, str(path), PlanningAtlas(model), pre)
    return plan, model_for_patient(plan.patient, base, plan.side)


def _has_measurements(patient: object) -> bool:
    return any(
        getattr(patient, f, None) is not None
        for f in ("thigh_length_mm", "mid_thigh_circumference_mm", "subcutaneous_fat_mm")
    )
