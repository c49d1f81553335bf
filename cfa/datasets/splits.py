"""Seeded train/test splits for the label datasets, and the checks an unpaired set must pass.

Downloads such as UTKFace or the driving frames come without a test split, but evaluation needs one
(FID of translated test sources against real test targets). `write_split` adds a `split` array
(uint8: 0 train, 2 test, the codes of `h5writer.SPLIT_CODES`) to a file being prepared:

- stratified by domain: source and target images each send `test_fraction` of their images
  (rounded, at least one and never all, when a domain has two or more) to test;
- grouped where near-duplicates exist: a group (a CACD identity, a block of consecutive driving
  frames, a block of frames of one Waymo segment) goes to one side as a whole, so the test split
  holds no near-copy of a training image; groups are drawn in a seeded order until each domain
  reaches its share;
- seeded (`split_seed`): the same file and seed give the same split.

`check_domains` stops a preparation whose unpaired setting is empty (no source or no target image,
e.g. no teenagers in a UTKFace subset), naming the domain rule and the counts found.
"""

from __future__ import annotations

import numpy as np

from cfa.datasets import domains
from cfa.datasets.h5writer import SPLIT_CODES
from cfa.errors import UserError

TRAIN, TEST = SPLIT_CODES["train"], SPLIT_CODES["test"]


def _share(n: int, fraction: float) -> int:
    """Test images wanted from a stratum of n: round(fraction * n), within [1, n - 1] when n >= 2."""
    if n < 2:
        return 0
    return int(min(max(round(fraction * n), 1), n - 1))


def stratified_split(strata: np.ndarray, test_fraction: float, seed: int,
                     groups: np.ndarray | None = None) -> np.ndarray:
    """uint8 split codes (TRAIN/TEST) for rows with stratum labels `strata` and optional `groups`.

    Without groups each stratum's test rows are a seeded random `_share`. With groups, whole groups
    go to test in a seeded order while they bring a stratum below its share and leave every
    stratum they touch at least one training row.
    """
    if not 0.0 < test_fraction < 1.0:
        raise UserError(f"test_fraction must be in (0, 1), got {test_fraction}")
    strata = np.asarray(strata)
    n = len(strata)
    split = np.full(n, TRAIN, dtype=np.uint8)
    rng = np.random.default_rng(seed)
    keys, stratum = np.unique(strata, return_inverse=True)
    sizes = np.bincount(stratum, minlength=len(keys))
    wanted = np.array([_share(int(s), test_fraction) for s in sizes])
    if groups is None:
        for k in range(len(keys)):
            rows = np.flatnonzero(stratum == k)
            split[rng.permutation(rows)[:wanted[k]]] = TEST
        return split
    _, group = np.unique(np.asarray(groups), return_inverse=True)
    n_groups = int(group.max()) + 1 if n else 0
    # rows of each group per stratum: (groups, strata) counts
    per_group = np.zeros((n_groups, len(keys)), dtype=np.int64)
    np.add.at(per_group, (group, stratum), 1)
    taken = np.zeros(len(keys), dtype=np.int64)
    chosen = np.zeros(n_groups, dtype=bool)
    for g in rng.permutation(n_groups):
        counts = per_group[g]
        touched = counts > 0
        helps = np.any(touched & (taken < wanted))
        keeps_train = np.all(taken[touched] + counts[touched] <= sizes[touched] - 1)
        if helps and keeps_train:
            chosen[g] = True
            taken += counts
    split[chosen[group]] = TEST
    return split


def consecutive_blocks(n: int, block: int, start_new: np.ndarray | None = None) -> np.ndarray:
    """Group ids of blocks of `block` consecutive rows; `start_new` (bool per row) starts a new run
    (e.g. the first frame of each segment), so blocks never span two runs."""
    if block < 1:
        raise UserError(f"split_block must be >= 1, got {block}")
    if start_new is None:
        return np.arange(n) // block
    run = np.cumsum(start_new) - 1
    first = np.flatnonzero(start_new)
    within = np.arange(n) - first[run]
    return run.astype(np.int64) * (n + 1) + within // block


