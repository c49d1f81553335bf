"""The label-only test protocol (Table 4), sampled as CcGAN samples it.

CcGAN (`UBCDingXin/improved_CcGAN`, UTKFace/UTKFace_64x64/CcGAN-improved/main.py:453-470) draws
`nfake_per_label` = 1000 images at every integer label 1 .. max_label (ages 1..60) and compares
them with ALL real images of that range (there is no held-out split: CcGAN trains on the same
images); its RC-49 script compares with every rendered angle, training split or not. Here:

- the labels: every integer in the file's `label_range` (from the dataset entry: UTKFace `ages`,
  a rendered set's angles below 90 deg), `evaluate.fakes_per_label` fakes at each, generated in
  label order with the evaluation seed (`generate(None, t)` draws z from the torch RNG, which is
  seeded here, so the fakes are a pure function of checkpoint, data and seed);
- the reals: every image whose label lies in the range, whatever its split (a rendered set's
  `unused` rows, angle >= 90 deg, excepted). An integer label without a real image (real labels
  are binned to the nearest integer) is skipped, for the fakes too, and reported on stderr and in
  the metrics record (`labels_without_real_images`); the real data are never reweighted;
- `labelled_fakes` / `labelled_reals` hand the CcGAN metrics (Intra-FID, NIQE, Diversity, Label
  Score) images with labels in label units (years, degrees) and the reals' diversity attribute
  (UTKFace race, a rendered set's object type);
- plain FID compares the fakes with the reals (each a seeded subset of `evaluate.fid_max_images`
  when larger), LPIPS diversity compares two images of the same label made from different z;
- the figure (Figure 7): rows of fixed z, columns sweeping the label range.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from cfa.errors import UserError
from cfa.images import to_uint8
from cfa.metrics.testsets import RealImages, TestSet

DIVERSITY_DEFINITION = ("mean LPIPS (AlexNet) between two images generated at the same label from two "
                        "independent noise vectors z, lpips_pairs pairs at each of lpips_inputs integer labels "
                        "drawn at random; 0 for a model whose output ignores z")
FIGURE_ROWS = 4
FIGURE_COLUMNS = 10


def _attr(value):
    from cfa.datasets.readers import _attr as decode

    return decode(value)


class LabelledTestSet(TestSet):
    kind = "labelled"

    def __init__(self, path, settings: dict, seed: int, progress: bool = True):
        import h5py

        super().__init__(path, settings, seed, progress)
        with h5py.File(self.path, "r") as f:
            self.attrs = {k: _attr(v) for k, v in f.attrs.items()}
            self.image_key = self.attrs.get("image_key", "images")
            self.label_key = self.attrs.get("label_key", "labels")
            for key in (self.image_key, self.label_key):
                if key not in f:
                    raise UserError(f"{self.path} has no {key!r} array; a labelled file needs its images and "
                                    f"labels (attrs image_key / label_key)")
            labels = f[self.label_key][:].astype(np.float64)
            keep = np.ones(len(labels), dtype=bool)
            codes = self.attrs.get("split_codes")
            if "split" in f and isinstance(codes, dict) and "unused" in codes:
                keep &= f["split"][:] != int(codes["unused"])
            self.attribute_key = self.attrs.get("attribute_key")
            attributes = (f[self.attribute_key][:].astype(np.int64)
                          if self.attribute_key is not None and self.attribute_key in f else None)
            names_key = self.attrs.get("attribute_names_key")
            names = (f[names_key][:] if names_key is not None and names_key in f
                     else self.attrs.get("attribute_names"))
            self.attribute_names = (None if names is None else
                                    [n.decode() if isinstance(n, bytes) else str(n) for n in names])
            self.image_shape = tuple(f[self.image_key].shape[1:])
            self._test_mask = None
            if "split" in f and isinstance(codes, dict) and "test" in codes:
                self._test_mask = f["split"][:] == int(codes["test"])
        self.label_scale = float(self.attrs.get("label_scale", 1.0))
        self.label_unit = self.attrs.get("label_unit") or "label units"
        self.label_range = self._label_range(labels[keep])
        lo, hi = self.label_range
        keep &= (labels >= lo - 1e-9) & (labels <= hi + 1e-9)
        self.real_rows = np.flatnonzero(keep)
        self.real_labels = labels[self.real_rows]
        self.real_attributes = None if attributes is None else attributes[self.real_rows]
        integers = np.arange(lo, hi + 1)
        nearest = np.floor(self.real_labels + 0.5).astype(np.int64)
        present = np.isin(integers, nearest)
        self.eval_labels = integers[present].astype(np.float64)
        self.labels_without_reals = integers[~present].astype(int).tolist()
        if not len(self.eval_labels):
            raise UserError(f"{self.path}: no real image has a label in {lo} .. {hi} {self.label_unit}; "
                            f"nothing to evaluate (check the dataset entry's label range)")
        if self.labels_without_reals:
            print(f"cfa evaluate: WARNING: {self.path.name}: {len(self.labels_without_reals)} integer label(s) of "
                  f"{lo} .. {hi} {self.label_unit} have no real image and are skipped (no fakes generated "
                  f"there, nothing reweighted): {_short_list(self.labels_without_reals)}", file=sys.stderr)
        self._reals: np.ndarray | None = None
        self._fakes: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def fakes_per_label(self) -> int:
        # Read when images are generated: the evaluation networks, made from the reals alone, need no
        # sampling settings.
        n = self.settings.get("fakes_per_label")
        if n is None:
            raise UserError("evaluate.fakes_per_label is not set: how many images to generate at each integer "
                            "label (CcGAN: 1000)")
        if int(n) < 1:
            raise UserError(f"evaluate.fakes_per_label = {n}: must be at least 1")
        return int(n)

    def _label_range(self, labels: np.ndarray) -> tuple[int, int]:
        recorded = self.attrs.get("label_range")
        if isinstance(recorded, list) and len(recorded) == 2:
            lo, hi = (float(v) for v in recorded)
            if lo != int(lo) or hi != int(hi) or hi < lo:
                raise UserError(f"{self.path}: label_range {recorded} must be two integers LO <= HI")
            return int(lo), int(hi)
        if not len(labels):
            raise UserError(f"{self.path}: no labelled images")
        lo, hi = int(np.ceil(labels.min() - 1e-9)), int(np.floor(labels.max() + 1e-9))
        if hi < lo:
            raise UserError(f"{self.path}: labels span {labels.min():g} .. {labels.max():g}, which holds no "
                            f"integer label to evaluate at")
        return lo, hi

    # -- description --------------------------------------------------------------------------
    def describe(self) -> dict:
        return {"path": str(self.path), "sha256": self.sha256, "source": self.attrs.get("source", "unknown"),
                "label_unit": self.label_unit, "label_range": list(self.label_range),
                "eval_labels": len(self.eval_labels), "labels_without_real_images": self.labels_without_reals,
                "fakes_per_label": self.fakes_per_label, "attribute": self.attrs.get("attribute_name"),
                "protocol": {"name": "CcGAN (Ding et al. 2021, UBCDingXin/improved_CcGAN)",
                             "note": "fakes_per_label images at every integer label of label_range vs "
                                     "all real images of that range"}}

    def counts(self) -> dict:
        return {"labelled_fakes": int(len(self.eval_labels) * self.fakes_per_label),
                "fakes_per_label": self.fakes_per_label, "eval_labels": int(len(self.eval_labels)),
                "real_images": int(len(self.real_rows))}

    # -- what the CcGAN metrics read -----------------------------------------------------------
    def labelled_reals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(uint8 images (N, C, H, W), labels in label units (N,), attribute ids (N,) or None): every
        real image of the label range."""
        if self._reals is None:
            import h5py

            with h5py.File(self.path, "r") as f:
                # One sequential read beats h5py's point selection for a large share of the rows.
                self._reals = f[self.image_key][:][self.real_rows]
        return self._reals, self.real_labels.copy(), (None if self.real_attributes is None
                                                       else self.real_attributes.copy())

    def real_images(self, split: str) -> RealImages:
        """CcGAN trains its evaluation networks (and fits NIQE per label) on every real image of the
        range: that is "train" here; "test" is the file's test split among them (all of them when the
        file has none, e.g. UTKFace, where CcGAN has no held-out images either)."""
        images, labels, attributes = self.labelled_reals()
        if split == "test" and self._test_mask is not None and self._test_mask[self.real_rows].any():
            rows = self._test_mask[self.real_rows]
            images, labels = images[rows], labels[rows]
            attributes = None if attributes is None else attributes[rows]
        return RealImages(images, labels, attributes, label_unit=self.label_unit,
                          attribute_names=self.attribute_names)

    def labelled_fakes(self, generate) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 images (L * n, C, H, W), assigned labels in label units (L * n,)): n fakes at each
        evaluated integer label, label-major, made once with the evaluation seed."""
        if self._fakes is None:
            from tqdm import tqdm

            assigned = np.repeat(self.eval_labels, self.fakes_per_label)
            t = torch.from_numpy(assigned / self.label_scale).float()
            images = np.empty((len(assigned), *self.image_shape), dtype=np.uint8)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                with torch.inference_mode():
                    for start in tqdm(range(0, len(t), self.batch_size), desc="generate fakes", unit="batch",
                                      file=sys.stderr, disable=not self.progress, leave=False):
                        y = generate(None, t[start:start + self.batch_size])
                        images[start:start + len(y)] = to_uint8(y)
            self._fakes = images, assigned
        images, labels = self._fakes
        return images, labels.copy()

    # -- FID ----------------------------------------------------------------------------------
    def _subset(self, n: int, salt: int) -> np.ndarray | None:
        """Sorted row positions of a seeded subset of evaluate.fid_max_images (None: all n)."""
        max_images = int(self.settings["fid_max_images"])
        if n <= max_images:
            return None
        return np.sort(np.random.default_rng([self.seed, salt]).choice(n, size=max_images, replace=False))

    def fid_reference(self):
        images, _, _ = self.labelled_reals()
        subset = self._subset(len(images), 0)
        if len(images) < 2:
            raise UserError(f"{self.path} has {len(images)} real image(s) in the label range; FID needs at least 2")
        if subset is None:
            return images, None
        return images[subset], self.real_rows[subset]

    def fid_fakes(self, generate) -> np.ndarray:
        images, _ = self.labelled_fakes(generate)
        subset = self._subset(len(images), 1)
        return images if subset is None else images[subset]

    # -- diversity ----------------------------------------------------------------------------
    def diversity_pairs(self, generate) -> dict:
        """Up to evaluate.lpips_inputs labels (seeded), each with lpips_pairs pairs of two images
        generated from independent z at that label (drawn for this purpose, so that the pairs do not
        depend on evaluate.fakes_per_label)."""
        from cfa.metrics.lpips_diversity import choose_inputs

        chosen = choose_inputs(len(self.eval_labels), int(self.settings["lpips_inputs"]),
                               np.random.default_rng(self.seed))
        pairs = int(self.settings["lpips_pairs"])
        lhs, rhs = [], []
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(self.seed + 1)
            for i in chosen:
                t = torch.full((2 * pairs,), self.eval_labels[i] / self.label_scale, dtype=torch.float32)
                y = generate(None, t).float().cpu()
                lhs.append(y[:pairs])
                rhs.append(y[pairs:])
        return {"lhs": torch.cat(lhs), "rhs": torch.cat(rhs), "inputs": len(chosen), "pairs_per_input": pairs,
                "definition": DIVERSITY_DEFINITION}

    # -- Figure 7 -----------------------------------------------------------------------------
    def figure_labels(self, columns: int = FIGURE_COLUMNS) -> list[float]:
        lo, hi = self.label_range
        return sorted({float(v) for v in np.round(np.linspace(lo, hi, min(columns, hi - lo + 1)))})

    def write_figure(self, generate, path: str | Path, title: str) -> None:
        """Rows of fixed z (the same seed before every column: generate draws z first), columns at
        labels spread over the range."""
        from cfa.figures import label_sweep_figure

        labels = self.figure_labels()
        columns = []
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            for label in labels:
                torch.manual_seed(self.seed)
                t = torch.full((FIGURE_ROWS,), label / self.label_scale, dtype=torch.float32)
                columns.append(to_uint8(generate(None, t)))
        outputs = np.stack(columns, axis=1)
        label_sweep_figure(path, outputs, labels, unit=self.label_unit,
                           title=title + " - rows: fixed z; columns: label")


def _short_list(values: list[int], limit: int = 12) -> str:
    text = ", ".join(str(v) for v in values[:limit])
    return text + (f", ... ({len(values)} in all)" if len(values) > limit else "")


__all__ = ["LabelledTestSet", "DIVERSITY_DEFINITION"]
