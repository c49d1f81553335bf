"""The aligned pix2pix sets: facades, maps, night2day, edges2shoes, edges2handbags.

Each file holds one pair side by side, A on the left half and B on the right, in `train/`, `val/`
and `test/` folders (not every set has all three). We split the halves into two image arrays and
keep the split of every pair. A and B are as the files have them; which is input and which output
is the training set-up's choice (pix2pix trains facades and maps B->A, for example).
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
SETS = {
    "facades": "400 building facades (CMP), photo | label map, 256x256 halves",
    "maps": "1096 Google Maps aerial | map tiles, 600x600 halves",
    "night2day": "Transient Attributes webcam pairs, 256x256 halves",
    "edges2shoes": "50k UT Zappos shoes, edges | photo, 256x256 halves",
    "edges2handbags": "137k iGAN handbags, edges | photo, 256x256 halves",
}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def layout(name: str) -> str:
    return (f"ROOT is the unpacked {name}.tar.gz with train/, val/ and/or test/ folders of A|B "
            f"images, e.g. data/raw/pix2pix/{name}/train/1.jpg")


def prepare_pix2pix(name: str, root: str | Path, out: str | Path, size: int = 256,
                    progress: bool = True) -> dict:
    """-> HDF5 `images_A`, `images_B` (N,3,S,S) uint8, `split` (0 train, 1 val, 2 test), `names`."""
    from PIL import Image
    from tqdm import tqdm

    t0 = time.perf_counter()
    if name not in SETS:
        raise UserError(f"unknown pix2pix set {name!r}; choose one of {list(SETS)}")
    root = Path(root)
    how = f"Download {name}.tar.gz from {URL} (see {PAGE}) and unpack it: {layout(name)}"
    if not root.is_dir():
        raise UserError(f"pix2pix {name} raw folder not found: {root}. {how}")
    splits = {s: sorted(p for p in (root / s).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
              for s in SPLIT_CODES if (root / s).is_dir()}
    splits = {s: files for s, files in splits.items() if files}
    if not splits:
        raise UserError(f"pix2pix {name} raw folder {root} has no train/, val/ or test/ images. {how}")
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
                        if width < 2 or width % 2:
                            skipped.append({"path": rel, "reason": f"width {width} is not two halves (A|B)"})
                            continue
                        half = width // 2
                        a = decode_image(path, size, crop=(0, 0, half, height))
                        b = decode_image(path, size, crop=(half, 0, width, height))
                    except UNREADABLE as e:
                        skipped.append({"path": rel, "reason": f"unreadable image: {type(e).__name__}: {e}"})
                        continue
                    batch["a"].append(a)
                    batch["b"].append(b)
                    batch["names"].append(rel)
                    kept += 1
                    if len(batch["names"]) >= 64:
                        flush()
                flush()
                counts[split] = kept
            if writer.rows == 0:
                raise UserError(f"pix2pix {name}: no readable A|B images under {root}. {how}")
            writer.set_attrs(
                dataset=f"pix2pix/{name}",
                image_keys=["images_A", "images_B"],
                split_codes=SPLIT_CODES,
                size=size,
            )
    return write_manifest(out, dataset=f"pix2pix/{name}", source=str(root),
                          params={"name": name, "size": size},
                          counts={"images": sum(counts.values()), "splits": counts, "skipped": len(skipped)},
                          skipped=skipped, seconds=time.perf_counter() - t0)
