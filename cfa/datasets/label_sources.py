"""Makers and raw-data checks for the label datasets params.yaml names (Tables 3 and 4, Figure 6).

One maker per `source` (registered in `cfa.datasets.makers.MAKERS`): it reads its own
`datasets.<name>` entry (raw folder, sizes, label options, split) and calls the preparer, which
writes `attrs["kind"]` from the entry's `kind`: the same download makes an unpaired set (Table 3's
`UTKFace`: aging domains and a test split) or a labelled one (Table 4's `UTKFace-ages`: CcGAN's
UTKFace protocol). Sources that need a download have a raw check (registered in
`cfa.datasets.catalog.RAW_CHECKS`): it returns what is missing, where, and the official page, so
`snakemake -n tableN` can say so before any job runs.

    cells      simulated Cell-200 (no download)        counts, per_count, source_images, size, seed, workers
    utkface    UTKFace aligned & cropped faces          root, size, ages (default 1..60)
    cacd       CACD2000 face images                     root, size, ages
    steering   Sully Chen's driving frames + data.txt   root, size, angle_range, split_block
    waymo      Waymo Open Dataset v2 (parquet)          root, split, camera, every, size, split_block

`root` defaults to `<paths.raw>/<RAW_FOLDERS[source]>`. Every entry may have `test_fraction` and
`split_seed` (the seeded train/test split, `cfa.datasets.splits`; 0 = no split array).
"""

from __future__ import annotations

from pathlib import Path

from cfa.errors import UserError

UNPAIRED, LABELLED = "unpaired-with-label", "labelled"

# Where each download is unpacked under paths.raw when its entry names no `root`.
RAW_FOLDERS = {"utkface": "UTKFace", "cacd": "CACD2000", "steering": "driving_dataset", "waymo": "waymo_v2"}


def raw_root(spec: dict, params: dict) -> Path:
    """The raw folder of a download source: datasets.<name>.root, else <paths.raw>/<RAW_FOLDERS>."""
    return Path(spec.get("root") or Path(params["paths"]["raw"]) / RAW_FOLDERS[spec["source"]])


def _split_options(spec: dict) -> dict:
    return {"test_fraction": float(spec.get("test_fraction", 0.0)), "split_seed": int(spec.get("split_seed", 0))}


def _pair(value, name: str, key: str) -> tuple:
    if not (isinstance(value, (list, tuple)) and len(value) == 2):
        raise UserError(f"datasets.{name}.{key} must be [MIN, MAX], got {value!r}")
    return tuple(value)


def _ages(value, name: str) -> tuple[int, int]:
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(a, int) for a in value)
            and 0 <= value[0] <= value[1]):
        raise UserError(f"datasets.{name}.ages = {value!r}: expected [MIN, MAX] integer ages with 0 <= MIN <= MAX")
    return int(value[0]), int(value[1])


def _kind(spec: dict, name: str, allowed: tuple[str, ...]) -> str:
    kind = spec["kind"]
    if kind not in allowed:
        raise UserError(f"datasets.{name}: source {spec['source']!r} makes {' or '.join(allowed)} datasets, "
                        f"not {kind!r}; change datasets.{name}.kind")
    return kind


# ---- makers -------------------------------------------------------------------------------------

def _as_named(name: str, spec: dict, out: Path, manifest: dict) -> dict:
    """The manifest under the params.yaml name (what `cfa evaluate` and the tables call the data),
    with the preparer's own name and the params entry it was made from."""
    from cfa.io import manifest_path, write_json_atomic

    manifest = {**manifest, "dataset": name, "prepared_as": manifest["dataset"], "params_entry": spec}
    write_json_atomic(manifest_path(out), manifest)
    return manifest


def make_cells(name: str, spec: dict, params: dict, out: Path, progress: bool = True) -> dict:
    from cfa.datasets.cells import prepare_cells

    first, last = _pair(spec.get("counts", [1, 200]), name, "counts")
    manifest = prepare_cells(out, counts=(int(first), int(last)), per_count=int(spec.get("per_count", 1000)),
                             source_images=spec.get("source_images"), seed=int(spec.get("seed", 0)),
                             size=int(spec.get("size", 64)), workers=int(spec.get("workers", 0)), progress=progress,
                             kind=_kind(spec, name, (UNPAIRED, LABELLED)), **_split_options(spec))
    return _as_named(name, spec, out, manifest)


