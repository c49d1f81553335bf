"""Dataset kinds: which reader serves a file, decided by the file itself.

Every dataset file records its kind (`attrs["kind"]`), so `cfa train` needs no flag and a model
given a file of the wrong kind is refused naming both. A kind is a reader class (a torch Dataset
yielding dicts of named tensors) registered here by name:

    rotation              (source, target, t, label)   cfa render: objects turning about their axis
    paired-images         (source, target)             pix2pix sets, the built-in edges set
    unpaired-with-label   (source, target, t)          Cell-200, UTKFace, CACD, SteeringAngle, Waymo
    labelled              (image, label)               label-only generation (Table 4)

Files written before kinds were recorded (and CcGAN's own HDF5 files) are recognised by their keys:
CcGAN's RC-49 file (`images`, `labels`, `types`, `indx_train`, no `kind`) is a rotation set.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from cfa.errors import UserError

READERS = {
    "rotation": "cfa.datasets.rotation:RotationPairs",
    "paired-images": "cfa.datasets.readers:PairedImages",
    "unpaired-with-label": "cfa.datasets.readers:UnpairedWithLabel",
    "labelled": "cfa.datasets.readers:LabelledImages",
}
KINDS = tuple(READERS)

# Key sets that identify a file without a `kind` attribute, most specific first.
_LAYOUTS = (
    ("rotation", {"images", "labels", "types"}),
    ("paired-images", {"images_A", "images_B"}),
    ("unpaired-with-label", {"domain", "condition"}),
)
# CcGAN's RC-49 layout. A file with three of its four keys is still taken for one, so that the
# rotation reader names the key that is missing instead of "no known layout".
_CCGAN_ROTATION_KEYS = {"images", "labels", "types", "indx_train"}


def reader_class(kind: str):
    if kind not in READERS:
        raise UserError(f"unknown dataset kind {kind!r}; known kinds: {', '.join(KINDS)}")
    module, name = READERS[kind].split(":")
    return getattr(importlib.import_module(module), name)


def kind_of(path: str | Path) -> str:
    """The kind a dataset file declares (or, for files that predate kinds, its layout implies)."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise UserError(f"dataset file not found: {path}")
    try:
        with h5py.File(path, "r") as f:
            kind = f.attrs.get("kind")
            keys = set(f.keys())
    except OSError as e:
        raise UserError(f"{path} is not a readable HDF5 dataset ({e}); make it again with "
                        f"`cfa prepare` or `cfa render`") from None
    if kind is not None:
        kind = kind.decode() if isinstance(kind, bytes) else str(kind)
        if kind not in READERS:
            raise UserError(f"{path} declares kind {kind!r}, which this version of cfa does not know "
                            f"(known: {', '.join(KINDS)})")
        return kind
    for name, required in _LAYOUTS:
        if required <= keys:
            return name
    if len(_CCGAN_ROTATION_KEYS & keys) >= 3:
        return "rotation"
    raise UserError(f"{path} is not a cfa dataset: no `kind` attribute and its arrays {sorted(keys)} match "
                    f"no known layout (docs/DESIGN.md)")


def require_kind(path: str | Path, accepted: tuple[str, ...], user: str) -> str:
    """The file's kind if `user` (e.g. "model pix2pix-cfa (objective paired)") accepts it."""
    kind = kind_of(path)
    if kind not in accepted:
        raise UserError(f"{path} is a {kind!r} dataset, but {user} trains on {' or '.join(map(repr, accepted))} "
                        f"datasets; pick a dataset of that kind (params.yaml `datasets:` lists each one's kind)")
    return kind


def open_dataset(path: str | Path, split: str = "train", kind: str | None = None, **options):
    """The reader of `path` for one split; `kind` defaults to what the file declares."""
    return reader_class(kind or kind_of(path))(path, split=split, **options)


def preview_inputs(path: str | Path, n: int):
    """The first n inputs of the test split (of the train split when the test split has none), as
    float images in [-1, 1]; None for kinds whose models take no input image."""
    cls = reader_class(kind_of(path))
    if not cls.has_inputs:
        return None
    for split in ("test", "train"):
        try:
            sources = cls(path, split=split).preview_sources(n)
        except UserError:
            continue  # no such split in this file
        if sources is not None and len(sources):
            return sources
    raise UserError(f"{path}: no test or train items to take inputs from")
