"""The paired-images test protocol (Table 1): BicycleGAN's evaluation of multimodal translation.

BicycleGAN (Zhu et al. 2017; junyanz/BicycleGAN README, "Metrics") measures diversity by
translating each test input 20 times with random latent codes and averaging the LPIPS distance of
the 19 consecutive pairs, over 100 inputs (1900 distances), with LPIPS v0.0 on AlexNet ("we used
version 0.0 rather than default 0.1"). Here the latent code is the model's own random condition:
t ~ U(t0, t1) for ours, BasisGAN's noise for BasisGAN (drawn inside its forward pass), nothing for
a deterministic Pix2Pix, whose 20 outputs are identical and score exactly 0.

- Split: the file's `test` split, else `val` (maps, edges2shoes and edges2handbags ship no test
  folder; BicycleGAN's test scripts read `val`, its default `--phase`).
- LPIPS: the first `evaluate.lpips_inputs` inputs of the split in file (sorted file name) order,
  as BicycleGAN's test.py takes the first `--num_test`; `evaluate.lpips_pairs + 1` outputs each.
  A split with fewer inputs uses all of them and says so in the record.
- FID: one output per test input at a random condition, against the real targets (B) of the same
  split (a seeded subset when the split holds more than `evaluate.fid_max_images`).

Conditions come from `model.random_t` (the objective, set by `open_testset`) with a torch generator
seeded from `seed`, and torch's global RNG is seeded (and restored afterwards) around every
generation, so BasisGAN's noise is repeatable too: every number is a function of (model, seed).
"""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np
import torch
from tqdm import tqdm

from cfa.datasets.h5writer import SPLIT_CODES
from cfa.errors import UserError
from cfa.images import to_float, to_uint8
from cfa.metrics.testsets import RealImages, TestSet

SPLITS = ("test", "val")             # the first one the file has is the protocol's split
LPIPS_VERSION = "0.0"                # BicycleGAN README: `-v 0.0`
FIGURE_INPUTS, FIGURE_OUTPUTS = 4, 6
# Offsets of the seeds of the three independent draws (FID, LPIPS, figure) from the run's seed.
FID_STREAM, LPIPS_STREAM, FIGURE_STREAM = 0, 1, 2
DEFINITION = ("BicycleGAN protocol: for each test input, evaluate.lpips_pairs + 1 outputs at the model's "
              "own random conditions (t ~ U(t0, t1); BasisGAN: its noise), LPIPS (AlexNet, v0.0 heads) "
              "between consecutive outputs, averaged over all pairs of all inputs; 0 for a deterministic model")


