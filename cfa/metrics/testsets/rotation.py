"""The rotation-set test protocol (Table 2).

The model gets an object's source image (its smallest angle) and t = (angle - source angle) / 90,
as in training and the authors' test script, at the rows of a sweep (`evaluate.sweep`):

    test-split   every test-split (object, angle) row below 90 deg
    official     the authors' test.py: t = 2.5, 5, ..., 42.5 deg (np.arange(2.5/90, 45/90, 2.5/90),
                 17 values, 45 excluded) from each object's source, i.e. the rows at source angle
                 + t; on a 5-deg training grid these alternate seen and unseen angles

These outputs feed every metric: FID against the real images at the same rows (a seeded subset of
`evaluate.fid_max_images` rows when there are more), LPIPS diversity over pairs of distinct sweep
angles of the same input, and the unseen-angle interpolation error at the sweep's test-split rows.
Which sweep and split made the numbers is recorded in `describe()` (the metrics file's `data`).
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
                        "image) at two distinct conditions t of the evaluation sweep drawn at random; "
                        "BicycleGAN-style pairs per input; 0 for a model whose output does not depend on t "
                        "or noise")
SWEEPS = ("test-split", "official")
# test.py l. 39: t_list = np.arange(2.5/90, 45/90, 2.5/90), in degrees of gap.
OFFICIAL_SWEEP_DEG = tuple(2.5 * k for k in range(1, 18))
ANGLE_TOLERANCE_DEG = 1e-3


class RotationTestSet(TestSet):
    kind = "rotation"

    def __init__(self, path, settings: dict, seed: int, progress: bool = True):
        super().__init__(path, settings, seed, progress)
        self.data = load_rotation_arrays(self.path)
        self.sweep = settings.get("sweep", "test-split")
        if self.sweep not in SWEEPS:
            raise UserError(f"evaluate.sweep = {self.sweep!r}: choose one of {list(SWEEPS)}")
        # The rows generated for FID and diversity, and among them the unseen (test-split) rows
        # the interpolation error scores (`rows`, with `fakes`).
        self.sweep_rows = self.official_rows() if self.sweep == "official" else self.data.test_rows()
        self.rows = self.sweep_rows[self.data.split[self.sweep_rows] == SPLIT_TEST]
        self._sweep_fakes: np.ndarray | None = None

    def official_rows(self) -> np.ndarray:
        """Per object, the rows at source angle + 2.5, 5, ..., 42.5 deg (the authors' test sweep)."""
        data, rows, missing = self.data, [], []
        for o, src in enumerate(data.source_index):
            mine = np.flatnonzero(data.types == o)
            for gap in OFFICIAL_SWEEP_DEG:
                angle = data.angles[src] + gap
                hit = mine[np.abs(data.angles[mine] - angle) < ANGLE_TOLERANCE_DEG]
                if len(hit):
                    rows.append(int(hit[0]))
                else:
                    missing.append(f"{data.object_ids[o]} at {angle:g} deg")
        if missing:
            raise UserError(f"{self.path}: evaluate.sweep = official needs an image at every object's source "
                            f"angle + 2.5, 5, ..., 42.5 deg; missing {len(missing)}, e.g. {', '.join(missing[:3])}. "
                            f"Use a set on a 2.5-deg (or finer) angle grid, or evaluate.sweep = test-split")
        return np.asarray(rows, dtype=np.int64)

    def describe(self) -> dict:
        attrs = self.data.attrs
        return {"path": str(self.path), "sha256": self.sha256, "source": attrs.get("source", "unknown"),
                "split_rule": attrs.get("split_rule"), "category": attrs.get("category"),
                "sweep": self.sweep,
                "sweep_deg": list(OFFICIAL_SWEEP_DEG) if self.sweep == "official" else None}

    def counts(self) -> dict:
        return {"generated_test": int(len(self.sweep_rows))}

    def sweep_fakes(self, generate) -> np.ndarray:
        """The model's output at every sweep row (uint8), generated once."""
        if self._sweep_fakes is None:
            self._sweep_fakes = generate_rows(generate, self.data, self.sweep_rows,
                                              self.data.t_of(self.sweep_rows), self.batch_size,
                                              progress=self.progress, desc=f"generate ({self.sweep})")
        return self._sweep_fakes

    def fakes(self, generate) -> np.ndarray:
        """The outputs at `rows` (the sweep's test-split rows), for the interpolation error."""
        return self.sweep_fakes(generate)[self.data.split[self.sweep_rows] == SPLIT_TEST]

    # -- FID ----------------------------------------------------------------------------------
    def fid_rows(self) -> np.ndarray:
        """The sweep rows used for FID: all of them, or a seeded subset of evaluate.fid_max_images."""
        rows, max_images = self.sweep_rows, int(self.settings["fid_max_images"])
        if len(rows) > max_images:
            rng = np.random.default_rng(self.seed)
            rows = np.sort(rng.choice(rows, size=max_images, replace=False))
        if len(rows) < 2:
            raise UserError(f"{self.path} has {len(rows)} images in the {self.sweep} sweep below 90 deg; FID "
                            f"needs at least 2 (render with a split that holds angles out)")
        return rows

    def fid_reference(self):
        rows = self.fid_rows()
        # A subset (seeded, or the official sweep's rows) is keyed by its rows, so the real images
        # always match the generated ones.
        whole_split = self.sweep == "test-split" and len(rows) == len(self.sweep_rows)
        return self.data.images[rows], (None if whole_split else rows)

    def fid_fakes(self, generate) -> np.ndarray:
        position = {int(r): i for i, r in enumerate(self.sweep_rows)}
        return self.sweep_fakes(generate)[[position[int(r)] for r in self.fid_rows()]]

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
        """Up to evaluate.lpips_inputs objects (seeded), lpips_pairs pairs of distinct sweep angles each."""
        fakes = self.sweep_fakes(generate)
        types = self.data.types[self.sweep_rows]
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
