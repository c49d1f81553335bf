"""SteeringAngle (Sully Chen's driving dataset): `data.txt` plus the frames it names.

`data.txt` has one frame per line, `<img>.jpg <angle_deg>`; the 2018 release appends the
capture time, `<img>.jpg <angle_deg>,<yyyy-mm-dd hh:mm:ss:ms>`. Both are read. CcGAN keeps angles
in the open interval (-80, 80) and resizes the whole frame to 64x64.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from cfa.datasets import domains
from cfa.datasets.h5writer import UNREADABLE, StreamingH5, decode_image, value_counts
from cfa.errors import UserError
from cfa.io import atomic_output, write_manifest

URL = "https://github.com/SullyChen/driving-datasets"
LAYOUT = ("ROOT holds data.txt and the frames it names, e.g. data/raw/driving_dataset/data.txt and "
          "data/raw/driving_dataset/0.jpg")


def parse_data_line(line: str) -> tuple[str, float, str | None] | str:
    """(image name, angle, timestamp or None) from one data.txt line, or why it is malformed."""
    parts = line.strip().split(maxsplit=1)
    if len(parts) != 2:
        return "malformed line: expected '<img>.jpg <angle>' or '<img>.jpg <angle>,<date time>'"
    name, rest = parts
    angle_text, _, stamp = rest.partition(",")
    try:
        angle = float(angle_text)
    except ValueError:
        return f"malformed line: angle {angle_text!r} is not a number"
    if not np.isfinite(angle):
        return f"malformed line: angle {angle_text!r} is not finite"
    return name, angle, (stamp.strip() or None)


def prepare_steering(root: str | Path, out: str | Path, size: int = 64,
                     angle_range: tuple[float, float] = (-80.0, 80.0), progress: bool = True,
                     kind: str = "unpaired-with-label", test_fraction: float = 0.0, split_seed: int = 0,
                     split_block: int = 100) -> dict:
    """-> HDF5 `images` (N,3,S,S), `labels` (angle, deg), `names`, `domain`, `condition` (+ `split`
    with test_fraction > 0: blocks of `split_block` consecutive kept frames go to one side, so a
    test frame has no near-identical neighbour in training except at a block's edge)."""
    from tqdm import tqdm

    from cfa.datasets.splits import consecutive_blocks, finish_label_file

    t0 = time.perf_counter()
    root = Path(root)
    how = f"Download the driving dataset from {URL} and unpack it so that {LAYOUT}"
    if not root.is_dir():
        raise UserError(f"SteeringAngle raw folder not found: {root}. {how}")
    data_txt = root / "data.txt"
    if not data_txt.is_file():
        raise UserError(f"SteeringAngle index not found: {data_txt}. {how}")
    lines = data_txt.read_text(errors="replace").splitlines()
    if not any(line.strip() for line in lines):
        raise UserError(f"SteeringAngle index {data_txt} is empty. {how}")
    skipped: list[dict] = []
    excluded = 0
    all_angles: list[float] = []
    batch: dict[str, list] = {"images": [], "labels": [], "names": []}

    def flush(writer: StreamingH5) -> None:
        if not batch["names"]:
            return
        labels = np.array(batch["labels"], dtype=np.float32)
        domain, condition = domains.steering_domains(labels)
        writer.append(images=np.stack(batch["images"]), labels=labels, names=list(batch["names"]),
                      domain=domain, condition=condition)
        for v in batch.values():
            v.clear()

    with atomic_output(out) as tmp:
        with StreamingH5(tmp) as writer:
            for number, line in enumerate(tqdm(lines, desc="prepare steering", unit="img",
                                               disable=not progress), start=1):
                if not line.strip():
                    continue
                parsed = parse_data_line(line)
                if isinstance(parsed, str):
                    skipped.append({"path": f"data.txt:{number}", "reason": parsed})
                    continue
                name, angle, _ = parsed
                if not angle_range[0] < angle < angle_range[1]:
                    excluded += 1
                    continue
                path = root / name
                if not path.is_file():
                    skipped.append({"path": name, "reason": f"named on data.txt line {number} but missing"})
                    continue
                try:
                    image = decode_image(path, size)
                except UNREADABLE as e:
                    skipped.append({"path": name, "reason": f"unreadable image: {type(e).__name__}: {e}"})
                    continue
                batch["images"].append(image)
                batch["labels"].append(angle)
                batch["names"].append(name)
                all_angles.append(angle)
                if len(batch["names"]) >= 256:
                    flush(writer)
            flush(writer)
            if writer.rows == 0:
                raise UserError(f"SteeringAngle: no usable frames in {data_txt} ({len(skipped)} skipped, "
                                f"{excluded} outside {angle_range}). {how}")
            split = finish_label_file(writer, dataset="steering", kind=kind, rule=domains.DESCRIPTIONS["steering"],
                                      encoding=domains.STEERING_ENCODING, test_fraction=test_fraction,
                                      split_seed=split_seed, where=f"in {data_txt} (angles in {angle_range})",
                                      groups=consecutive_blocks(writer.rows, split_block),
                                      group_rule=f"blocks of {split_block} consecutive frames of data.txt")
            writer.set_attrs(
                dataset="steering",
                source="steering",
                image_key="images",
                label_key="labels",
                label_name="steering angle (deg)",
                size=size,
                domain_rule=domains.DESCRIPTIONS["steering"],
            )
    angles = np.array(all_angles)
    domain, condition = domains.steering_domains(angles)
    counts = {"images": len(angles), "skipped": len(skipped), "excluded_by_angle": excluded,
              "angles_per_10deg": value_counts(np.floor(angles / 10) * 10),
              "domains": domains.domain_counts(domain, condition)}
    if split is not None:
        counts["split"] = split
    return write_manifest(out, dataset="steering", source=str(root),
                          params={"size": size, "angle_range": list(angle_range), "kind": kind,
                                  "test_fraction": test_fraction, "split_seed": split_seed,
                                  "split_block": split_block},
                          counts=counts, skipped=skipped, seconds=time.perf_counter() - t0)
