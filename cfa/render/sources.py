"""Where objects come from: a ShapeNetCore v2 tree, a folder of mesh files, or procedural meshes.

`select_objects` turns a source description into exactly N usable objects. Candidates are tried in
a deterministic order; a mesh that fails to load or is empty/degenerate is skipped with its reason
and the next candidate is taken. Too few candidates, or too few usable ones, is a UserError that
names the path and the counts. Procedural meshes are only ever used when asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from cfa.errors import UserError
from cfa.render.meshes import MESH_SUFFIXES, MeshError, find_mesh_files, load_mesh
from cfa.render.procedural import CATEGORIES, procedural_id, procedural_object

SOURCES = ("shapenet", "folder", "procedural")

# ShapeNetCore v2 synsets of the paper's rotation sets.
SYNSETS = {"airplane": "02691156", "car": "02958343", "chair": "03001627",
           "laptop": "03642806", "table": "04379243"}
CATEGORY_OF_SYNSET = {v: k for k, v in SYNSETS.items()}
SHAPENET_MODEL_FILE = "models/model_normalized.obj"


@dataclass(frozen=True)
class ObjectSpec:
    """How to (re)build one object in any process: a mesh path, or a procedural recipe."""

    object_id: str
    path: str | None = None            # mesh file (shapenet, folder)
    category: str | None = None        # procedural category
    index: int = 0                     # procedural index
    seed: int = 0                      # procedural seed

    def load(self) -> trimesh.Scene:
        if self.path is not None:
            return load_mesh(self.path)
        return procedural_object(self.category, self.index, self.seed)


@dataclass
class Selection:
    objects: list[ObjectSpec]
    skipped: list[dict]                # {path, reason}
    candidates: int                    # how many candidates the source offered
    rule: str                          # how the order of candidates was chosen (for the manifest)


def resolve_category(category: str | None, synset: str | None) -> tuple[str | None, str | None]:
    """Fill in the synset from a category name or vice versa (unknown synsets stay category-less)."""
    if category is not None and category not in SYNSETS:
        raise UserError(f"unknown category {category!r}; known: {', '.join(sorted(SYNSETS))} "
                        f"(for other ShapeNet synsets pass --synset ID)")
    if category is not None and synset is not None and synset in CATEGORY_OF_SYNSET \
            and CATEGORY_OF_SYNSET[synset] != category:
        raise UserError(f"category {category!r} and synset {synset} disagree (synset {synset} is "
                        f"{CATEGORY_OF_SYNSET[synset]!r}); give one of them")
    if synset is None and category is not None:
        synset = SYNSETS[category]
    if category is None and synset is not None:
        category = CATEGORY_OF_SYNSET.get(synset)
    return category, synset


def _take_usable(candidates: list[tuple[str, Path]], n: int, where: str) -> tuple[list[ObjectSpec], list[dict]]:
    objects, skipped = [], []
    for object_id, path in candidates:
        if len(objects) == n:
            break
        try:
            load_mesh(path)
        except MeshError as e:
            skipped.append({"path": str(path), "reason": str(e)})
            continue
        objects.append(ObjectSpec(object_id=object_id, path=str(path)))
    if len(objects) < n:
        raise UserError(f"{where}: only {len(objects)} usable meshes of {len(candidates)} found, {n} asked "
                        f"({len(skipped)} skipped: "
                        + "; ".join(f"{s['path']}: {s['reason']}" for s in skipped[:5])
                        + ("; ..." if len(skipped) > 5 else "") + "). Ask for fewer with --models.")
    return objects, skipped


def select_shapenet(root: str | Path, synset: str, n: int, seed: int) -> Selection:
    """N models of a synset: model ids sorted, then permuted with `seed`, taken in that order."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"ShapeNet root {root} does not exist (0 models found); download ShapeNetCore v2 and "
                        f"pass its folder with --root or paths.shapenet in params.yaml (it holds "
                        f"<synset>/<model_id>/{SHAPENET_MODEL_FILE}); without the download, render procedural "
                        f"meshes instead (--source procedural, or --set profile=demo)")
    synset_dir = root / synset
    if not synset_dir.is_dir():
        raise UserError(f"synset folder {synset_dir} does not exist (0 models found); is --root the "
                        f"ShapeNetCore v2 folder and --synset {synset} right?")
    model_ids = sorted(p.name for p in synset_dir.iterdir() if p.is_dir())
    skipped = [{"path": str(synset_dir / m / SHAPENET_MODEL_FILE), "reason": "missing model file"}
               for m in model_ids if not (synset_dir / m / SHAPENET_MODEL_FILE).is_file()]
    present = [m for m in model_ids if (synset_dir / m / SHAPENET_MODEL_FILE).is_file()]
    if len(present) < n:
        raise UserError(f"{synset_dir}: found {len(present)} models with {SHAPENET_MODEL_FILE}, "
                        f"{n} asked; ask for fewer with --models or complete the download")
    order = np.random.default_rng(seed).permutation(len(present))
    candidates = [(present[i], synset_dir / present[i] / SHAPENET_MODEL_FILE) for i in order]
    objects, load_skipped = _take_usable(candidates, n, str(synset_dir))
    return Selection(objects, skipped + load_skipped, len(model_ids),
                     f"sorted model ids permuted with numpy default_rng({seed}), first {n} usable")


def select_folder(root: str | Path, n: int) -> Selection:
    """The first N usable mesh files of a folder (recursive), in sorted relative-path order."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"mesh folder {root} does not exist; pass a folder of "
                        f"{'/'.join(s[1:] for s in MESH_SUFFIXES)} files with --root")
    files = find_mesh_files(root)
    if len(files) < n:
        raise UserError(f"{root}: found {len(files)} mesh files ({', '.join(MESH_SUFFIXES)}), {n} asked; "
                        f"ask for fewer with --models or add meshes")
    candidates = [(p.relative_to(root).with_suffix("").as_posix(), p) for p in files]
    objects, skipped = _take_usable(candidates, n, str(root))
    return Selection(objects, skipped, len(files), f"mesh files sorted by relative path, first {n} usable")


def select_procedural(category: str, n: int, seed: int) -> Selection:
    if category not in CATEGORIES:
        raise UserError(f"procedural source needs --category one of {', '.join(CATEGORIES)} (got {category!r})")
    objects = [ObjectSpec(object_id=procedural_id(category, i), category=category, index=i, seed=seed)
               for i in range(n)]
    return Selection(objects, [], n, f"procedural {category} objects 0..{n - 1} with seed {seed}")


def select_objects(source: str, n: int, *, root: str | Path | None = None, synset: str | None = None,
                   category: str | None = None, seed: int = 0) -> Selection:
    if n < 1:
        raise UserError(f"--models must be at least 1 (got {n})")
    category, synset = resolve_category(category, synset)
    if source == "shapenet":
        if root is None:
            raise UserError("--source shapenet needs --root DIR (the ShapeNetCore v2 folder)")
        if synset is None:
            raise UserError("--source shapenet needs --synset ID or --category NAME")
        return select_shapenet(root, synset, n, seed)
    if source == "folder":
        if root is None:
            raise UserError("--source folder needs --root DIR (a folder of mesh files)")
        return select_folder(root, n)
    if source == "procedural":
        if category is None:
            raise UserError(f"--source procedural needs --category one of {', '.join(CATEGORIES)}")
        return select_procedural(category, n, seed)
    raise UserError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
