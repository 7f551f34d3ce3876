"""Measuring bone surfaces: plane sections, closest surface points and the femur's shape.

Everything here reads a closed triangle surface (:class:`meshgen.SurfaceMesh`) in the
atlas frame of design.md (mm; right thigh; +x lateral, +y posterior, +z proximal) and
returns numbers an orthopaedic text would quote, each defined where it is computed:

- the femoral head: a least-squares sphere fitted to the head's surface;
- the neck axis: from the head centre through the centre of the narrowest section of
  the neck (sections cut perpendicular to the axis, the axis re-aimed until it passes
  through their centres);
- the shaft (anatomical) axis: a line fitted to the centres of the shaft's horizontal
  sections between 30 % and 70 % of the femur's length;
- the neck-shaft angle: the angle between the neck axis (head to shaft) and the shaft
  axis (pointing proximally), in 3D;
- anteversion: the angle between the neck axis and the posterior condylar line (and the
  transepicondylar line), both seen along the frame's z axis (the mechanical axis),
  positive when the head points anteriorly;
- femoral offset: the distance from the head centre to the shaft axis.

Used by tools/derive_skeleton.py (the figures it records in assets/skeleton/skeleton.json)
and by the tests, which measure the committed femur again with the same definitions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from thighmap.anatomy.meshgen import SurfaceMesh

FloatArray = np.ndarray


# --------------------------------------------------------------------------- sections


def plane_section_loops(mesh: SurfaceMesh, origin: FloatArray, normal: FloatArray) -> list[FloatArray]:
    """The closed polylines where the plane (origin, normal) cuts a closed surface.

    Each loop is an (N, 3) array of points in order (not repeated at the end). Vertices
    lying exactly on the plane count as being on its positive side, so every crossing is
    a proper edge crossing and the loops of a closed manifold surface close.
    """
    n = np.asarray(normal, float)
    n = n / np.linalg.norm(n)
    v = mesh.vertices
    f = mesh.faces
    d = (v - np.asarray(origin, float)) @ n
    pos = d >= 0.0
    tri_pos = pos[f]
    crossing = tri_pos.any(axis=1) & ~tri_pos.all(axis=1)
    if not np.any(crossing):
        return []
    ft = f[crossing]
    # the two edges of each crossing triangle whose ends lie on opposite sides
    edges = np.stack([ft[:, [0, 1]], ft[:, [1, 2]], ft[:, [2, 0]]], axis=1)  # (T, 3, 2)
    cut = pos[edges[:, :, 0]] != pos[edges[:, :, 1]]  # exactly two per triangle
    pairs = edges[cut].reshape(-1, 2, 2)  # (T, 2 edges, 2 ends)
    key = np.sort(pairs, axis=2)
    a, b = key[..., 0], key[..., 1]
    t = d[a] / (d[a] - d[b])
    pts = v[a] + (v[b] - v[a]) * t[..., None]  # (T, 2, 3)
    # chain the segments through their shared mesh edges
    n_vert = len(v)
    ids = a * n_vert + b  # (T, 2)
    uniq, inv = np.unique(ids.ravel(), return_inverse=True)
    inv = inv.reshape(-1, 2)
    point_of = np.zeros((len(uniq), 3))
    point_of[inv.ravel()] = pts.reshape(-1, 3)
    neighbours: list[list[int]] = [[] for _ in range(len(uniq))]
    for s, e in inv:
        neighbours[s].append(int(e))
        neighbours[e].append(int(s))
    seen = np.zeros(len(uniq), bool)
    loops = []
    for start in range(len(uniq)):
        if seen[start]:
            continue
        loop = [start]
        seen[start] = True
        prev, cur = -1, start
        while True:
            nxt = [k for k in neighbours[cur] if k != prev and not seen[k]]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            seen[cur] = True
            loop.append(cur)
        if len(loop) >= 3:
            loops.append(point_of[loop])
    return loops


def _plane_basis(normal: FloatArray) -> tuple[FloatArray, FloatArray]:
    n = normal / np.linalg.norm(normal)
    helper = np.array([1.0, 0.0, 0.0]) if abs(n[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(n, helper)
    u /= np.linalg.norm(u)
    return u, np.cross(n, u)


def loop_area_centroid(loop: FloatArray, normal: FloatArray) -> tuple[float, FloatArray]:
    """Area (mm2) and centroid of a planar closed polyline."""
    u, w = _plane_basis(np.asarray(normal, float))
    o = loop.mean(axis=0)
    x = (loop - o) @ u
    y = (loop - o) @ w
    xn, yn = np.roll(x, -1), np.roll(y, -1)
    cross = x * yn - xn * y
    area = cross.sum() / 2.0
    if abs(area) < 1e-12:
        return 0.0, o
    cx = ((x + xn) * cross).sum() / (6.0 * area)
    cy = ((y + yn) * cross).sum() / (6.0 * area)
    return float(abs(area)), o + cx * u + cy * w


def section_nearest(
    mesh: SurfaceMesh, origin: FloatArray, normal: FloatArray
) -> tuple[float, FloatArray] | None:
    """Area and centroid of the section loop whose centroid lies nearest ``origin``."""
    best = None
    for loop in plane_section_loops(mesh, origin, normal):
        area, c = loop_area_centroid(loop, normal)
        dist = float(np.linalg.norm(c - origin))
        if best is None or dist < best[0]:
            best = (dist, area, c)
    return None if best is None else (best[1], best[2])


# --------------------------------------------------------------------------- surface points


def closest_points(mesh: SurfaceMesh, points: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The nearest surface point of each point and its distance (exact, brute force)."""
    import trimesh

    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    q, dist, _ = trimesh.proximity.closest_point_naive(tm, np.atleast_2d(np.asarray(points, float)))
    return np.asarray(q, float), np.asarray(dist, float)


