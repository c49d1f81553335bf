"""Source/target domains and condition values for the unpaired (CycleGAN) setting.

The encodings are the authors' (REFERENCE.md section 1, "Label encodings"): the source domain has
label R1 = 0 and each target image carries its own R2 in (0, 1]; the generator is conditioned on
t = |R2 - R1| = R2. Every prepared HDF5 stores, per image,

  `domain`     int8:    0 = source, 1 = target, -1 = in neither (kept for label-only use)
  `condition`  float32: R2 for targets, 0.0 for sources, NaN for unused images

so a reader never needs to know the dataset's rule. `describe(name)` gives the rule as text for
manifests and docs.
"""

from __future__ import annotations

import numpy as np

SOURCE, TARGET, UNUSED = 0, 1, -1

# SteeringAngle target bins: 20-degree steps from -60 to 80, values as the authors list them
# (k/7 rounded to two decimals, the last one exactly 1.0).
STEERING_BIN_EDGES = np.array([-60.0, -40.0, -20.0, 0.0, 20.0, 40.0, 60.0, 80.0])
STEERING_BIN_VALUES = np.array([0.14, 0.28, 0.42, 0.56, 0.70, 0.84, 1.0], dtype=np.float32)

# Aging (UTKFace, CACD2000): source = teenagers, targets = decades from 30 on.
TEEN_AGES = (13, 19)
AGE_BIN_EDGES = np.array([30, 40, 50, 60])
AGE_BIN_VALUES = np.array([0.25, 0.5, 0.75, 1.0], dtype=np.float32)

# Waymo: source = dawn; targets ordered along the day that follows it.
TIME_OF_DAY = ("dawn", "day", "dusk", "night")
WAYMO_CONDITION = {"dawn": 0.0, "day": 1.0 / 3.0, "dusk": 2.0 / 3.0, "night": 1.0}

DESCRIPTIONS = {
    "cells": "source = count 1; target = counts 2..200 with condition (count - 1) / 199",
    "aging": "source = ages 13..19 (teenagers); target = ages [30,40) -> 0.25, [40,50) -> 0.5, "
             "[50,60) -> 0.75, >= 60 -> 1.0; ages 0..12 and 20..29 unused",
    "steering": "source = angles in (-80, -65] deg; target = angles in [-60, 80) binned by 20 deg "
                "-> 0.14, 0.28, 0.42, 0.56, 0.70, 0.84, 1.0; angles in (-65, -60) unused",
    "waymo": "source = dawn; target = day -> 1/3, dusk -> 2/3, night -> 1.0",
}


def cells_description(max_count: int = 200) -> str:
    """The cells rule for a set whose largest count is `max_count` (the condition's denominator)."""
    return (f"source = count 1; target = counts 2..{max_count} with condition "
            f"(count - 1) / {max_count - 1}")


