"""Built-in procedural objects: chair-, car-, airplane-, laptop- and table-like meshes.

They let the demo and the tests render real 3-D rotation sets without any download. Each object
is assembled from trimesh primitives in a +Y-up frame (like ShapeNet v2, front facing +Z) with
seeded variation of proportions, optional parts and colours, so object `i` of a category differs
from object `j`, and the same (category, index, seed) always gives the same mesh.
"""

from __future__ import annotations

import zlib

import numpy as np
import trimesh

from cfa.render.meshes import normalise

CATEGORIES = ("airplane", "car", "chair", "laptop", "table")


def _box(extents, centre, colour) -> trimesh.Trimesh:
    mesh = trimesh.creation.box(extents=extents)
    mesh.apply_translation(centre)
    mesh.visual.face_colors = colour
    return mesh


def _cylinder(radius, height, centre, axis, colour, sections=20) -> trimesh.Trimesh:
    """A cylinder along `axis` ('x', 'y' or 'z') centred at `centre`."""
    mesh = trimesh.creation.cylinder(radius=radius, height=height, sections=sections)
    if axis == "x":
        mesh.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]))
    elif axis == "y":
        mesh.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    mesh.apply_translation(centre)
    mesh.visual.face_colors = colour
    return mesh


def _colour(rng: np.random.Generator, lo: int = 40, hi: int = 230) -> list[int]:
    return [int(c) for c in rng.integers(lo, hi, size=3)] + [255]


def _shade(colour, factor: float) -> list[int]:
    return [int(min(255, max(0, c * factor))) for c in colour[:3]] + [255]


def _chair(rng):
    w, d = rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.1)
    leg_h, seat_t = rng.uniform(0.8, 1.1), rng.uniform(0.08, 0.15)
    back_h, leg_r = rng.uniform(0.8, 1.3), rng.uniform(0.04, 0.07)
    wood, fabric = _colour(rng), _colour(rng)
    parts = [_box([w, seat_t, d], [0, leg_h + seat_t / 2, 0], fabric)]
    for sx in (-1, 1):
        for sz in (-1, 1):
            parts.append(_cylinder(leg_r, leg_h, [sx * (w / 2 - leg_r), leg_h / 2, sz * (d / 2 - leg_r)],
                                   "y", wood, sections=10))
    parts.append(_box([w, back_h, 0.08], [0, leg_h + seat_t + back_h / 2, -d / 2 + 0.04], fabric))
    if rng.random() < 0.5:  # armrests
        for sx in (-1, 1):
            parts.append(_box([0.07, 0.07, d * 0.9], [sx * w / 2, leg_h + seat_t + 0.3, 0], wood))
            parts.append(_box([0.05, 0.3, 0.05], [sx * w / 2, leg_h + seat_t + 0.15, d * 0.35], wood))
    return parts


def _table(rng):
    w, d = rng.uniform(1.4, 2.2), rng.uniform(0.8, 1.3)
    h, top_t = rng.uniform(0.7, 1.0), rng.uniform(0.06, 0.12)
    top, legs = _colour(rng), _colour(rng)
    parts = [_box([w, top_t, d], [0, h + top_t / 2, 0], top)]
    if rng.random() < 0.3:  # pedestal table
        parts.append(_cylinder(0.08, h, [0, h / 2, 0], "y", legs))
        parts.append(_cylinder(0.4, 0.05, [0, 0.025, 0], "y", legs))
    else:
        leg = rng.uniform(0.06, 0.1)
        for sx in (-1, 1):
            for sz in (-1, 1):
                parts.append(_box([leg, h, leg], [sx * (w / 2 - leg), h / 2, sz * (d / 2 - leg)], legs))
    return parts