def fit_sphere(points: FloatArray) -> tuple[FloatArray, float]:
    """Least-squares sphere (centre, radius) through the points."""
    p = np.asarray(points, float)
    a = np.column_stack([2.0 * p, np.ones(len(p))])
    b = (p**2).sum(axis=1)
    sol = np.linalg.lstsq(a, b, rcond=None)[0]
    centre = sol[:3]
    return centre, float(np.sqrt(sol[3] + centre @ centre))


def fit_line(points: FloatArray) -> tuple[FloatArray, FloatArray]:
    """A point on the least-squares line through the points and its unit direction."""
    p = np.asarray(points, float)
    c = p.mean(axis=0)
    _, _, vt = np.linalg.svd(p - c)
    return c, vt[0]


# --------------------------------------------------------------------------- the femur


@dataclass(frozen=True)
class FemurGeometry:
    """The femur's published shape figures, measured on a surface (atlas frame, mm)."""

    head_centre_mm: FloatArray
    head_radius_mm: float
    neck_direction: FloatArray  # unit, from the head centre toward the shaft
    neck_narrowest_centre_mm: FloatArray
    neck_narrowest_area_mm2: float
    shaft_point_mm: FloatArray
    shaft_direction: FloatArray  # unit, pointing proximally
    neck_shaft_angle_deg: float
    anteversion_posterior_condylar_deg: float
    anteversion_transepicondylar_deg: float
    offset_mm: float
    length_mm: float  # along z: from the lowest point of the condyles to the top of the head
    medial_posterior_condyle_mm: FloatArray
    lateral_posterior_condyle_mm: FloatArray
    medial_epicondyle_mm: FloatArray
    lateral_epicondyle_mm: FloatArray


def _distal(v: FloatArray, fraction: float) -> FloatArray:
    z0, z1 = v[:, 2].min(), v[:, 2].max()
    return v[v[:, 2] <= z0 + fraction * (z1 - z0)]


def epicondyles(mesh: SurfaceMesh) -> tuple[FloatArray, FloatArray]:
    """The most medial and the most lateral points of the distal femur (its lowest 12 %)
    along x: the epicondyles as the clinical transepicondylar axis defines them (the
    most prominent points), in a frame whose x axis runs along that axis."""
    d = _distal(mesh.vertices, 0.12)
    return d[np.argmin(d[:, 0])], d[np.argmax(d[:, 0])]


def posterior_condyles(mesh: SurfaceMesh) -> tuple[FloatArray, FloatArray]:
    """The most posterior points (largest y) of the medial (x < 0) and lateral (x > 0)
    condyles, in the lowest 12 % of the femur."""
    d = _distal(mesh.vertices, 0.12)
    med = d[d[:, 0] < 0]
    lat = d[d[:, 0] > 0]
    return med[np.argmax(med[:, 1])], lat[np.argmax(lat[:, 1])]


def femoral_head(mesh: SurfaceMesh, neck_direction: FloatArray | None = None) -> tuple[FloatArray, float]:
    """Sphere fitted to the head: the vertices within 1.2 radii of the centre, leaving out
    the side the neck leaves from (a guess toward lateral and distal when not given)."""
    v = mesh.vertices
    top = v[np.argmax(v[:, 2])]
    u = np.array([0.8, 0.0, -0.6]) if neck_direction is None else np.asarray(neck_direction, float)
    u = u / np.linalg.norm(u)
    radius = 0.05 * float(v[:, 2].max() - v[:, 2].min())  # about 23 mm on a 450 mm femur
    centre = top - np.array([0.0, 0.0, radius])
    for _ in range(30):
        rel = v - centre
        dist = np.linalg.norm(rel, axis=1)
        use = (dist < 1.2 * radius) & (rel @ u < 0.35 * radius)
        new_centre, new_radius = fit_sphere(v[use])
        moved = float(np.linalg.norm(new_centre - centre))
        centre, radius = new_centre, new_radius
        if moved < 1e-6:
            break
    return centre, radius


