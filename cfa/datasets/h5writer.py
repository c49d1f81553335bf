"""Streaming HDF5 writer shared by the dataset preparers.

Preparers see their raw data one file (or one parquet segment) at a time and never hold a whole
dataset in memory, so every array is created resizable on its first append and grown in place.
Images are chunked one row per chunk (readers fetch single images at random), label arrays in
larger chunks; everything is gzip-compressed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

SPLIT_CODES = {"train": 0, "val": 1, "test": 2}


class StreamingH5:
    """Append rows to named arrays of one open HDF5 file; all arrays share the row count.

    Use inside `cfa.io.atomic_output`:

        with atomic_output(out) as tmp, StreamingH5(tmp) as w:
            w.append(images=batch_uint8, labels=batch_labels)
            w.attrs["dataset"] = "utkface"
    """

    def __init__(self, path: str | Path, compression_level: int = 4):
        import h5py  # here, not at module level: `cfa --help` reads this package's constants

        self._string_dtype = h5py.string_dtype(encoding="utf-8")
        self.file = h5py.File(path, "w")
        self.compression_level = compression_level
        self.rows = 0

    @property
    def attrs(self):
        return self.file.attrs

    def set_attr(self, name: str, value: Any) -> None:
        """Store plain values as attributes; dicts and lists as JSON text."""
        if isinstance(value, (dict, list, tuple)):
            value = json.dumps(value)
        self.file.attrs[name] = value

    def set_attrs(self, **attrs: Any) -> None:
        for name, value in attrs.items():
            self.set_attr(name, value)

    def append(self, **arrays: Any) -> None:
        lengths = {k: len(v) for k, v in arrays.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"arrays of one append differ in length: {lengths}")
        n = next(iter(lengths.values()))
        if n == 0:
            return
        if self.rows and set(arrays) != set(self.file.keys()):
            raise ValueError(f"append keys {sorted(arrays)} differ from {sorted(self.file.keys())}")
        for key, value in arrays.items():
            if key not in self.file:
                self._create(key, value)
            ds = self.file[key]
            ds.resize(self.rows + n, axis=0)
            ds[self.rows:self.rows + n] = value if ds.dtype == self._string_dtype else np.asarray(value)
        self.rows += n

    def _create(self, key: str, value: Any) -> None:
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
            self.file.create_dataset(key, shape=(0,), maxshape=(None,), dtype=self._string_dtype,
                                     chunks=(1024,))
            return
        arr = np.asarray(value)
        row_shape = arr.shape[1:]
        chunk_rows = 1 if arr.ndim >= 3 else 4096
        self.file.create_dataset(key, shape=(0, *row_shape), maxshape=(None, *row_shape),
                                 dtype=arr.dtype, chunks=(chunk_rows, *row_shape),
                                 compression="gzip", compression_opts=self.compression_level,
                                 shuffle=arr.ndim < 3)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> "StreamingH5":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def value_counts(values: Any) -> dict[str, int]:
    """{value: count} with string keys, sorted by value, for manifests."""
    uniq, counts = np.unique(np.asarray(values), return_counts=True)
    return {_key(u): int(c) for u, c in zip(uniq, counts)}


def _key(v: Any) -> str:
    if isinstance(v, (np.floating, float)) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, (np.floating, float)):
        return f"{float(v):g}"
    return str(v.item() if hasattr(v, "item") else v)


# -- helpers shared by the raw-data preparers ---------------------------------------------------

def require_raw_dir(root: str | Path, dataset: str, url: str, layout: str, pattern: str = "*") -> Path:
    """The raw folder, or a UserError that names it and says where the data comes from."""
    from cfa.errors import UserError

    root = Path(root)
    how = f"Download {dataset} from {url} and unpack it so that {layout}"
    if not root.is_dir():
        raise UserError(f"{dataset} raw folder not found: {root}. {how}")
    if not any(root.rglob(pattern)):
        raise UserError(f"{dataset} raw folder {root} has no {pattern} files. {how}")
    return root


def decode_image(source: str | Path | bytes, size: int | tuple[int, int], mode: str = "RGB",
                 crop: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Decode (from a path or encoded bytes), optionally crop (l, t, r, b), resize; (C, H, W) uint8.

    Raises OSError / ValueError / SyntaxError (PIL's ways of saying unreadable) for the caller to
    record as skipped.
    """
    import io

    from PIL import Image

    fp = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    with Image.open(fp) as im:
        im.load()
        im = im.convert(mode)
        if crop is not None:
            im = im.crop(crop)
        wh = (size, size) if isinstance(size, int) else (size[1], size[0])
        if im.size != wh:
            im = im.resize(wh, Image.Resampling.BICUBIC, reducing_gap=3.0)
        arr = np.asarray(im, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


UNREADABLE = (OSError, ValueError, SyntaxError)