class PairedImagesTestSet(TestSet):
    kind = "paired-images"

    def __init__(self, path, settings: dict, seed: int, progress: bool = True):
        super().__init__(path, settings, seed, progress)
        with h5py.File(self.path, "r") as f:
            missing = [k for k in ("images_A", "images_B", "split") if k not in f]
            if missing:
                raise UserError(f"{self.path} has no {missing} array; make it with `cfa prepare`")
            self.attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
            split = f["split"][:]
            self.image_shape = tuple(f["images_A"].shape[1:])
        for name in SPLITS:
            rows = np.flatnonzero(split == SPLIT_CODES[name])
            if len(rows):
                self.split, self.rows = name, rows
                break
        else:
            raise UserError(f"{self.path} has no test or val pairs to evaluate on; make it again with "
                            f"held-out pairs (`cfa prepare`)")
        self._fakes: np.ndarray | None = None

    # The protocol's settings are read when a metric needs them: the evaluation networks, which read
    # only the real images, are made without them.
    @property
    def pairs(self) -> int:
        return int(self.settings["lpips_pairs"])

    @property
    def lpips_inputs_requested(self) -> int:
        return int(self.settings["lpips_inputs"])

    @property
    def lpips_rows(self) -> np.ndarray:
        return self.rows[:self.lpips_inputs_requested]

    # -- data and generation ------------------------------------------------------------------
    def _read(self, key: str, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows),) + self.image_shape, dtype=np.uint8)
        with h5py.File(self.path, "r") as f:
            data = f[key]
            for start in range(0, len(rows), 256):
                out[start:start + 256] = data[np.sort(rows[start:start + 256])]
        return out

    def _draw_t(self, n: int, stream: int) -> torch.Tensor:
        model = self.model
        if model is None or not hasattr(model, "random_t"):
            raise UserError("the paired-images protocol evaluates a model at its own random conditions: "
                            "it needs the model (cfa evaluate passes it; in code: evaluate(..., model=objective))")
        return model.random_t(n, torch.Generator().manual_seed(self.seed * 1000 + stream))

    def _generate(self, generate, inputs: np.ndarray, t: torch.Tensor, stream: int, desc: str) -> np.ndarray:
        """uint8 outputs for uint8 inputs at conditions t, the model's own noise seeded by `stream`."""
        out = np.empty((len(inputs),) + self.image_shape, dtype=np.uint8)
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices), torch.inference_mode():
            torch.manual_seed(self.seed * 1000 + stream)
            for start in tqdm(range(0, len(inputs), self.batch_size), desc=desc, unit="batch", file=sys.stderr,
                              disable=not self.progress, leave=False):
                x = to_float(inputs[start:start + self.batch_size])
                out[start:start + len(x)] = to_uint8(generate(x, t[start:start + len(x)]))
        return out

    def _conditions(self) -> dict | None:
        model = self.model
        return model.t_distribution() if model is not None and hasattr(model, "t_distribution") else None

    # -- records ------------------------------------------------------------------------------
    def note(self) -> str | None:
        n, wanted = len(self.lpips_rows), self.lpips_inputs_requested
        if n < wanted:
            return (f"LPIPS from {n} {self.split} inputs, fewer than the {wanted} the protocol asks for "
                    f"(the split has no more)")
        return None

    def describe(self) -> dict:
        return {"path": str(self.path), "sha256": self.sha256, "source": self.attrs.get("source", "unknown"),
                "dataset": self.attrs.get("dataset"), "direction": self.attrs.get("direction"),
                "split": self.split,
                "protocol": {
                    "name": "BicycleGAN (Zhu et al. 2017, junyanz/BicycleGAN README 'Metrics')",
                    "split": self.split, "test_inputs": int(len(self.rows)),
                    "fid": "one output per test input at a random condition vs the real targets (B) of the split",
                    "fid_images": int(len(self.fid_rows())),
                    "lpips_inputs": int(len(self.lpips_rows)),
                    "lpips_inputs_requested": self.lpips_inputs_requested,
                    "lpips_inputs_chosen": "the first inputs of the split in file order (BicycleGAN: --num_test)",
                    "samples_per_input": self.pairs + 1, "lpips_pairs_per_input": self.pairs,
                    "lpips_pairs": "consecutive outputs", "lpips_version": LPIPS_VERSION, "lpips_net": "alex",
                    "conditions": self._conditions(), "seed": self.seed, "note": self.note(),
                }}

    def counts(self) -> dict:
        return {"generated_test": int(len(self.rows))}

    # -- real images: the targets (B) are what the evaluation networks learn; no label, no attribute
    def real_images(self, split: str) -> RealImages:
        split = self.split if split == "test" else split  # sets without a test split evaluate on val
        with h5py.File(self.path, "r") as f:
            rows = np.flatnonzero(f["split"][:] == SPLIT_CODES[split])
        if not len(rows):
            raise UserError(f"{self.path} has no {split} pairs")
        return RealImages(self._read("images_B", rows), None, None)

    # -- FID ----------------------------------------------------------------------------------
    def fid_rows(self) -> np.ndarray:
        rows, max_images = self.rows, int(self.settings["fid_max_images"])
        if len(rows) > max_images:
            rows = np.sort(np.random.default_rng(self.seed).choice(rows, size=max_images, replace=False))
        if len(rows) < 2:
            raise UserError(f"{self.path} has {len(rows)} {self.split} pair(s); FID needs at least 2")
        return rows

    def fid_reference(self):
        rows = self.fid_rows()
        return self._read("images_B", rows), (rows if len(rows) < len(self.rows) else None)

    def fid_fakes(self, generate) -> np.ndarray:
        if self._fakes is None:
            rows = self.fid_rows()
            t = self._draw_t(len(rows), FID_STREAM)
            self._fakes = self._generate(generate, self._read("images_A", rows), t, FID_STREAM, "generate test")
        return self._fakes

    # -- diversity ----------------------------------------------------------------------------
    def diversity_outputs(self, generate) -> np.ndarray:
        """uint8 (inputs, lpips_pairs + 1, C, H, W): every LPIPS input's outputs at random conditions."""
        samples = self.pairs + 1
        inputs = np.repeat(self._read("images_A", self.lpips_rows), samples, axis=0)
        t = self._draw_t(len(inputs), LPIPS_STREAM)
        out = self._generate(generate, inputs, t, LPIPS_STREAM, "LPIPS samples")
        return out.reshape(len(self.lpips_rows), samples, *out.shape[1:])

    def diversity_pairs(self, generate) -> dict:
        outs = self.diversity_outputs(generate)
        lhs = outs[:, :-1].reshape(-1, *outs.shape[2:])
        rhs = outs[:, 1:].reshape(-1, *outs.shape[2:])
        protocol = {"split": self.split, "samples_per_input": self.pairs + 1,
                    "lpips_inputs_requested": self.lpips_inputs_requested, "conditions": self._conditions()}
        if self.note():
            protocol["note"] = self.note()
        return {"lhs": lhs, "rhs": rhs, "inputs": len(outs), "pairs_per_input": self.pairs,
                "definition": DEFINITION, "lpips_version": LPIPS_VERSION, "protocol": protocol}

    # -- Figure 4 -----------------------------------------------------------------------------
    def write_figure(self, generate, path: str | Path, title: str) -> None:
        from cfa.figures import translation_figure

        # Inputs spread over the split (sets are stored in file order, often grouped by kind).
        rows = np.unique(self.rows[np.linspace(0, len(self.rows) - 1, min(FIGURE_INPUTS, len(self.rows))).round()
                                   .astype(int)])
        t = self._draw_t(len(rows) * FIGURE_OUTPUTS, FIGURE_STREAM)
        inputs = np.repeat(self._read("images_A", rows), FIGURE_OUTPUTS, axis=0)
        outs = self._generate(generate, inputs, t, FIGURE_STREAM, "figure")
        outs = outs.reshape(len(rows), FIGURE_OUTPUTS, *outs.shape[1:])
        conditions = self._conditions() or {}
        if conditions.get("t_used", True):
            labels = [f"t={v:.2f}" for v in t[:FIGURE_OUTPUTS].tolist()]
            note = "each output at a random t (row 1's t above; other rows their own)"
        else:
            labels = [f"sample {k + 1}" for k in range(FIGURE_OUTPUTS)]
            note = conditions.get("diversity", "random samples")
        translation_figure(path, self._read("images_A", rows), self._read("images_B", rows), outs, labels,
                           title=f"{title}\n{self.split} inputs; {note}")
