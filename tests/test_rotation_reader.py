"""RotationPairs: {source, target, t, label} items and the evaluation helpers, on tiny rendered sets."""

import pickle

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from cfa.datasets.rotation import RotationPairs
from cfa.errors import UserError
from cfa.render import render_rotation_set


@pytest.fixture(scope="module")
def grid_set(tmp_path_factory):
    # 2 objects x 12 angles (0, 15, ..., 165); grid:30 -> train 0 30 60, test 15 45 75, rest unused.
    out = tmp_path_factory.mktemp("rot") / "grid.h5"
    render_rotation_set(out, source="procedural", category="table", models=2, angles="0:180:15", size=16,
                        split="grid:30", progress=False)
    return out


@pytest.fixture(scope="module")
def parity_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("rot") / "parity.h5"
    render_rotation_set(out, source="procedural", category="chair", models=2, angles="0.1:1:0.1", size=16,
                        split="parity", progress=False)
    return out


def stored_images(path):
    with h5py.File(path, "r") as f:
        return f["images"][:], f["labels"][:], f["types"][:]


def as_uint8(t):
    return ((t + 1) * 127.5).round().to(torch.uint8).numpy()


def test_train_pairs_source_target_and_t(grid_set):
    images, labels, types = stored_images(grid_set)
    ds = RotationPairs(grid_set, split="train")
    assert len(ds) == 6
    assert [(r.object_index, r.angle) for r in ds.items()] == [(o, a) for o in (0, 1) for a in (0.0, 30.0, 60.0)]
    for i, row in enumerate(ds.items()):
        item = ds[i]
        source, target, t = item["source"], item["target"], item["t"]
        assert item["label"].item() == pytest.approx(row.angle)
        assert source.dtype == target.dtype == t.dtype == torch.float32
        assert source.shape == target.shape == (3, 16, 16) and t.shape == ()
        assert source.min() >= -1 and source.max() <= 1
        assert t.item() == pytest.approx(row.angle / 90.0)
        source_row = np.flatnonzero((types == row.object_index) & (labels == 0))[0]
        assert np.array_equal(as_uint8(source), images[source_row])
        assert np.array_equal(as_uint8(target), images[row.row])
    assert ds.angles() == [0.0, 30.0, 60.0]


def test_test_and_all_splits(grid_set):
    test = RotationPairs(grid_set, split="test")
    assert test.angles() == [15.0, 45.0, 75.0] and len(test) == 6
    assert [round(test[i]["t"].item(), 6) for i in range(3)] == [round(a / 90, 6) for a in (15, 45, 75)]
    everything = RotationPairs(grid_set, split="all", max_angle=360)
    assert len(everything) == 24 and everything.angles("train") == [0.0, 30.0, 60.0]
    assert everything.angles()[-1] == 165.0


def test_source_is_smallest_angle_with_parity(parity_set):
    ds = RotationPairs(parity_set, split="train")
    assert ds.angles() == [0.1, 0.3, 0.5, 0.7, 0.9]
    assert ds.source_angle(0) == pytest.approx(0.1)
    t = ds[1]["t"]                                      # object 0 at 0.3 deg
    assert t.item() == pytest.approx((0.3 - 0.1) / 90, abs=1e-6)
    assert RotationPairs(parity_set, split="test").angles() == [0.2, 0.4, 0.6, 0.8]


def test_evaluation_helpers(grid_set):
    images, labels, types = stored_images(grid_set)
    ds = RotationPairs(grid_set, split="test")
    sources = ds.source_images()
    assert sources.shape == (2, 3, 16, 16)
    assert not torch.equal(sources[0], sources[1])
    row = np.flatnonzero((types == 1) & (labels == 45))[0]
    assert np.array_equal(as_uint8(ds.image(1, 45.0)), images[row])
    with pytest.raises(KeyError):
        ds.image(0, 7.0)
    assert [(r.object_index, r.angle) for r in ds.items("train")][:2] == [(0, 0.0), (0, 30.0)]


def test_lazy_handle_survives_pickling_and_dataloader_workers(grid_set):
    for in_memory in (True, False):
        ds = RotationPairs(grid_set, in_memory=in_memory)
        first = ds[0]
        clone = pickle.loads(pickle.dumps(ds))            # what DataLoader workers receive
        assert clone._file is None
        assert first.keys() == clone[0].keys()
        assert all(torch.equal(first[k], clone[0][k]) for k in first)
        ds.close()
    loader = DataLoader(RotationPairs(grid_set), batch_size=4, num_workers=1,
                        multiprocessing_context="spawn")
    batches = list(loader)
    assert [b["source"].shape[0] for b in batches] == [4, 2] and batches[0]["t"].shape == (4,)


def test_missing_or_foreign_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="cfa render"):
        RotationPairs(tmp_path / "RC-49.h5")
    foreign = tmp_path / "other.h5"
    with h5py.File(foreign, "w") as f:
        f["IMGs_grey"] = np.zeros((1, 1, 4, 4), np.uint8)
    with pytest.raises(UserError, match="lacks images"):
        RotationPairs(foreign)
    with pytest.raises(UserError, match="split"):
        RotationPairs(foreign, split="val")
