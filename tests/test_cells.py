"""Cell-200 simulator: determinism, count-intensity monotonicity, countable nuclei, the HDF5."""

import json

import h5py
import numpy as np
import pytest
from scipy import ndimage, stats

from cfa.datasets.cells import CellParams, CellSimulator, image_seed, iter_cell_batches, prepare_cells
from cfa.errors import UserError
from pipeline.cli import main


@pytest.fixture(scope="module")
def sim():
    return CellSimulator()


def test_deterministic_per_seed(sim):
    a = sim.render(30, image_seed(7, 30, 2))
    b = sim.render(30, image_seed(7, 30, 2))
    c = sim.render(30, image_seed(8, 30, 2))
    assert a.shape == (64, 64) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c).sum() > 0


def test_batches_independent_of_batch_size_and_workers():
    one = np.concatenate([im for im, _ in iter_cell_batches([1, 50], 3, seed=5, batch=4, workers=0)])
    other = list(iter_cell_batches([1, 50], 3, seed=5, batch=2, workers=2))
    np.testing.assert_array_equal(one, np.concatenate([im for im, _ in other]))
    assert np.concatenate([c for _, c in other]).tolist() == [1, 1, 1, 50, 50, 50]


def test_foreground_grows_with_count(sim):
    counts = list(range(1, 201, 9)) + [200]
    mean_intensity, foreground = [], []
    for c in counts:
        images = np.stack([sim.render(c, image_seed(0, c, i)) for i in range(2)])
        mean_intensity.append(images.mean())
        foreground.append((images > 25).mean())
    assert stats.spearmanr(counts, mean_intensity).statistic > 0.95
    assert stats.spearmanr(counts, foreground).statistic > 0.95


def test_low_counts_are_countable(sim):
    errors = []
    for c in range(1, 7):
        for i in range(4):
            _, found = ndimage.label(sim.render(c, image_seed(1, c, i)) > 25)
            errors.append(found - c)
    errors = np.array(errors)
    assert np.abs(errors).max() <= 1          # touching nuclei may merge, a dim one may vanish
    assert np.abs(errors).mean() <= 0.25


def test_prepare_cells_layout_domains_manifest(tmp_path):
    out = tmp_path / "cells.h5"
    manifest = prepare_cells(out, counts=(1, 5), per_count=2, seed=3, size=32, progress=False)
    with h5py.File(out) as f:
        imgs, counts = f["IMGs_grey"][:], f["CellCounts"][:]
        domain, condition, index = f["domain"][:], f["condition"][:], f["image_index"][:]
        assert f.attrs["image_key"] == "IMGs_grey" and json.loads(f.attrs["simulator"])["canvas"] == 256
        # The recorded rule must state the denominator the conditions below were made with.
        assert f.attrs["domain_rule"] == "source = count 1; target = counts 2..5 with condition (count - 1) / 4"
    assert imgs.shape == (10, 1, 32, 32) and imgs.dtype == np.uint8
    assert counts.tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5] and index.tolist() == [0, 1] * 5
    assert domain.tolist() == [0, 0] + [1] * 8
    np.testing.assert_allclose(condition, np.repeat([0, 0.25, 0.5, 0.75, 1.0], 2))
    assert manifest["counts"]["domains"] == {"source": 2, "target": 8, "unused": 0}
    sim = CellSimulator(CellParams(size=32))
    np.testing.assert_array_equal(imgs[5, 0], sim.render(3, image_seed(3, 3, 1)))


def test_cli_cells_and_bad_counts(tmp_path, capsys):
    out = tmp_path / "c.h5"
    assert main(["prepare", "cells", "--counts", "2:3", "--per-count", "1", "--out", str(out),
                 "--no-progress"]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["params"]["counts"] == [2, 3]
    assert main(["prepare", "cells", "--counts", "5:2", "--out", str(out)]) == 2
    assert "--counts" in capsys.readouterr().err
    with pytest.raises(UserError, match="--size"):
        prepare_cells(out, counts=(1, 2), per_count=1, size=60, progress=False)
