"""Rotation sets that already exist as HDF5: CcGAN's RC-49 file as it is downloaded, and the
`source: h5` datasets of params.yaml that point at such a file instead of rendering.

CcGAN's layout (`RC-49_64x64.h5`, UBCDingXin/improved_CcGAN): uint8 `images` (N, 3, 64, 64),
`labels` (yaw angle, deg), `types` (chair index), `indx_train` (CcGAN's training rows: the angles
with an odd last decimal). No `object_ids`, no `split`, no `kind` attribute. Object ids come from
`types`; the train/test split from `indx_train` and a rule:

    indx_train   train = rows in indx_train, test = the others (CcGAN's own split; every test angle
                 is 0.1 deg from a training angle)
    grid:STEP    the paper's unseen-angle protocol (Figure 3: training data "in 5 deg interval",
                 interpolation at 2.5 deg): train = rows in indx_train whose gap to the object's
                 source angle (its smallest) is a multiple of STEP; test = rows NOT in indx_train
                 (CcGAN's held-out images); the other indx_train rows are unused

The grid is on the GAP (the condition t), not on the absolute angle: RC-49 starts at 0.1 deg, and
with STEP = 5 the gaps 5, 10, ... are the angles 5.1, 10.1, ... (odd last decimal: all in
indx_train), while the midpoints 2.6, 7.6, ... (even: held out) are test. On absolute angles the
grid 5.0, 10.0, ... would hold no indx_train row at all. Rows at 90 deg or more are unused.
A file read directly (`cfa train --data RC-49_64x64.h5`) gets DEFAULT_RULE.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cfa.errors import UserError

CCGAN_KEYS = ("images", "labels", "types", "indx_train")
KEY_MEANING = {"images": "uint8 (N, 3, S, S) renders", "labels": "yaw angle per image, degrees",
               "types": "object (chair) index per image", "indx_train": "CcGAN's training row indices",
               "split": "cfa's split code per image"}
DEFAULT_RULE = "grid:5"
MAX_ANGLE = 90.0
SPLIT_TRAIN, SPLIT_TEST, SPLIT_UNUSED = 0, 1, 2
_GRID = re.compile(r"^grid:([0-9]+(\.[0-9]+)?)$")
# Labels are stored as float32 at 0.1 deg resolution: a gap counts as on the grid within this (deg).
GRID_TOLERANCE_DEG = 1e-3


@dataclass
class RotationIndex:
    """Everything about a rotation file but its images: per-row angle, object (0..M-1), split code."""
    labels: np.ndarray
    types: np.ndarray
    split: np.ndarray
    object_ids: list[str]
    split_rule: str
    layout: str          # "cfa" (cfa render) or "ccgan" (CcGAN's RC-49 file)


def missing_keys_error(path, missing: list[str], layout: str) -> UserError:
    if layout == "cfa":
        needs = "the layout `cfa render` writes needs images, labels, types, split"
    else:
        needs = ("CcGAN's RC-49 layout (improved_CcGAN's RC-49_64x64.h5) needs images, labels, types, "
                 "indx_train (a file from `cfa render` has a `split` array as well)")
    return UserError(f"{path} lacks {', '.join(f'{k} ({KEY_MEANING[k]})' for k in missing)}: {needs}; use "
                     f"CcGAN's file as downloaded, or render the set again with `cfa render`")


def split_rule_name(rule: str) -> str:
    """The recorded name of a rule applied to indx_train: "indx_train" or "indx_train+grid:STEP"."""
    return rule if rule == "indx_train" else f"indx_train+{rule}"


def split_from_indx_train(labels: np.ndarray, types: np.ndarray, indx_train: np.ndarray, rule: str,
                          where: str = "the file") -> np.ndarray:
    """Split codes (0 train, 1 test, 2 unused) from CcGAN's indx_train and `rule` (module docstring)."""
    labels = np.asarray(labels, dtype=np.float64)
    n = len(labels)
    indx = np.asarray(indx_train).reshape(-1)
    if indx.size and (not np.issubdtype(indx.dtype, np.integer) or indx.min() < 0 or indx.max() >= n):
        raise UserError(f"{where}: indx_train must hold row indices in 0..{n - 1}; it holds "
                        f"{indx.dtype} values in [{indx.min()}, {indx.max()}]")
    in_train = np.zeros(n, dtype=bool)
    in_train[indx.astype(np.int64)] = True
    below = labels < MAX_ANGLE
    if rule == "indx_train":
        train = in_train
    else:
        m = _GRID.match(str(rule))
        if not m or float(m.group(1)) <= 0:
            raise UserError(f"{where}: split {rule!r}: choose indx_train or grid:STEP (STEP > 0 deg, e.g. grid:5)")
        step = float(m.group(1))
        source_angle = np.full(int(types.max()) + 1 if n else 0, np.inf)
        np.minimum.at(source_angle, types, labels)
        gap = (labels - source_angle[types]) / step
        train = in_train & (np.abs(gap - np.round(gap)) * step < GRID_TOLERANCE_DEG)
    split = np.where(train, SPLIT_TRAIN, np.where(in_train, SPLIT_UNUSED, SPLIT_TEST)).astype(np.uint8)
    split[~below] = SPLIT_UNUSED
    if not (split == SPLIT_TRAIN).any():
        raise UserError(f"{where}: split {rule!r} leaves no training rows below {MAX_ANGLE:g} deg "
                        f"(indx_train holds {indx.size} rows); use split indx_train, or a grid STEP whose "
                        f"multiples of the gap to each object's first angle are in indx_train")
    if not (split == SPLIT_TEST).any():
        raise UserError(f"{where}: split {rule!r} leaves no test rows below {MAX_ANGLE:g} deg: every row "
                        f"is in indx_train, so nothing is held out for evaluation")
    return split


