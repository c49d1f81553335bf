"""Checks the workflow runs before any job: is every raw input there?"""

from __future__ import annotations

from pathlib import Path

SHAPENET_HOWTO = ("ShapeNetCore v2 needs a (free) account: https://shapenet.org -> ShapeNetCore v2; unpack it so "
                  "that {root}/<synset>/<model_id>/models/model_normalized.obj exists")


def missing_raw_inputs(params: dict, datasets: list[str]) -> list[str]:
    """One line per missing input (what, where, how to obtain it); empty when all is there."""
    missing = []
    shapenet_missing = False
    for name in datasets:
        spec = params["rotation_sets"][name]
        if spec["source"] == "shapenet":
            root = Path(params["paths"]["shapenet"])
            synset_dir = root / spec["synset"]
            found = (sum(1 for _ in synset_dir.glob("*/models/model_normalized.obj"))
                     if synset_dir.is_dir() else 0)
            if found < spec["models"]:
                shapenet_missing = True
                missing.append(f"{name}: needs {spec['models']} ShapeNet models of synset {spec['synset']} "
                               f"({spec['category']}) in {synset_dir}, found {found}")
        elif spec["source"] == "folder":
            root = spec.get("root")
            if not root or not Path(root).is_dir():
                missing.append(f"{name}: source 'folder' needs rotation_sets.{name}.root to be a folder of mesh "
                               f"files (obj/glb/ply/off/stl); found {root!r}")
    if shapenet_missing:
        missing.append(SHAPENET_HOWTO.format(root=params["paths"]["shapenet"]))
    return missing
