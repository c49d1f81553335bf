"""The datasets params.yaml names: where each file lives, what it needs from data/raw, and what to
say when a file is missing.

Each `datasets.<name>` entry has a `kind` (how it is read, `cfa.datasets.kinds`) and a `source`
(how `cfa prepare --dataset <name>` makes it, `cfa.datasets.makers`).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from cfa.errors import UserError

# Where files of each kind go under data/<profile>/.
KIND_FOLDERS = {"rotation": "rotation", "paired-images": "paired", "unpaired-with-label": "unpaired",
                "labelled": "labelled"}

RENDER_SOURCES = ("shapenet", "folder", "procedural")
# source -> "module:function(name, spec, params) -> [missing-input lines]"; sources that need no
# download (procedural meshes, simulated cells) have none.
RAW_CHECKS = {
    "shapenet": "cfa.datasets.catalog:shapenet_missing",
    "folder": "cfa.datasets.catalog:folder_missing",
    "pix2pix": "cfa.datasets.catalog:pix2pix_missing",
    "h5": "cfa.datasets.rotation_h5:h5_missing",
    "utkface": "cfa.datasets.label_sources:utkface_missing",
    "cacd": "cfa.datasets.label_sources:cacd_missing",
    "steering": "cfa.datasets.label_sources:steering_missing",
    "waymo": "cfa.datasets.label_sources:waymo_missing",
}

SHAPENET_HOWTO = ("ShapeNetCore v2 needs a (free) account: https://shapenet.org -> ShapeNetCore v2; unpack it so "
                  "that {root}/<synset>/<model_id>/models/model_normalized.obj exists")


def spec_of(params: dict, name: str) -> dict:
    datasets = params.get("datasets") or {}
    if name not in datasets:
        raise UserError(f"dataset {name!r} is not in params.yaml `datasets:` (known: {', '.join(datasets)})")
    return datasets[name]


def data_path(params: dict, name: str) -> Path:
    """data/<profile>/<kind folder>/<name>.h5 (the manifest sits beside it as .json)."""
    spec = spec_of(params, name)
    return (Path(params["paths"]["data"]) / params.get("profile", "paper") / KIND_FOLDERS[spec["kind"]]
            / f"{name}.h5")


def render_options(params: dict, name: str) -> dict:
    """The `render_rotation_set` keyword arguments of a rendered dataset (profile applied)."""
    spec = spec_of(params, name)
    render = params["render"]
    root = spec.get("root")
    if root is None and spec["source"] == "shapenet":
        root = params["paths"]["shapenet"]
    return {"source": spec["source"], "root": root, "synset": spec.get("synset"), "category": spec.get("category"),
            "models": spec["models"], "angles": spec["angles"], "split": spec["split"], "size": render["size"],
            "workers": render["workers"], "elevation_deg": render["elevation_deg"], "seed": render["seed"],
            "name": name}


def how_to_make(path: str | Path, params: dict) -> str:
    """The command that makes a missing dataset file."""
    path = Path(path)
    name = path.stem
    datasets = params.get("datasets") or {}
    if name in datasets:
        spec = datasets[name]
        if spec["source"] in RENDER_SOURCES and spec.get("kind", "rotation") == "rotation":
            o = render_options(params, name)
            which = (f"--root {o['root']} --synset {o['synset'] or ''}" if o["source"] == "shapenet"
                     else f"--category {o['category']}")
            return (f"cfa render --source {o['source']} {which} --models {o['models']} --angles {o['angles']} "
                    f"--size {o['size']} --split {o['split']} --name {name} --out {path}")
        return f"cfa prepare --dataset {name} --out {path}"
    size = (params.get("render") or {}).get("size", 64)
    return (f"cfa render --source procedural --category chair --models 4 --angles 0:90:2.5 "
            f"--size {size} --split grid:5 --out {path}   (or `cfa prepare --dataset NAME` for a dataset "
            f"params.yaml defines)")


def dataset_name(path: str | Path) -> str:
    """A dataset file's name: its manifest's `dataset`, else the file stem."""
    import json

    from cfa.io import manifest_path

    mp = manifest_path(path)
    if mp.is_file():
        try:
            name = json.loads(mp.read_text()).get("dataset")
            if name:
                return str(name)
        except json.JSONDecodeError:
            pass
    return Path(path).stem


def shapenet_missing(name: str, spec: dict, params: dict) -> list[str]:
    root = Path(params["paths"]["shapenet"])
    synset_dir = root / spec["synset"]
    found = sum(1 for _ in synset_dir.glob("*/models/model_normalized.obj")) if synset_dir.is_dir() else 0
    if found >= spec["models"]:
        return []
    return [f"{name}: needs {spec['models']} ShapeNet models of synset {spec['synset']} ({spec['category']}) "
            f"in {synset_dir}, found {found}", SHAPENET_HOWTO.format(root=params["paths"]["shapenet"])]


def folder_missing(name: str, spec: dict, params: dict) -> list[str]:
    root = spec.get("root")
    if root and Path(root).is_dir():
        return []
    return [f"{name}: source 'folder' needs datasets.{name}.root to be a folder of mesh files "
            f"(obj/glb/ply/off/stl); found {root!r}"]


def pix2pix_root(params: dict, spec: dict) -> Path:
    """Where a pix2pix set's unpacked download lives: datasets.<d>.root, else <paths.raw>/pix2pix/<name>."""
    return Path(spec.get("root") or Path(params["paths"]["raw"]) / "pix2pix" / spec["name"])


def pix2pix_missing(name: str, spec: dict, params: dict) -> list[str]:
    """The split folders of a pix2pix set that are not there, with the download script to run."""
    from cfa.datasets.pix2pix_sets import SPLITS, download_hint

    root = pix2pix_root(params, spec)
    absent = [split for split in SPLITS[spec["name"]] if not (root / split).is_dir()]
    if not absent:
        return []
    where = f"{root}/ is missing" if not root.is_dir() else \
        "missing split folder(s) " + ", ".join(f"{root / s}/" for s in absent)
    return [f"{name}: pix2pix {spec['name']}: {where}", download_hint(spec["name"])]


def train_params(params: dict, data: str | Path, model: str | None = None) -> dict:
    """The training settings of a model on a dataset file: params' `train`, then `datasets.<name>.train`
    (the per-set settings pix2pix and BicycleGAN publish) when the file is a dataset params names, then
    the model's own `models.<model>.train` block (e.g. CcGAN's batch size and iterations for the
    label-only models). Every key a block names wins (a null load_size/crop_size/test_size means the
    native size, as in train.*)."""
    name = dataset_name(data)
    per_dataset = ((params.get("datasets") or {}).get(name) or {}).get("train") or {}
    per_model = ((params.get("models") or {}).get(model) or {}).get("train") or {} if model else {}
    return {**params["train"], **per_dataset, **per_model}


def raw_inputs_missing(params: dict, name: str) -> list[str]:
    """What dataset `name` needs from data/raw that is not there (empty: nothing missing)."""
    spec = spec_of(params, name)
    check = RAW_CHECKS.get(spec["source"])
    if check is None:
        return []
    module, func = check.split(":")
    return getattr(importlib.import_module(module), func)(name, spec, params)
