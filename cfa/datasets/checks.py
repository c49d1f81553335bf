"""Checks on the arrays a dataset file holds, shared by the readers and the test protocols."""

from __future__ import annotations

import numpy as np

from cfa.errors import UserError


def require_finite_labels(values: np.ndarray, path, key: str, needed: np.ndarray | None = None) -> None:
    """A label (angle, age, count, condition) that is NaN or infinite would silently become a NaN
    condition in training or an empty bin in evaluation: refuse the file, naming the rows.
    `needed` (bool per row) limits the check to the rows that are used (e.g. an unpaired set's
    `condition` is NaN by design for images in neither domain)."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    bad = ~np.isfinite(values)
    if needed is not None:
        bad &= np.asarray(needed, dtype=bool).reshape(-1)
    bad = np.flatnonzero(bad)
    if bad.size:
        rows = ", ".join(str(int(r)) for r in bad[:8]) + (", ..." if bad.size > 8 else "")
        raise UserError(f"{path}: {bad.size} of {values.size} values of `{key}` are NaN or infinite "
                        f"(rows {rows}); every image needs a finite label: fix or drop those rows and "
                        f"make the dataset again")
