"""torch readers over prepared files: unpaired with label, label-only, worker safety, errors."""

import pickle

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from cfa.datasets.cells import prepare_cells
from cfa.datasets.readers import LabelledImages, PairedImages, UnpairedWithLabel, to_tensor
from cfa.errors import UserError


@pytest.fixture(scope="module")
def cells_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("cells") / "cells.h5"
    prepare_cells(out, counts=(1, 4), per_count=3, seed=0, size=16, progress=False)
    return out


def test_to_tensor_range():
    x = to_tensor(np.array([[[0, 255], [127, 128]]], dtype=np.uint8))
    assert x.dtype == torch.float32 and x.min() == -1 and x.max() == 1


def test_unpaired_with_label(cells_file):
    ds = UnpairedWithLabel(cells_file)
    assert len(ds) == 9 and ds.available_conditions() == pytest.approx([1 / 3, 2 / 3, 1.0], abs=1e-6)
    with h5py.File(cells_file) as f:
        images, counts = f["IMGs_grey"][:], f["CellCounts"][:]
    sources_seen = set()
    for i in range(len(ds)):
        item = ds[i]
        src, tgt, t = item["source"], item["target"], item["t"]
        assert src.shape == tgt.shape == (1, 16, 16) and t.shape == ()
        src_row = int(np.nonzero((to_tensor(images) == src).flatten(1).all(1))[0][0])
        tgt_row = int(np.nonzero((to_tensor(images) == tgt).flatten(1).all(1))[0][0])
        assert counts[src_row] == 1
        assert float(t) == pytest.approx((counts[tgt_row] - 1) / 3)
        sources_seen.add(src_row)
    assert sources_seen == {0, 1, 2}          # every source image is used
    one_bin = UnpairedWithLabel(cells_file, conditions=[1.0])
    assert len(one_bin) == 3 and all(float(one_bin[i]["t"]) == 1.0 for i in range(3))
    with pytest.raises(UserError, match="target"):
        UnpairedWithLabel(cells_file, conditions=[0.5])


def test_labelled_images_and_workers(cells_file):
    ds = LabelledImages(cells_file, label_range=(2, 3), label_scale=4)
    assert len(ds) == 6 and ds.label_key == "CellCounts"
    assert sorted(set(ds.labels.tolist())) == [0.5, 0.75]
    _ = ds[0]                                   # opens the file in this process ...
    clone = pickle.loads(pickle.dumps(ds))      # ... which must not travel to workers
    image, label = clone[5]["image"], clone[5]["label"]
    assert image.shape == (1, 16, 16) and float(label) == 0.75
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch["image"].shape == (4, 1, 16, 16) and batch["label"].tolist() == [0.5] * 3 + [0.75]


def test_reader_errors(cells_file, tmp_path):
    with pytest.raises(UserError, match="cfa prepare"):
        LabelledImages(tmp_path / "missing.h5")
    with pytest.raises(UserError, match="images_A"):
        PairedImages(cells_file)
    with pytest.raises(UserError, match="unknown split"):
        PairedImages(cells_file, split="validation")