def check_domains(dataset: str, domain: np.ndarray, condition: np.ndarray, rule: str, where: str) -> None:
    """Refuse an unpaired set without source or without target images, naming the rule and counts."""
    counts = domains.domain_counts(domain, condition)
    if counts["source"] == 0 or counts["target"] == 0:
        empty = "source" if counts["source"] == 0 else "target"
        raise UserError(f"{dataset}: no {empty} images after filtering {where}; the unpaired setting needs "
                        f"both domains. Domain rule: {rule}. Counts found: {_counts_text(counts)}. Check "
                        f"the raw folder and the dataset's options (ages, counts, angle range)")


def _counts_text(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def write_split(h5file, dataset: str, rule: str, test_fraction: float, seed: int,
                groups: np.ndarray | None = None, group_rule: str = "each image on its own",
                unpaired: bool = True) -> dict:
    """Add `split` (and attrs `split_rule`) to an open file holding `domain`/`condition`; the
    manifest's split record. For an unpaired set, each split must hold both domains."""
    domain = h5file["domain"][:]
    condition = h5file["condition"][:]
    strata = domain if unpaired else np.zeros(len(domain), dtype=np.int8)
    split = stratified_split(strata, test_fraction, seed, groups)
    h5file.create_dataset("split", data=split, chunks=(min(len(split), 4096),), compression="gzip")
    text = (f"seeded (seed {seed}) {test_fraction:g} of each domain to test (split 2), the rest train "
            f"(split 0); unit of assignment: {group_rule}")
    h5file.attrs["split_rule"] = text
    record = {"rule": text, "test_fraction": test_fraction, "seed": seed}
    for name, code in (("train", TRAIN), ("test", TEST)):
        mask = split == code
        record[name] = domains.domain_counts(domain[mask], condition[mask]) if unpaired else int(mask.sum())
        if unpaired:
            record[name] = {k: v for k, v in record[name].items() if not k.startswith("target t=")}
            if record[name]["source"] == 0 or record[name]["target"] == 0:
                raise UserError(f"{dataset}: the {name} split has {record[name]['source']} source and "
                                f"{record[name]['target']} target images ({test_fraction:g} to test, "
                                f"{group_rule}); both domains need images in both splits. Domain rule: "
                                f"{rule}. Use more data or another test_fraction")
    return record




def finish_label_file(writer, *, dataset: str, kind: str, rule: str, encoding: dict, test_fraction: float,
                      split_seed: int, where: str, groups: np.ndarray | None = None,
                      group_rule: str = "each image on its own") -> dict | None:
    """What every label preparer does last, before the file is committed: record the kind and the
    label encoding; with test_fraction > 0, check the domains of an unpaired set and add the seeded
    split.
    Returns the manifest's split record (None without a split)."""
    import json

    if kind not in ("unpaired-with-label", "labelled"):
        raise UserError(f"{dataset}: kind {kind!r} cannot be made from labelled images; choose "
                        f"unpaired-with-label or labelled")
    unpaired = kind == "unpaired-with-label"
    f = writer.file
    writer.set_attr("kind", kind)
    writer.set_attr("label_encoding", json.dumps(encoding))
    if test_fraction and test_fraction > 0:
        # A file made for training and evaluation (what the workflow makes) must hold both domains;
        # without a split (a file converted for inspection) the reader refuses it when it is used.
        if unpaired:
            check_domains(dataset, f["domain"][:], f["condition"][:], rule, where)
        return write_split(f, dataset, rule, float(test_fraction), int(split_seed), groups, group_rule,
                           unpaired=unpaired)
    return None


__all__ = ["stratified_split", "consecutive_blocks", "check_domains", "write_split", "finish_label_file",
           "TRAIN", "TEST"]