def _objects(raw_types: np.ndarray, file_ids: list[str] | None) -> tuple[np.ndarray, list[str]]:
    """Object index 0..M-1 per row, and the M ids (the file's, else `type-<value>`)."""
    values, types = np.unique(np.asarray(raw_types).astype(np.int64), return_inverse=True)
    if file_ids is not None and len(values) and 0 <= values.min() and values.max() < len(file_ids):
        return types.astype(np.int64), [file_ids[v] for v in values]
    return types.astype(np.int64), [f"type-{v}" for v in values]


def _strings(values) -> list[str]:
    return [s.decode() if isinstance(s, bytes) else str(s) for s in values]


def read_index(f, path, rule: str | None = None) -> RotationIndex:
    """The index of an open rotation file in either layout; a missing key is named.

    cfa's layout (has `split`) keeps its stored split; CcGAN's (has `indx_train`, no `split`)
    gets `rule`, else the file's `split_rule` attribute, else DEFAULT_RULE.
    """
    keys = set(f.keys())
    layout = "cfa" if "split" in keys else "ccgan"
    wanted = ("images", "labels", "types", "split") if layout == "cfa" else CCGAN_KEYS
    missing = [k for k in wanted if k not in keys]
    if missing:
        raise missing_keys_error(path, missing, layout)
    labels = f["labels"][:].astype(np.float64).reshape(-1)
    file_ids = _strings(f["object_ids"][:]) if "object_ids" in keys else None
    types, object_ids = _objects(f["types"][:].reshape(-1), file_ids)
    if not (len(types) == len(labels) == f["images"].shape[0]):
        raise UserError(f"{path}: images ({f['images'].shape[0]}), labels ({len(labels)}) and types "
                        f"({len(types)}) must have one row per image")
    if layout == "cfa":
        rule = f.attrs.get("split_rule")
        rule = rule.decode() if isinstance(rule, bytes) else (None if rule is None else str(rule))
        return RotationIndex(labels, types, f["split"][:].astype(np.uint8).reshape(-1), object_ids,
                             rule or "unknown", layout)
    attr_rule = f.attrs.get("split_rule")
    attr_rule = attr_rule.decode() if isinstance(attr_rule, bytes) else attr_rule
    rule = rule or (str(attr_rule).removeprefix("indx_train+") if attr_rule else DEFAULT_RULE)
    split = split_from_indx_train(labels, types, f["indx_train"][:], rule, where=str(path))
    return RotationIndex(labels, types, split, object_ids, split_rule_name(rule), layout)