def make_utkface(name: str, spec: dict, params: dict, out: Path, progress: bool = True) -> dict:
    from cfa.datasets.utkface import prepare_utkface

    ages = _ages(spec.get("ages", [1, 60]), name)   # CcGAN keeps ages 1..60
    manifest = prepare_utkface(raw_root(spec, params), out, size=int(spec.get("size", 64)), ages=ages,
                               progress=progress, kind=_kind(spec, name, (UNPAIRED, LABELLED)),
                               **_split_options(spec))
    return _as_named(name, spec, out, manifest)


def make_cacd(name: str, spec: dict, params: dict, out: Path, progress: bool = True) -> dict:
    from cfa.datasets.cacd import prepare_cacd

    ages = _ages(spec.get("ages", [1, 200]), name)
    manifest = prepare_cacd(raw_root(spec, params), out, size=int(spec.get("size", 64)), ages=ages,
                            progress=progress, kind=_kind(spec, name, (UNPAIRED, LABELLED)), **_split_options(spec))
    return _as_named(name, spec, out, manifest)


def make_steering(name: str, spec: dict, params: dict, out: Path, progress: bool = True) -> dict:
    from cfa.datasets.steering import prepare_steering

    lo, hi = _pair(spec.get("angle_range", [-80.0, 80.0]), name, "angle_range")
    manifest = prepare_steering(raw_root(spec, params), out, size=int(spec.get("size", 64)),
                                angle_range=(float(lo), float(hi)), progress=progress,
                                kind=_kind(spec, name, (UNPAIRED, LABELLED)),
                                split_block=int(spec.get("split_block", 100)), **_split_options(spec))
    return _as_named(name, spec, out, manifest)


def make_waymo(name: str, spec: dict, params: dict, out: Path, progress: bool = True) -> dict:
    from cfa.datasets.waymo import prepare_waymo

    _kind(spec, name, (UNPAIRED,))
    manifest = prepare_waymo(raw_root(spec, params), out, size=int(spec.get("size", 64)),
                             camera=spec.get("camera", "FRONT"), every=int(spec.get("every", 1)),
                             split=spec.get("split"), progress=progress,
                             split_block=int(spec.get("split_block", 20)), **_split_options(spec))
    return _as_named(name, spec, out, manifest)


# ---- raw checks ---------------------------------------------------------------------------------

def _folder_lines(name: str, what: str, root: Path, found: str, url: str, layout: str) -> list[str]:
    return [f"{name}: needs {what} in {root} (datasets.{name}.root; default under paths.raw); {found}",
            f"{name}: download it from the official page {url} and unpack it so that {layout}"]


def _jpegs_missing(name: str, spec: dict, params: dict, what: str, url: str, layout: str) -> list[str]:
    root = raw_root(spec, params)
    if not root.is_dir():
        return _folder_lines(name, what, root, "the folder does not exist", url, layout)
    if not any(p.suffix.lower() in (".jpg", ".jpeg") for p in root.rglob("*.jp*g")):
        return _folder_lines(name, what, root, "the folder has no .jpg files", url, layout)
    return []


def utkface_missing(name: str, spec: dict, params: dict) -> list[str]:
    from cfa.datasets import utkface

    return _jpegs_missing(name, spec, params, "the UTKFace face images", utkface.URL, utkface.LAYOUT)


def cacd_missing(name: str, spec: dict, params: dict) -> list[str]:
    from cfa.datasets import cacd

    return _jpegs_missing(name, spec, params, "the CACD2000 face images", cacd.URL, cacd.LAYOUT)


def steering_missing(name: str, spec: dict, params: dict) -> list[str]:
    from cfa.datasets import steering

    root = raw_root(spec, params)
    what = "the SteeringAngle driving frames and their data.txt"
    if not root.is_dir():
        return _folder_lines(name, what, root, "the folder does not exist", steering.URL, steering.LAYOUT)
    if not (root / "data.txt").is_file():
        return _folder_lines(name, what, root, "it has no data.txt", steering.URL, steering.LAYOUT)
    return []


def waymo_missing(name: str, spec: dict, params: dict) -> list[str]:
    from cfa.datasets import waymo

    what = f"the Waymo Open Dataset v2 {spec.get('split') or 'training'} split (camera_image/ and stats/)"
    root = raw_root(spec, params)
    try:
        folder, _ = waymo.resolve_split_folder(root, spec.get("split"))
    except UserError as e:
        found = str(e).split(". Download")[0]
        return _folder_lines(name, what, root, found, waymo.URL, waymo.LAYOUT)
    for sub in ("camera_image", "stats"):
        if not any((folder / sub).glob("*.parquet")):
            return _folder_lines(name, what, root, f"{folder / sub} has no .parquet files",
                                 waymo.URL, waymo.LAYOUT)
    return []
