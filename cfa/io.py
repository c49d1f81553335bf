"""Atomic outputs, checksums and dataset manifests.

An interrupted run must never leave a file that looks finished, so every output is written to a
temporary sibling and renamed into place only once complete.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it to `path`, else delete it.

    The temporary name keeps the final suffix (h5py, PIL and friends pick formats by suffix) and
    starts with a dot, so globbing for finished outputs never matches it.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    suffix = final.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=f".tmp{suffix}", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; outputs get the permissions a plain open() would give them.
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    # numpy scalars and arrays, Paths: plain JSON without importing numpy here.
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def manifest_path(data_path: str | os.PathLike) -> Path:
    """The manifest of `X.h5` is `X.json` beside it."""
    return Path(data_path).with_suffix(".json")


def write_manifest(data_path: str | os.PathLike, *, dataset: str, source: Any, params: dict,
                   counts: dict, skipped: list[dict] | None = None, seconds: float | None = None,
                   **extra: Any) -> dict:
    """Write the JSON manifest for a finished dataset file and return it.

    Call it after the data file is in place: the manifest records the file's sha256.
    """
    data_path = Path(data_path)
    manifest = {
        "dataset": dataset,
        "file": data_path.name,
        "source": source,
        "params": params,
        "counts": counts,
        "skipped": skipped or [],
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": None if seconds is None else round(float(seconds), 3),
        "sha256": sha256_file(data_path),
        **extra,
    }
    write_json_atomic(manifest_path(data_path), manifest)
    return manifest
