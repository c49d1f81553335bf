"""The rotation-set test protocol (Table 2).

For every test-split (object, angle) row below 90 deg the model gets the object's source image (its
smallest angle) and t = (angle - source angle) / 90, as in training and the authors' test script.
These outputs feed every metric: FID against the real test images at the same rows (a seeded subset
of `evaluate.fid_max_images` rows when there are more), LPIPS diversity over pairs of distinct test
angles of the same input, and the unseen-angle interpolation error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cfa.datasets.rotation import SPLIT_TEST, SPLIT_TRAIN, load_rotation_arrays
from cfa.errors import UserError
from cfa.metrics.interpolation import generate_rows, nearest_seen_rows
from cfa.metrics.lpips_diversity import choose_inputs, pair_outputs
from cfa.metrics.testsets import RealImages, TestSet

DIVERSITY_DEFINITION = ("mean LPIPS (AlexNet) between two outputs for the same input (an object's source "
                        "image) at two distinct test conditions t drawn at random; BicycleGAN-style pairs per "
                        "input; 0 for a model whose output does not depend on t or noise")


class RotationTestSet(TestSet):
    kind = "rotation"

    def __init__(self, path, settings: dict, seed: int, progress: bool = True):
        super().__init__(path, settings, seed, progress)
        self.data = load_rotation_arrays(self.path)
        self.rows = self.data.test_rows()
        self._fakes: np.ndarray | None = None

    def describe(self) -> dict:
        attrs = self.data.attrs
        return {"path": str(self.path), "sha256": self.sha256, "source": attrs.get("source", "unknown"),
                "split_rule": attrs.get("split_rule"), "category": attrs.get("category")}

    def counts(self) -> dict:
        return {"generated_test": int(len(self.rows))}

    def fakes(self, generate) -> np.ndarray:
        """The model's output at every test row (uint8), generated once."""
        if self._fakes is None:
            self._fakes = generate_rows(generate, self.data, self.rows, self.data.t_of(self.rows),
                                        self.batch_size, progress=self.progress, desc="generate test")
        return self._fakes

    # -- FID ----------------------------------------------------------------------------------
    def fid_rows(self) -> np.ndarray:
        """The test rows used for FID: all of them, or a seeded subset of evaluate.fid_max_images."""
        rows, max_images = self.rows, int(self.settings["fid_max_images"])
        if len(rows) > max_images:
            rng = np.random.default_rng(self.seed)
            rows = np.sort(rng.choice(rows, size=max_images, replace=False))
        if len(rows) < 2:
            raise UserError(f"{self.path} has {len(rows)} test-split images below 90 deg; FID needs "
                            f"at least 2 (render with a split that holds angles out)")
        return rows

    def fid_reference(self):
        rows = self.fid_rows()
        # A seeded subset is keyed by its rows, so the real images always match the generated ones.
        return self.data.images[rows], (rows if len(rows) < len(self.rows) else None)

    def fid_fakes(self, generate) -> np.ndarray:
        position = {int(r): i for i, r in enumerate(self.rows)}
        return self.fakes(generate)[[position[int(r)] for r in self.fid_rows()]]

    # -- labels: the angle (deg), the attribute: the object ---------------------------------
    def real_images(self, split: str) -> RealImages:
        code = {"train": SPLIT_TRAIN, "test": SPLIT_TEST}[split]
        rows = np.flatnonzero(self.data.split == code)
        if not len(rows):
            raise UserError(f"{self.path} has no {split}-split images below 90 deg")
        return RealImages(self.data.images[rows], self.data.angles[rows], self.data.types[rows],
                          label_unit="deg", attribute_names=list(self.data.object_ids))

    def labelled_fakes(self, generate) -> tuple[np.ndarray, np.ndarray]:
        """Every test row's output, asked for the row's angle."""
        return self.fakes(generate), self.data.angles[self.rows]

    # -- diversity ----------------------------------------------------------------------------
    def diversity_pairs(self, generate) -> dict:
        """Up to evaluate.lpips_inputs objects (seeded), lpips_pairs pairs of distinct test angles each."""
        fakes = self.fakes(generate)
        types = self.data.types[self.rows]
        objects = np.unique(types)
        chosen = choose_inputs(len(objects), int(self.settings["lpips_inputs"]), np.random.default_rng(self.seed))
        per_input = [fakes[types == objects[i]] for i in chosen]
        pairs = int(self.settings["lpips_pairs"])
        lhs, rhs = pair_outputs(per_input, pairs, self.seed)
        return {"lhs": lhs, "rhs": rhs, "inputs": len(per_input), "pairs_per_input": pairs,
                "definition": DIVERSITY_DEFINITION}

    # -- Figure 3 -----------------------------------------------------------------------------
    def _figure_rows(self, obj: int, max_unseen: int = 6) -> np.ndarray:
        """Up to `max_unseen` unseen angles spread over the range, each beside its nearest seen angle."""
        data = self.data
        unseen = np.flatnonzero((data.types == obj) & (data.split == SPLIT_TEST))
        if not len(unseen):
            return np.array([], dtype=np.int64)
        pick = unseen[np.unique(np.linspace(0, len(unseen) - 1, min(max_unseen, len(unseen))).round()
                                .astype(int))]
        rows = np.unique(np.concatenate([pick, nearest_seen_rows(data, pick)]))
        return rows[np.argsort(data.angles[rows])]

    def write_figure(self, generate, path: str | Path, title: str) -> None:
        from cfa.figures import interpolation_figure

        data = self.data
        panels = []
        for o in range(min(2, len(data.source_index))):
            rows = self._figure_rows(o)
            if len(rows):
                panels.append({"name": data.object_ids[o], "angles": data.angles[rows],
                               "seen": data.split[rows] == SPLIT_TRAIN, "truth": data.images[rows],
                               "output": generate_rows(generate, data, rows, data.t_of(rows),
                                                       self.batch_size, progress=False)})
        if panels:
            interpolation_figure(path, panels, title=title + " - red = unseen angle")
