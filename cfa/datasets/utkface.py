"""UTKFace: ages and races from file names, resized faces, aging domains.

File names are `[age]_[gender]_[race]_[datetime].jpg`, or `.jpg.chip.jpg` for the aligned and
cropped release. A few real files lack a field (`39_1_20170116174525125.jpg.chip.jpg`); they, and
files that cannot be decoded, are skipped and listed in the manifest with the reason.
CcGAN keeps ages 1..60 at 64x64; both are options.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Callable

import numpy as np

from cfa.datasets import domains
from cfa.datasets.h5writer import UNREADABLE, StreamingH5, decode_image, require_raw_dir, value_counts
from cfa.io import atomic_output, write_manifest

URL = "https://susanqq.github.io/UTKFace/"
LAYOUT = ("ROOT holds the face images, e.g. data/raw/UTKFace/23_0_2_20170116174525125.jpg.chip.jpg "
          "(the 'Aligned&Cropped Faces' UTKFace.tar.gz; the in-the-wild crop_part1 folder works too)")
NAME_RE = re.compile(r"^(?P<age>\d{1,3})_(?P<gender>[01])_(?P<race>[0-4])_(?P<stamp>\d+)\.jpg(\.chip\.jpg)?$",
                     re.IGNORECASE)
RACES = ("White", "Black", "Asian", "Indian", "Others")


def parse_utkface_name(name: str) -> dict | str:
    """{'age', 'gender', 'race'} from a file name, or the reason it is malformed."""
    m = NAME_RE.match(name)
    if not m:
        fields = name.split(".")[0].split("_")
        if len(fields) != 4:
            return f"malformed name: expected age_gender_race_datetime.jpg, found {len(fields)} fields"
        return "malformed name: a field is not a number in its range (age, gender 0-1, race 0-4)"
    return {"age": int(m["age"]), "gender": int(m["gender"]), "race": int(m["race"])}


def prepare_face_folder(*, dataset: str, root: str | Path, out: str | Path, url: str, layout: str,
                        parse: Callable[[str], dict | str], size: int, ages: tuple[int, int],
                        extra_fields: dict[str, str], progress: bool = True, kind: str = "unpaired-with-label",
                        test_fraction: float = 0.0, split_seed: int = 0, group_key: str | None = None,
                        labelled_attrs: dict | None = None) -> dict:
    """Shared by UTKFace and CACD2000: scan, parse names, decode, resize, stream to HDF5.

    `extra_fields` maps a parsed field to its HDF5 key (e.g. race -> races). `kind` is the reader
    the file is for (unpaired-with-label: both aging domains must be non-empty; labelled: ages
    only, plus `labelled_attrs`, what `cfa.datasets.readers.LabelledImages` reads: label scale,
    evaluation range, diversity attribute). `test_fraction` > 0 adds a seeded `split`, whole
    `group_key` groups (e.g. identities) to one side (cfa.datasets.splits).
    """
    from cfa.datasets.splits import finish_label_file

    from tqdm import tqdm

    t0 = time.perf_counter()
    root = require_raw_dir(root, dataset, url, layout, pattern="*.jpg")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in (".jpg", ".jpeg"))
    skipped: list[dict] = []
    excluded = 0
    batch: dict[str, list] = {}
    all_ages: list[int] = []
    extras: dict[str, list] = {k: [] for k in extra_fields.values()}

    def flush(writer: StreamingH5) -> None:
        if not batch.get("names"):
            return
        ages_arr = np.array(batch["ages"])
        domain, condition = domains.age_domains(ages_arr)
        arrays = {"images": np.stack(batch["images"]), "labels": ages_arr.astype(np.float32),
                  "names": batch["names"], "domain": domain, "condition": condition}
        for key in extra_fields.values():
            values = batch[key]
            arrays[key] = values if isinstance(values[0], str) else np.array(values, dtype=np.int16)
        writer.append(**arrays)
        batch.clear()

    with atomic_output(out) as tmp:
        with StreamingH5(tmp) as writer:
            for path in tqdm(files, desc=f"prepare {dataset}", unit="img", disable=not progress):
                rel = str(path.relative_to(root))
                info = parse(path.name)
                if isinstance(info, str):
                    skipped.append({"path": rel, "reason": info})
                    continue
                if not ages[0] <= info["age"] <= ages[1]:
                    excluded += 1
                    continue
                try:
                    image = decode_image(path, size)
                except UNREADABLE as e:
                    skipped.append({"path": rel, "reason": f"unreadable image: {type(e).__name__}: {e}"})
                    continue
                batch.setdefault("images", []).append(image)
                batch.setdefault("ages", []).append(info["age"])
                batch.setdefault("names", []).append(rel)
                all_ages.append(info["age"])
                for field, key in extra_fields.items():
                    batch.setdefault(key, []).append(info[field])
                    extras[key].append(info[field])
                if len(batch["names"]) >= 256:
                    flush(writer)
            flush(writer)
            if writer.rows == 0:
                from cfa.errors import UserError

                raise UserError(f"{dataset}: no usable images under {root} (ages {ages[0]}..{ages[1]}; "
                                f"{len(skipped)} skipped, {excluded} outside the age range). "
                                f"Expected: {layout}. Official page: {url}")
            groups = writer.file[group_key][:] if group_key else None
            split = finish_label_file(writer, dataset=dataset, kind=kind, rule=domains.DESCRIPTIONS["aging"],
                                      encoding=domains.AGING_ENCODING, test_fraction=test_fraction,
                                      split_seed=split_seed, where=f"under {root} (ages {ages[0]}..{ages[1]})",
                                      groups=groups,
                                      group_rule=f"whole {group_key}" if group_key else "each image on its own")
            writer.set_attrs(
                dataset=dataset,
                source=dataset,
                image_key="images",
                label_key="labels",
                label_name="age",
                label_unit="years",
                size=size,
                domain_rule=domains.DESCRIPTIONS["aging"],
            )
            if kind == "labelled" and labelled_attrs:
                writer.set_attrs(**labelled_attrs)
    ages_arr = np.array(all_ages)
    domain, condition = domains.age_domains(ages_arr)
    counts = {"images": len(all_ages), "skipped": len(skipped), "excluded_by_age": excluded,
              "ages": value_counts(ages_arr), "domains": domains.domain_counts(domain, condition)}
    for key, values in extras.items():
        if values and not isinstance(values[0], str):
            counts[key] = value_counts(values)
        elif values:
            counts[key] = len(set(values))
    if split is not None:
        counts["split"] = split
    return write_manifest(out, dataset=dataset, source=str(root),
                          params={"size": size, "ages": list(ages), "kind": kind, "test_fraction": test_fraction,
                                  "split_seed": split_seed},
                          counts=counts, skipped=skipped, seconds=time.perf_counter() - t0)


def prepare_utkface(root: str | Path, out: str | Path, size: int = 64, ages: tuple[int, int] = (1, 60),
                    progress: bool = True, kind: str = "unpaired-with-label", test_fraction: float = 0.0,
                    split_seed: int = 0) -> dict:
    """UTKFace -> HDF5 `images` (N,3,S,S) uint8, `labels` (age), `races`, `genders`, `names`,
    `domain`, `condition` (+ `split` with test_fraction > 0); returns the manifest.

    As a `labelled` set (Table 4) it follows CcGAN's UTKFace protocol: labels are divided by the
    largest age kept (max_age 60), the evaluation range is the ages kept, race is the diversity
    attribute."""
    labelled = {"attribute_key": "races", "attribute_name": "race", "attribute_names": list(RACES),
                "label_scale": float(ages[1]), "label_range": [int(ages[0]), int(ages[1])]}
    return prepare_face_folder(dataset="utkface", root=root, out=out, url=URL, layout=LAYOUT,
                               parse=parse_utkface_name, size=size, ages=ages,
                               extra_fields={"race": "races", "gender": "genders"}, progress=progress,
                               kind=kind, test_fraction=test_fraction, split_seed=split_seed,
                               labelled_attrs=labelled)