def _car(rng):
    length, width = rng.uniform(1.8, 2.4), rng.uniform(0.8, 1.0)
    body_h, cab_h = rng.uniform(0.3, 0.45), rng.uniform(0.25, 0.4)
    wheel_r = rng.uniform(0.17, 0.24)
    paint, glass = _colour(rng), [60, 80, 110, 255]
    clearance = wheel_r * 0.8
    parts = [_box([width, body_h, length], [0, clearance + body_h / 2, 0], paint)]
    cab_len = length * rng.uniform(0.4, 0.6)
    parts.append(_box([width * 0.85, cab_h, cab_len], [0, clearance + body_h + cab_h / 2, -length * 0.05], glass))
    parts.append(_box([width * 0.87, 0.04, cab_len * 0.9], [0, clearance + body_h + cab_h, -length * 0.05], paint))
    for sx in (-1, 1):
        for sz in (-1, 1):
            parts.append(_cylinder(wheel_r, 0.16, [sx * width / 2, wheel_r, sz * length * 0.32], "x",
                                   [30, 30, 30, 255]))
    parts.append(_box([width * 0.8, 0.08, 0.03], [0, clearance + body_h * 0.6, length / 2], [230, 230, 200, 255]))
    return parts


def _airplane(rng):
    length, radius = rng.uniform(2.0, 2.6), rng.uniform(0.12, 0.18)
    span, chord = rng.uniform(1.8, 2.6), rng.uniform(0.35, 0.55)
    body, accent = _colour(rng, 150, 250), _colour(rng)
    parts = [_cylinder(radius, length, [0, 0, 0], "z", body)]
    nose = trimesh.creation.cone(radius=radius, height=radius * 2.5, sections=20)
    nose.apply_translation([0, 0, length / 2])
    nose.visual.face_colors = body
    parts.append(nose)
    wing_z = rng.uniform(-0.1, 0.2)
    parts.append(_box([span, 0.05, chord], [0, -radius * 0.3, wing_z], accent))
    parts.append(_box([span * 0.35, 0.04, chord * 0.5], [0, 0, -length / 2 + chord * 0.3], accent))
    parts.append(_box([0.05, rng.uniform(0.35, 0.55), chord * 0.6], [0, radius + 0.2, -length / 2 + chord * 0.3],
                      accent))
    if rng.random() < 0.6:  # under-wing engines
        for sx in (-1, 1):
            parts.append(_cylinder(0.08, 0.35, [sx * span * 0.25, -radius * 0.3 - 0.1, wing_z + 0.05], "z",
                                   _shade(body, 0.6)))
    return parts


def _laptop(rng):
    w, d = rng.uniform(1.3, 1.7), rng.uniform(0.9, 1.1)
    base_t = rng.uniform(0.05, 0.08)
    opening = np.radians(rng.uniform(95, 125))  # screen angle from the keyboard plane
    shell = _colour(rng, 60, 200)
    parts = [_box([w, base_t, d], [0, base_t / 2, 0], shell)]
    parts.append(_box([w * 0.85, 0.01, d * 0.45], [0, base_t + 0.005, d * 0.12], _shade(shell, 0.4)))
    lid = _box([w, d, 0.04], [0, d / 2, -0.02], shell)
    panel = _box([w * 0.9, d * 0.85, 0.01], [0, d / 2, 0.005], [20, 30, 60, 255])
    hinge = trimesh.transformations.rotation_matrix(-(np.pi / 2 - (np.pi - opening)), [1, 0, 0])
    for part in (lid, panel):
        part.apply_transform(hinge)
        part.apply_translation([0, base_t, -d / 2])
        parts.append(part)
    return parts


_BUILDERS = {"airplane": _airplane, "car": _car, "chair": _chair, "laptop": _laptop, "table": _table}


def procedural_object(category: str, index: int, seed: int = 0) -> trimesh.Scene:
    """The `index`-th procedural object of `category` for `seed`, normalised like loaded meshes."""
    if category not in _BUILDERS:
        raise ValueError(f"unknown procedural category {category!r}; choose one of {', '.join(CATEGORIES)}")
    # Seed from the category name too, so chair 0 and car 0 do not share their random draws.
    rng = np.random.default_rng([seed, zlib.crc32(category.encode()), index])
    scene = trimesh.Scene()
    for i, part in enumerate(_BUILDERS[category](rng)):
        scene.add_geometry(part, geom_name=f"{category}{i}")
    return normalise(scene)


def procedural_id(category: str, index: int) -> str:
    return f"procedural-{category}-{index}"
