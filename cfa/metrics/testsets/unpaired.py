"""The unpaired-with-label test protocol (Table 3, Figure 6).

The test split (the file's seeded `split` array, `cfa.datasets.splits`) holds source images (R1 = 0:
one cell, teenagers, steering in (-80, -65] deg, dawn) and target images with their conditions R2.
The model translates test sources, G_A(A, R1 -> R1 + t) with t = R2:

- FID: one translation per real test target image, to that image's condition, from the test
  sources taken in a seeded cyclic order; compared with those real test target images (all of
  them, or a seeded subset of `evaluate.fid_max_images`), so fakes and reals share the condition mix.
- LPIPS diversity: for up to `evaluate.lpips_inputs` test sources (seeded), `evaluate.lpips_pairs`
  pairs of two distinct test conditions each; each side of a pair is its own forward pass. A model
  whose output ignores t (the paper's CycleGAN) scores exactly 0.

`describe()` records both definitions beside the numbers (the metrics record's `data.protocol`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np
import torch
from tqdm import tqdm

from cfa.datasets.domains import IDENTITY_ENCODING, SOURCE, TARGET, decode_conditions
from cfa.datasets.h5writer import SPLIT_CODES
from cfa.datasets.readers import _attr
from cfa.errors import UserError
from cfa.images import to_float, to_uint8
from cfa.metrics.lpips_diversity import choose_inputs, draw_pairs
from cfa.metrics.testsets import TestSet

FID_PROTOCOL = ("FID (Inception pool3) of translated test sources against real test target images: one "
                "translation G_A(source, t = R2) per real test target image, to that image's condition R2, from "
                "the test sources in a seeded cyclic order; reals = all test targets or a seeded subset of "
                "evaluate.fid_max_images")
DIVERSITY_DEFINITION = ("mean LPIPS (AlexNet) between two translations of the same test source to two distinct "
                        "test target conditions t drawn at random (each its own forward pass); BicycleGAN-style "
                        "pairs per input; exactly 0 for a model whose output ignores t (the paper's CycleGAN)")
FIGURE_SOURCES, FIGURE_CONDITIONS = 4, 8


class UnpairedTestSet(TestSet):
    kind = "unpaired-with-label"

    def __init__(self, path, settings: dict, seed: int, progress: bool = True):
        super().__init__(path, settings, seed, progress)
        with h5py.File(self.path, "r") as f:
            self.attrs = {k: _attr(v) for k, v in f.attrs.items()}
            self.image_key = self.attrs.get("image_key", "images")
            missing = [k for k in (self.image_key, "domain", "condition", "split") if k not in f]
            if missing:
                raise UserError(f"{self.path} has no {missing} array: the unpaired test protocol needs the "
                                f"seeded test split; make the file with `cfa prepare --dataset NAME` (or a "
                                f"`cfa prepare <dataset> --test-fraction 0.1`)")
            domain, condition = f["domain"][:], f["condition"][:]
            test = f["split"][:] == SPLIT_CODES["test"]
            self.source_rows = np.flatnonzero(test & (domain == SOURCE))
            self.target_rows = np.flatnonzero(test & (domain == TARGET))
            if not len(self.source_rows) or not len(self.target_rows):
                raise UserError(f"{self.path}: its test split has {len(self.source_rows)} source and "
                                f"{len(self.target_rows)} target images; the protocol needs both (domain rule: "
                                f"{self.attrs.get('domain_rule')})")
            self.target_t = condition[self.target_rows].astype(np.float32)
            self.sources = f[self.image_key][self.source_rows]
            self._images = None
        encoding = self.attrs.get("label_encoding")
        self.encoding = encoding if isinstance(encoding, dict) else IDENTITY_ENCODING
        self.conditions = np.unique(np.round(self.target_t, 6)).astype(np.float32)
        # the order in which test sources serve the FID translations
        self.source_order = np.random.default_rng([self.seed, 1]).permutation(len(self.source_rows))

    def _read(self, rows: np.ndarray) -> np.ndarray:
        with h5py.File(self.path, "r") as f:
            return f[self.image_key][np.sort(rows)]

    def describe(self) -> dict:
        a = self.attrs
        return {"path": str(self.path), "sha256": self.sha256, "source": a.get("source", "unknown"),
                "dataset": a.get("dataset"), "domain_rule": a.get("domain_rule"), "split_rule": a.get("split_rule"),
                "label_encoding": self.encoding,
                "protocol": {"fid": FID_PROTOCOL, "lpips_diversity": DIVERSITY_DEFINITION}}

    def counts(self) -> dict:
        return {"test_sources": int(len(self.source_rows)), "test_targets": int(len(self.target_rows)),
                "test_conditions": int(len(self.conditions))}

    def _translate(self, source_index: np.ndarray, t: np.ndarray, generate, desc: str,
                   progress: bool | None = None) -> np.ndarray:
        """uint8 G_A(test source [source_index[i]], t[i]) for every i, in batches."""
        out = np.empty((len(t),) + self.sources.shape[1:], dtype=np.uint8)
        b = self.batch_size
        with torch.inference_mode():
            for start in tqdm(range(0, len(t), b), desc=desc, unit="batch", file=sys.stderr,
                              disable=not (self.progress if progress is None else progress), leave=False):
                x = to_float(self.sources[source_index[start:start + b]])
                y = generate(x, torch.from_numpy(np.ascontiguousarray(t[start:start + b], dtype=np.float32)))
                out[start:start + len(x)] = to_uint8(y)
        return out

    # -- FID ----------------------------------------------------------------------------------
    def fid_rows(self) -> np.ndarray:
        """Positions (into the test targets) of the real FID images: all, or a seeded subset."""
        n, cap = len(self.target_rows), int(self.settings["fid_max_images"])
        if n < 2:
            raise UserError(f"{self.path} has {n} test target image(s); FID needs at least 2 (use a larger "
                            f"test_fraction or more data)")
        if n <= cap:
            return np.arange(n)
        return np.sort(np.random.default_rng(self.seed).choice(n, size=cap, replace=False))

    def fid_reference(self):
        pos = self.fid_rows()
        rows = self.target_rows[pos]
        return self._read(rows), (rows if len(pos) < len(self.target_rows) else None)

    def fid_fakes(self, generate) -> np.ndarray:
        pos = self.fid_rows()
        sources = self.source_order[np.arange(len(pos)) % len(self.source_order)]
        return self._translate(sources, self.target_t[pos], generate, "translate test sources")

    # -- diversity ----------------------------------------------------------------------------
    def diversity_conditions(self) -> tuple[np.ndarray, str]:
        """The conditions pairs are drawn from: the test targets' own, or, when they hold fewer than
        two (a Waymo split with day frames only), the target conditions the label encoding defines."""
        if len(self.conditions) >= 2:
            return self.conditions, ""
        anchors = np.unique([t for _, t in self.encoding["anchors"] if t > 0]).astype(np.float32)
        if len(anchors) < 2:
            anchors = np.linspace(0.2, 1.0, 5, dtype=np.float32)
        return anchors, (f"; the test split holds {len(self.conditions)} target condition(s), so pairs are drawn "
                         f"among the encoding's target conditions {np.round(anchors, 4).tolist()}")

    def diversity_pairs(self, generate) -> dict:
        rng = np.random.default_rng(self.seed)
        chosen = choose_inputs(len(self.source_rows), int(self.settings["lpips_inputs"]), rng)
        pairs = int(self.settings["lpips_pairs"])
        conditions, note = self.diversity_conditions()
        lhs, rhs = [], []
        for i in chosen:
            plan = draw_pairs(len(conditions), pairs, rng)
            index = np.full(len(plan), i)
            # each side is its own pass (a sampling model would draw fresh noise); equal batch shapes
            lhs.append(self._translate(index, conditions[[a for a, _ in plan]], generate, "", False))
            rhs.append(self._translate(index, conditions[[b for _, b in plan]], generate, "", False))
        return {"lhs": np.concatenate(lhs), "rhs": np.concatenate(rhs), "inputs": len(chosen),
                "pairs_per_input": pairs, "definition": DIVERSITY_DEFINITION + note}

    # -- the evaluation figure ---------------------------------------------------------------
    def figure_conditions(self) -> np.ndarray:
        """Up to FIGURE_CONDITIONS test conditions spread over their range."""
        k = np.unique(np.linspace(0, len(self.conditions) - 1, min(FIGURE_CONDITIONS, len(self.conditions)))
                      .round().astype(int))
        return self.conditions[k]

    def write_figure(self, generate, path: str | Path, title: str) -> None:
        """Top row: a real test target at each shown condition; below, test sources (first column)
        translated to those conditions."""
        from cfa.figures import _figure, _hwc, _save

        conditions = self.figure_conditions()
        n_src = min(FIGURE_SOURCES, len(self.source_rows))
        labels = decode_conditions(self.encoding, conditions)
        reals = []
        for c in conditions:
            rows = self.target_rows[np.isclose(self.target_t, c, atol=1e-6)]
            reals.append(self._read(rows[:1])[0])
        fig, axes = _figure(n_src + 1, len(conditions) + 1)
        axes[0, 0].axis("off")
        axes[0, 0].text(0.5, 0.5, "real test\ntarget", ha="center", va="center", fontsize=6)
        for k, (img, label, c) in enumerate(zip(reals, labels, conditions)):
            axes[0, k + 1].imshow(_hwc(img), cmap="gray")
            axes[0, k + 1].set_title(f"{label:.4g}\nt={c:.3g}", fontsize=6)
        for r in range(n_src):
            outs = self._translate(np.full(len(conditions), r), conditions, generate, "", False)
            axes[r + 1, 0].imshow(_hwc(self.sources[r]), cmap="gray")
            if r == 0:
                axes[r + 1, 0].set_title("test source", fontsize=6)
            for k in range(len(conditions)):
                axes[r + 1, k + 1].imshow(_hwc(outs[k]), cmap="gray")
        fig.suptitle(f"{title} - columns: target label ({self.encoding['unit']})", fontsize=8, y=1.03)
        _save(fig, path)