# ---- source: h5 (params.yaml datasets.<name>: {kind: rotation, source: h5, path, split}) --------

def h5_missing(name: str, spec: dict, params: dict) -> list[str]:
    """The raw check of an h5-source dataset: its file must exist."""
    path = Path(spec.get("path") or "")
    if spec.get("path") and path.is_file():
        return []
    return [f"{name}: source 'h5' needs the file datasets.{name}.path = {spec.get('path')!r}, which does "
            f"not exist",
            "CcGAN's RC-49 file: download RC-49_64x64.h5 from the link in the README of "
            "https://github.com/UBCDingXin/improved_CcGAN (RC-49 section) and place it at that path, "
            "or point datasets.<name>.path at your copy"]


def make_from_h5(name: str, spec: dict, params: dict, out: Path, progress: bool = True) -> dict:
    """Validate the file at spec["path"] and copy it, in cfa's layout with the split of spec["split"],
    to `out` (+ manifest). The copy is self-describing (object ids, split codes, rule, source sha256),
    so every later step reads it like a render."""
    import h5py
    from tqdm import tqdm

    from cfa.io import atomic_output, sha256_file, write_manifest

    started = time.time()
    src = Path(spec.get("path") or "")
    if not src.is_file():
        raise UserError("; ".join(h5_missing(name, spec, params)))
    rule = str(spec.get("split", DEFAULT_RULE))
    try:
        f = h5py.File(src, "r")
    except OSError as e:
        raise UserError(f"datasets.{name}.path {src} is not a readable HDF5 file ({e})") from None
    with f:
        missing = [k for k in CCGAN_KEYS if k not in f]
        if missing:
            raise missing_keys_error(src, missing, "ccgan")
        images = f["images"]
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
            raise UserError(f"{src}: `images` must be uint8 (N, C, H, W) with C = 1 or 3, got {images.dtype} "
                            f"{images.shape}")
        labels = f["labels"][:].astype(np.float64).reshape(-1)
        file_ids = _strings(f["object_ids"][:]) if "object_ids" in f else None
        types, object_ids = _objects(f["types"][:].reshape(-1), file_ids)
        if not (len(labels) == len(types) == images.shape[0]):
            raise UserError(f"{src}: images ({images.shape[0]}), labels ({len(labels)}) and types "
                            f"({len(types)}) must have one row per image")
        split = split_from_indx_train(labels, types, f["indx_train"][:], rule, where=f"datasets.{name} ({src})")
        source_kind = f.attrs.get("source")
        source_kind = source_kind.decode() if isinstance(source_kind, bytes) else source_kind
        source = str(source_kind) if source_kind else "ccgan-h5"
        size = int(images.shape[-1])
        with atomic_output(out) as tmp, h5py.File(tmp, "w") as g:
            dst = g.create_dataset("images", shape=images.shape, dtype=np.uint8,
                                   chunks=(1,) + images.shape[1:], compression="gzip", compression_opts=4)
            block = 1024
            for start in tqdm(range(0, images.shape[0], block), desc=f"copy {name}", unit="block",
                              disable=not progress, leave=False):
                dst[start:start + block] = images[start:start + block]
            g.create_dataset("labels", data=labels.astype(np.float32))
            g.create_dataset("types", data=types.astype(np.int32))
            g.create_dataset("object_ids", data=np.array(object_ids, dtype=object),
                             dtype=h5py.string_dtype(encoding="utf-8"))
            g.create_dataset("split", data=split)
            g.create_dataset("indx_train", data=np.flatnonzero(split == SPLIT_TRAIN).astype(np.int64))
            g.attrs.update({"kind": "rotation", "source": source, "size": size,
                            "split_rule": split_rule_name(rule), "from_file": str(src)})
    counts = {"images": int(len(labels)), "objects": len(object_ids), "train": int((split == SPLIT_TRAIN).sum()),
              "test": int((split == SPLIT_TEST).sum()), "unused": int((split == SPLIT_UNUSED).sum())}
    return write_manifest(out, dataset=name, source=source,
                          params={"path": str(src), "split": rule, "split_rule": split_rule_name(rule)},
                          counts=counts, seconds=time.time() - started, source_sha256=sha256_file(src))
