"""The aligned pix2pix sets: facades, maps, night2day, edges2shoes, edges2handbags.

Each file holds one pair side by side, A on the left half and B on the right, in the split
folders the set ships (SPLITS). pix2pix trains some sets B->A: facades (labels -> photo) and maps
(map -> aerial) run B->A, night2day and the edges sets A->B (DIRECTIONS; from the pix2pix
repository's `scripts/train_pix2pix.sh` and BicycleGAN's `scripts/test_<set>.sh`). We apply the
direction when preparing, so in our file `images_A` is always the INPUT side and `images_B` the
target; attrs `direction` records which raw half became `images_A`.

Bad input stops the run with the file or folder at fault: an image that is not two square halves
side by side (a single photo, an odd width) and a split folder the set should have. Unreadable
files (truncated JPEGs) are skipped and listed in the manifest, as every preparer does.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from cfa.datasets.h5writer import SPLIT_CODES, UNREADABLE, StreamingH5, decode_image
from cfa.errors import UserError
from cfa.io import atomic_output, write_manifest

URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/"
PAGE = "https://phillipi.github.io/pix2pix/"
REPO = "https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix"
SETS = {
    "facades": "400 building facades (CMP), photo | label map, 256x256 halves",
    "maps": "1096 Google Maps aerial | map tiles, 600x600 halves",
    "night2day": "Transient Attributes webcam pairs, night | day, 256x256 halves",
    "edges2shoes": "50k UT Zappos shoes, edges | photo, 256x256 halves",
    "edges2handbags": "137k iGAN handbags, edges | photo, 256x256 halves",
}
# The folders each tarball unpacks to (maps and the edges sets have no test/ folder).
SPLITS = {
    "facades": ("train", "val", "test"),
    "maps": ("train", "val"),
    "night2day": ("train", "val", "test"),
    "edges2shoes": ("train", "val"),
    "edges2handbags": ("train", "val"),
}
# Which half is the input, as pix2pix / BicycleGAN train each set.
DIRECTIONS = {
    "facades": "BtoA",          # label map -> photo
    "maps": "BtoA",             # map -> aerial photo
    "night2day": "AtoB",        # night -> day
    "edges2shoes": "AtoB",      # edges -> photo
    "edges2handbags": "AtoB",   # edges -> photo
}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def layout(name: str) -> str:
    splits = "/, ".join(SPLITS.get(name, ("train", "val", "test")))
    return (f"ROOT is the unpacked {name}.tar.gz with {splits}/ folders of A|B images (A left, "
            f"B right, each half square), e.g. data/raw/pix2pix/{name}/train/1.jpg")


def download_hint(name: str) -> str:
    return (f"Download it with `bash ./datasets/download_pix2pix_dataset.sh {name}` from {REPO} "
            f"(it fetches {URL}{name}.tar.gz; see {PAGE}) and unpack it: {layout(name)}")


def _check_pair_shape(path: Path, width: int, height: int, name: str) -> None:
    if width != 2 * height:
        raise UserError(f"{path}: {width}x{height} pixels is not an A|B pair; a pix2pix {name} image holds "
                        f"A and B side by side, twice as wide as high (e.g. {2 * height}x{height}). Is the "
                        f"folder a pix2pix set? {layout(name)}")


def prepare_pix2pix(name: str, root: str | Path, out: str | Path, size: int = 256,
                    direction: str | None = None, progress: bool = True, dataset: str | None = None,
                    kind: str = "paired-images") -> dict:
    """-> HDF5 `images_A` (input side), `images_B` (target side), (N,3,S,S) uint8, `split`
    (0 train, 1 val, 2 test), `names`; `direction` defaults to the set's (DIRECTIONS). `dataset`
    names the file in its attrs and manifest (default: the set's name; `cfa prepare --dataset`
    passes the params.yaml key) and `kind` is recorded as attrs["kind"]."""
    from PIL import Image
    from tqdm import tqdm

    t0 = time.perf_counter()
    if name not in SETS:
        raise UserError(f"unknown pix2pix set {name!r}; choose one of {list(SETS)}")
    direction = direction or DIRECTIONS[name]
    if direction not in ("AtoB", "BtoA"):
        raise UserError(f"--direction {direction!r}: choose AtoB (left half is the input) or BtoA")
    root = Path(root)
    how = download_hint(name)
    if not root.is_dir():
        raise UserError(f"pix2pix {name} raw folder not found: {root}. {how}")
    for split in SPLITS[name]:
        if not (root / split).is_dir():
            raise UserError(f"pix2pix {name}: split folder {root / split}/ is missing (the {name} download "
                            f"has {', '.join(s + '/' for s in SPLITS[name])}). {how}")
    # Every split folder there is, also one the download lacks (a test/ made by hand for maps).
    splits = {s: sorted(p for p in (root / s).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
              for s in SPLIT_CODES if (root / s).is_dir()}
    for split, files in splits.items():
        if not files and split in SPLITS[name]:
            raise UserError(f"pix2pix {name}: split folder {root / split}/ has no {'/'.join(IMAGE_SUFFIXES)} "
                            f"images. {how}")
    input_half = "left" if direction == "AtoB" else "right"
    skipped: list[dict] = []
    counts: dict[str, int] = {}
    with atomic_output(out) as tmp:
        with StreamingH5(tmp) as writer:
            for split, files in splits.items():
                batch: dict[str, list] = {"a": [], "b": [], "names": []}

                def flush() -> None:
                    if batch["names"]:
                        n = len(batch["names"])
                        writer.append(images_A=np.stack(batch["a"]), images_B=np.stack(batch["b"]),
                                      split=np.full(n, SPLIT_CODES[split], dtype=np.uint8),
                                      names=list(batch["names"]))
                        for v in batch.values():
                            v.clear()

                kept = 0
                for path in tqdm(files, desc=f"prepare {name}/{split}", unit="img", disable=not progress):
                    rel = str(path.relative_to(root))
                    try:
                        with Image.open(path) as probe:
                            width, height = probe.size
                        _check_pair_shape(path, width, height, name)
                        half = width // 2
                        left = decode_image(path, size, crop=(0, 0, half, height))
                        right = decode_image(path, size, crop=(half, 0, width, height))
                    except UNREADABLE as e:
                        skipped.append({"path": rel, "reason": f"unreadable image: {type(e).__name__}: {e}"})
                        continue
                    source, target = (left, right) if direction == "AtoB" else (right, left)
                    batch["a"].append(source)
                    batch["b"].append(target)
                    batch["names"].append(rel)
                    kept += 1
                    if len(batch["names"]) >= 64:
                        flush()
                flush()
                counts[split] = kept
            if writer.rows == 0:
                raise UserError(f"pix2pix {name}: no readable A|B images under {root}. {how}")
            writer.set_attrs(
                dataset=dataset or name,
                source="pix2pix",
                pix2pix_set=name,
                kind=kind,
                direction=direction,
                input_half=input_half,
                image_keys=["images_A", "images_B"],
                split_codes=SPLIT_CODES,
                size=size,
            )
    return write_manifest(out, dataset=dataset or name, source=str(root),
                          params={"name": name, "size": size, "direction": direction,
                                  "images_A": f"{input_half} half of each file (the input)"},
                          counts={"images": sum(counts.values()), "splits": counts, "skipped": len(skipped)},
                          skipped=skipped, seconds=time.perf_counter() - t0)
