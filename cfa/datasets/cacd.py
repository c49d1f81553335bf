"""CACD2000: the age is the file-name prefix, `<age>_<First>_<Last>_<nnnn>.jpg` (ages 14..62).

The same aging domains as UTKFace (teenagers -> decades from 30). The identity (the name between
the age and the running number) is stored so that splits can keep people apart.
"""

from __future__ import annotations

import re
from pathlib import Path

from cfa.datasets.utkface import prepare_face_folder

URL = "https://bcsiriuschen.github.io/CARC/"
LAYOUT = ("ROOT holds the CACD2000 images, e.g. data/raw/CACD2000/14_Aaron_Johnson_0001.jpg "
          "(the 'Original face images' archive CACD2000.tar.gz)")
NAME_RE = re.compile(r"^(?P<age>\d{1,3})_(?P<identity>.+)_(?P<number>\d{4})\.jpe?g$", re.IGNORECASE)


def parse_cacd_name(name: str) -> dict | str:
    """{'age', 'identity'} from a file name, or the reason it is malformed."""
    m = NAME_RE.match(name)
    if not m:
        return "malformed name: expected <age>_<First>_<Last>_<nnnn>.jpg"
    return {"age": int(m["age"]), "identity": m["identity"]}


def prepare_cacd(root: str | Path, out: str | Path, size: int = 64, ages: tuple[int, int] = (1, 200),
                 progress: bool = True, kind: str = "unpaired-with-label", test_fraction: float = 0.0,
                 split_seed: int = 0) -> dict:
    """CACD2000 -> HDF5 `images`, `labels` (age), `identities`, `names`, `domain`, `condition` (+ `split`
    with test_fraction > 0: whole identities go to one side, so no test person was seen in training)."""
    return prepare_face_folder(dataset="cacd2000", root=root, out=out, url=URL, layout=LAYOUT,
                               parse=parse_cacd_name, size=size, ages=ages,
                               extra_fields={"identity": "identities"}, progress=progress, kind=kind,
                               test_fraction=test_fraction, split_seed=split_seed, group_key="identities")
