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