def _empty(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full(n, UNUSED, dtype=np.int8), np.full(n, np.nan, dtype=np.float32)


def cell_domains(counts, max_count: int = 200) -> tuple[np.ndarray, np.ndarray]:
    counts = np.asarray(counts, dtype=np.float64)
    domain, condition = _empty(len(counts))
    domain[counts == 1] = SOURCE
    condition[counts == 1] = 0.0
    target = (counts >= 2) & (counts <= max_count)
    domain[target] = TARGET
    condition[target] = (counts[target] - 1) / (max_count - 1)
    return domain, condition


def age_domains(ages) -> tuple[np.ndarray, np.ndarray]:
    ages = np.asarray(ages, dtype=np.float64)
    domain, condition = _empty(len(ages))
    teen = (ages >= TEEN_AGES[0]) & (ages <= TEEN_AGES[1])
    domain[teen] = SOURCE
    condition[teen] = 0.0
    target = ages >= AGE_BIN_EDGES[0]
    bins = np.clip(np.searchsorted(AGE_BIN_EDGES, ages, side="right") - 1, 0, len(AGE_BIN_VALUES) - 1)
    domain[target] = TARGET
    condition[target] = AGE_BIN_VALUES[bins[target]]
    return domain, condition


def steering_domains(angles) -> tuple[np.ndarray, np.ndarray]:
    angles = np.asarray(angles, dtype=np.float64)
    domain, condition = _empty(len(angles))
    source = (angles > -80.0) & (angles <= -65.0)
    domain[source] = SOURCE
    condition[source] = 0.0
    target = (angles >= STEERING_BIN_EDGES[0]) & (angles < STEERING_BIN_EDGES[-1])
    bins = np.clip(np.searchsorted(STEERING_BIN_EDGES, angles, side="right") - 1,
                   0, len(STEERING_BIN_VALUES) - 1)
    domain[target] = TARGET
    condition[target] = STEERING_BIN_VALUES[bins[target]]
    return domain, condition


def waymo_domains(times_of_day) -> tuple[np.ndarray, np.ndarray]:
    names = np.asarray(times_of_day, dtype=object)
    domain, condition = _empty(len(names))
    for name, value in WAYMO_CONDITION.items():
        hit = names == name
        domain[hit] = SOURCE if name == "dawn" else TARGET
        condition[hit] = value
    return domain, condition


def domain_counts(domain, condition) -> dict[str, int]:
    """Manifest summary: images per domain and per target condition."""
    domain = np.asarray(domain)
    condition = np.asarray(condition)
    out = {"source": int((domain == SOURCE).sum()), "target": int((domain == TARGET).sum()),
           "unused": int((domain == UNUSED).sum())}
    for value in np.unique(condition[domain == TARGET]):
        out[f"target t={value:.4g}"] = int(((domain == TARGET) & (condition == value)).sum())
    return out


# ---- label encodings: dataset labels <-> conditions t, for sweeps and figures -------------------
#
# Training sees the discrete R2 values above. To sweep a trained model over its labels (Figure 6:
# 1 -> 200 cells, ages young -> old, -80 -> 80 deg, dawn -> day) a label is mapped to t by
# piecewise-linear interpolation through anchors (label, t): each domain's centre carries its R2,
# so a label between two bins gets a t between theirs. `range` is where the map is defined (labels
# outside it are refused); beyond the outer anchors t stays at 0 or 1. `figure` is the sweep of the
# paper's Figure 6 in label units (`cfa sample --t figure`).

def _sweep(lo: float, hi: float, n: int) -> str:
    return ",".join(f"{v:g}" for v in np.round(np.linspace(lo, hi, n), 4))


def cells_encoding(max_count: int = 200) -> dict:
    return {"rule": "cells", "unit": "cells", "anchors": [[1.0, 0.0], [float(max_count), 1.0]],
            "range": [1.0, float(max_count)], "figure": _sweep(1, max_count, 11)}


AGING_ENCODING = {
    "rule": "aging", "unit": "years",
    # teenagers (13..19) -> 0 at their centre, each decade bin at its centre, >= 60 at 65
    "anchors": [[16.0, 0.0], [35.0, 0.25], [45.0, 0.5], [55.0, 0.75], [65.0, 1.0]],
    "range": [13.0, 116.0],          # the youngest source age .. the oldest UTKFace age
    "figure": _sweep(16, 65, 8),     # young -> old
}

STEERING_ENCODING = {
    "rule": "steering", "unit": "deg",
    "anchors": [[-72.5, 0.0]] + [[float(lo + 10.0), float(v)]
                                 for lo, v in zip(STEERING_BIN_EDGES[:-1], STEERING_BIN_VALUES)],
    "range": [-80.0, 80.0],          # CcGAN's open interval, closed here for sweeps
    "figure": _sweep(-80, 80, 9),    # -80 deg -> 80 deg
}

WAYMO_ENCODING = {
    "rule": "waymo", "unit": "time of day (0 dawn, 1 day, 2 dusk, 3 night)",
    "anchors": [[float(i), WAYMO_CONDITION[name]] for i, name in enumerate(TIME_OF_DAY)],
    "range": [0.0, 3.0],
    "figure": _sweep(0, 1, 6),       # dawn -> day, through the values between the two labels
}

# Files written before encodings were recorded: labels are the conditions themselves.
IDENTITY_ENCODING = {"rule": "condition", "unit": "condition", "anchors": [[0.0, 0.0], [1.0, 1.0]],
                     "range": [0.0, 1.0], "figure": _sweep(0, 1, 11)}


def encode_labels(encoding: dict, labels) -> np.ndarray:
    """Labels (in `encoding['unit']`) -> conditions t (float32); a label outside the encoding's
    range raises UserError naming it."""
    from cfa.errors import UserError

    values = np.atleast_1d(np.asarray(labels, dtype=np.float64))
    lo, hi = encoding["range"]
    bad = values[~np.isfinite(values) | (values < lo) | (values > hi)]
    if len(bad):
        raise UserError(f"target label {bad[0]:g} {encoding['unit']} is outside the {encoding['rule']} "
                        f"encoding's range [{lo:g}, {hi:g}] (REFERENCE.md section 1; docs/table3.md); "
                        f"give labels inside it")
    x, t = np.asarray(encoding["anchors"], dtype=np.float64).T
    return np.interp(values, x, t).astype(np.float32)


def decode_conditions(encoding: dict, conditions) -> np.ndarray:
    """Conditions t -> the label at which the encoding gives t (a bin's centre for a bin's R2)."""
    x, t = np.asarray(encoding["anchors"], dtype=np.float64).T
    return np.interp(np.asarray(conditions, dtype=np.float64), t, x)
