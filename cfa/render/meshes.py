"""Loading and normalising meshes: every object is a trimesh Scene, centred, unit-sized and +Y up.

Objects keep their parts and per-part materials (multi-material OBJs load as a Scene with one
geometry per material), so colours survive. Normalisation moves the bounding-box centre to the
origin and scales the farthest vertex to distance 1, so every object fills the same camera frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh

MESH_SUFFIXES = (".obj", ".glb", ".gltf", ".ply", ".off", ".stl")


class MeshError(Exception):
    """A mesh that cannot be rendered (unreadable, empty or degenerate); the reason is the message."""


def as_scene(loaded) -> trimesh.Scene:
    """Wrap whatever trimesh.load returned into a Scene of triangle meshes (points/paths dropped)."""
    if isinstance(loaded, trimesh.Trimesh):
        scene = trimesh.Scene()
        scene.add_geometry(loaded)
        return scene
    if isinstance(loaded, trimesh.Scene):
        return loaded
    raise MeshError(f"not a triangle mesh (trimesh loaded a {type(loaded).__name__})")


def load_mesh(path: str | Path) -> trimesh.Scene:
    """Load a mesh file and normalise it; raise MeshError with the reason when it cannot be used."""
    path = Path(path)
    try:
        loaded = trimesh.load(path, force=None, process=False)
    except Exception as e:  # trimesh raises many types on malformed files; all mean "unusable"
        raise MeshError(f"failed to load: {type(e).__name__}: {e}".strip()) from None
    return normalise(as_scene(loaded))


def _triangle_geometries(scene: trimesh.Scene) -> list[tuple[trimesh.Trimesh, np.ndarray]]:
    """(mesh, world transform) of every triangle geometry in the scene graph."""
    out = []
    for node in scene.graph.nodes_geometry:
        transform, geom_name = scene.graph[node]
        geom = scene.geometry[geom_name]
        if isinstance(geom, trimesh.Trimesh) and len(geom.faces) > 0:
            out.append((geom, np.asarray(transform, dtype=np.float64)))
    return out


def normalise(scene: trimesh.Scene) -> trimesh.Scene:
    """A new Scene with the parts baked into world space, centred and scaled to a unit sphere.

    Raises MeshError for scenes without triangles, with non-finite vertices, or with zero extent.
    """
    parts = _triangle_geometries(scene)
    if not parts:
        raise MeshError("empty: no triangle faces")
    baked = []
    for geom, transform in parts:
        mesh = geom.copy()
        mesh.apply_transform(transform)
        if not np.all(np.isfinite(mesh.vertices)):
            raise MeshError("degenerate: non-finite vertex coordinates")
        baked.append(mesh)
    vertices = np.concatenate([m.vertices[np.unique(m.faces)] for m in baked])
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    centre = (lo + hi) / 2.0
    radius = float(np.linalg.norm(vertices - centre, axis=1).max())
    if not np.isfinite(radius) or radius <= 1e-9 or np.count_nonzero(hi - lo > 1e-9 * radius) < 2:
        raise MeshError(f"degenerate: extent {np.round(hi - lo, 9).tolist()} (a point or a line)")
    if sum(float(m.area) for m in baked) <= 1e-12 * radius * radius:
        raise MeshError("degenerate: zero surface area")
    out = trimesh.Scene()
    for i, mesh in enumerate(baked):
        mesh.apply_translation(-centre)
        mesh.apply_scale(1.0 / radius)
        out.add_geometry(mesh, geom_name=f"part{i}")
    return out


def find_mesh_files(folder: str | Path) -> list[Path]:
    """Mesh files directly in `folder` or below it, sorted by relative path (deterministic)."""
    folder = Path(folder)
    return sorted((p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in MESH_SUFFIXES),
                  key=lambda p: p.relative_to(folder).as_posix())
