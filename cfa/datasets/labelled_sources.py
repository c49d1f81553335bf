"""UTKFace as a label-only dataset (kind `labelled`, Table 4) from a params.yaml `datasets:` entry.

`source: utkface`: faces labelled by age, race as the diversity attribute, CcGAN's UTKFace protocol
(ages 1..60, 64x64, labels divided by the largest age, 60). The file records `label_range` (the
ages kept): the integer labels the test protocol (`cfa.metrics.testsets.labelled`) evaluates at.
Layout: docs/table4.md. (Rendered sets read as `labelled`: `cfa.datasets.labelled_render`.)
"""

from __future__ import annotations

from pathlib import Path

from cfa.errors import UserError

# ---- UTKFace --------------------------------------------------------------------------------------

UTKFACE_DEFAULT_ROOT = "UTKFace"      # under paths.raw
UTKFACE_DEFAULT_AGES = (1, 60)        # CcGAN: opts.py min_age 1, max_age 60


def utkface_root(spec: dict, params: dict) -> Path:
    return Path(spec.get("root") or Path(params["paths"]["raw"]) / UTKFACE_DEFAULT_ROOT)


def utkface_ages(name: str, spec: dict) -> tuple[int, int]:
    ages = spec.get("ages", list(UTKFACE_DEFAULT_AGES))
    if not (isinstance(ages, (list, tuple)) and len(ages) == 2 and all(isinstance(a, int) for a in ages)
            and 0 <= ages[0] <= ages[1]):
        raise UserError(f"datasets.{name}.ages = {ages!r}: expected [MIN, MAX] integer ages with 0 <= MIN <= MAX")
    return int(ages[0]), int(ages[1])


def utkface_missing(name: str, spec: dict, params: dict) -> list[str]:
    """What `datasets.<name>` (source utkface) lacks under data/raw (empty: nothing)."""
    from cfa.datasets import utkface

    root = utkface_root(spec, params)
    if root.is_dir() and any(root.rglob("*.jpg")):
        return []
    what = "has no .jpg files" if root.is_dir() else "does not exist"
    return [f"{name}: UTKFace raw folder {root} {what}",
            f"Download UTKFace from {utkface.URL} and unpack it so that {utkface.LAYOUT}"]


def make_utkface(name: str, spec: dict, params: dict, out: Path, progress: bool = True) -> dict:
    """`cfa prepare --dataset NAME` for `source: utkface`: faces with age labels and races.

    The file is `cfa prepare utkface`'s (images, labels = age, races, genders, names, domain,
    condition) with the attributes of its `kind`: for `labelled`, label_scale = the largest age
    kept (CcGAN divides ages by max_age = 60), label_range = the ages kept, attribute = race.
    """
    import json

    import h5py

    from cfa.datasets.utkface import RACES, prepare_utkface
    from cfa.io import atomic_output, manifest_path, write_manifest

    kind = spec.get("kind", "labelled")
    lo, hi = utkface_ages(name, spec)
    size = int(spec.get("size", 64))
    root = utkface_root(spec, params)
    with atomic_output(out) as tmp:
        made = prepare_utkface(root, tmp, size=size, ages=(lo, hi), progress=progress)
        manifest_path(tmp).unlink(missing_ok=True)  # the temporary file's manifest; ours follows
        with h5py.File(tmp, "r+") as f:
            f.attrs["kind"] = kind
            f.attrs["source"] = "utkface"
            f.attrs["label_unit"] = "years"
            if kind == "labelled":
                f.attrs["attribute_key"] = "races"
                f.attrs["attribute_name"] = "race"
                f.attrs["attribute_names"] = json.dumps(list(RACES))
                f.attrs["label_scale"] = float(hi)
                f.attrs["label_range"] = f"[{lo}, {hi}]"
    return write_manifest(out, dataset=name, source="utkface", params={**made["params"], "root": str(root),
                                                                       "kind": kind},
                          counts=made["counts"], skipped=made["skipped"], seconds=made["seconds"])


__all__ = ["make_utkface", "utkface_missing", "utkface_root", "utkface_ages"]