def _neck_axis(
    mesh: SurfaceMesh, head: FloatArray, radius: float, guess: FloatArray
) -> tuple[FloatArray, FloatArray, float]:
    """Direction from the head centre through the narrowest neck section's centre."""
    u = guess / np.linalg.norm(guess)
    best_c, best_a = head + u * radius, 0.0
    for _ in range(12):
        found = []
        for t in np.arange(0.9, 1.9, 0.05) * radius:
            s = section_nearest(mesh, head + u * t, u)
            if s is not None and np.linalg.norm(s[1] - (head + u * t)) < radius:
                found.append((s[0], t, s[1]))
        if not found:
            break
        area, _, c = min(found, key=lambda r: (r[0], r[1]))
        new_u = (c - head) / np.linalg.norm(c - head)
        change = float(np.linalg.norm(new_u - u))
        u, best_c, best_a = new_u, c, area
        if change < 1e-7:
            break
    return u, best_c, best_a


def shaft_axis(mesh: SurfaceMesh) -> tuple[FloatArray, FloatArray]:
    """The anatomical axis: a line through the centres of horizontal shaft sections
    between 30 % and 70 % of the femur's length (pointing proximally)."""
    v = mesh.vertices
    z0, z1 = float(v[:, 2].min()), float(v[:, 2].max())
    centres = []
    guess = None
    for z in np.linspace(z0 + 0.3 * (z1 - z0), z0 + 0.7 * (z1 - z0), 21):
        loops = plane_section_loops(mesh, np.array([0.0, 0.0, z]), np.array([0.0, 0.0, 1.0]))
        best = max(
            (loop_area_centroid(lp, np.array([0.0, 0.0, 1.0])) for lp in loops),
            key=lambda r: r[0] if guess is None else -np.linalg.norm(r[1] - guess),
        )
        centres.append(best[1])
        guess = best[1]
    p, d = fit_line(np.array(centres))
    return p, d if d[2] > 0 else -d


def _angle_about_z(a: FloatArray, b: FloatArray) -> float:
    """Angle (deg) from the xy projection of a to that of b, counter-clockwise about +z."""
    return float(np.degrees(np.arctan2(a[0] * b[1] - a[1] * b[0], a[0] * b[0] + a[1] * b[1])))


def measure_femur(mesh: SurfaceMesh, greater_trochanter_mm: FloatArray | None = None) -> FemurGeometry:
    """The femur's head, neck and shaft figures (see the module's definitions).

    ``greater_trochanter_mm`` aims the first guess of the neck axis (from the head toward
    it); without it the guess is lateral and distal.
    """
    v = mesh.vertices
    head, radius = femoral_head(mesh)
    guess = np.array([0.8, 0.0, -0.6]) if greater_trochanter_mm is None else greater_trochanter_mm - head
    u, neck_c, neck_a = _neck_axis(mesh, head, radius, guess)
    head, radius = femoral_head(mesh, u)
    u, neck_c, neck_a = _neck_axis(mesh, head, radius, u)
    sp, sd = shaft_axis(mesh)
    nsa = float(np.degrees(np.arccos(np.clip(u @ sd, -1.0, 1.0))))
    rel = head - sp
    offset = float(np.linalg.norm(rel - (rel @ sd) * sd))
    med_pc, lat_pc = posterior_condyles(mesh)
    med_ep, lat_ep = epicondyles(mesh)
    to_head = -u
    # the head points medially; anteversion turns it toward -y (anterior). Seen from above
    # (+z, with +x lateral and +y posterior), a rotation from the medial direction toward
    # anterior is counter-clockwise, so the signed angle from the condylar line (lateral to
    # medial) to the neck (toward the head) is the anteversion.
    ante_pc = _angle_about_z(med_pc - lat_pc, to_head)
    ante_tea = _angle_about_z(med_ep - lat_ep, to_head)
    return FemurGeometry(
        head_centre_mm=head,
        head_radius_mm=radius,
        neck_direction=u,
        neck_narrowest_centre_mm=neck_c,
        neck_narrowest_area_mm2=neck_a,
        shaft_point_mm=sp,
        shaft_direction=sd,
        neck_shaft_angle_deg=nsa,
        anteversion_posterior_condylar_deg=ante_pc,
        anteversion_transepicondylar_deg=ante_tea,
        offset_mm=offset,
        length_mm=float(v[:, 2].max() - v[:, 2].min()),
        medial_posterior_condyle_mm=med_pc,
        lateral_posterior_condyle_mm=lat_pc,
        medial_epicondyle_mm=med_ep,
        lateral_epicondyle_mm=lat_ep,
    )
