"""pix2pix sets: A|B halves split into paired arrays, splits kept, readers in [-1, 1]."""

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from cfa.datasets.pix2pix_sets import prepare_pix2pix
from cfa.datasets.readers import PairedImages
from cfa.errors import UserError


def _pair(path, a_value, b_value, half=(20, 20)):
    w, h = half
    im = Image.new("RGB", (2 * w, h), (a_value, a_value, a_value))
    im.paste(Image.new("RGB", (w, h), (b_value, 0, 0)), (w, 0))
    im.save(path)


@pytest.fixture
def facades(tmp_path):
    root = tmp_path / "facades"
    for split, n in (("train", 3), ("val", 1), ("test", 2)):
        (root / split).mkdir(parents=True)
        for i in range(n):
            _pair(root / split / f"{i + 1}.png", 10 * i, 250 - 10 * i)
    Image.new("RGB", (41, 20)).save(root / "train" / "odd.png")
    (root / "test" / "broken.jpg").write_bytes(b"not an image")
    return root


def test_prepare_pix2pix_splits_and_halves(facades, tmp_path):
    out = tmp_path / "facades.h5"
    manifest = prepare_pix2pix("facades", facades, out, size=8, progress=False)
    with h5py.File(out) as f:
        a, b, split = f["images_A"][:], f["images_B"][:], f["split"][:]
        names = [n.decode() for n in f["names"][:]]
    assert a.shape == b.shape == (6, 3, 8, 8)
    assert split.tolist() == [0, 0, 0, 1, 2, 2]
    assert names[:3] == ["train/1.png", "train/2.png", "train/3.png"]
    np.testing.assert_array_equal(a[:3, 0, 4, 4], [0, 10, 20])
    np.testing.assert_array_equal(b[:3, 0, 4, 4], [250, 240, 230])
    assert (b[:, 1:] == 0).all()
    assert manifest["counts"]["splits"] == {"train": 3, "val": 1, "test": 2}
    reasons = {s["path"]: s["reason"] for s in manifest["skipped"]}
    assert "two halves" in reasons["train/odd.png"] and "unreadable" in reasons["test/broken.jpg"]

    test_pairs = PairedImages(out, split="test")
    assert len(test_pairs) == 2
    x, y = test_pairs[1]["source"], test_pairs[1]["target"]
    assert x.dtype == torch.float32 and x.shape == (3, 8, 8)
    assert torch.allclose(x, torch.full_like(x, 10 / 127.5 - 1))
    assert torch.allclose(y[0], torch.full_like(y[0], 240 / 127.5 - 1)) and torch.allclose(y[1:], -torch.ones(2, 8, 8))


def test_pix2pix_bad_input(tmp_path):
    with pytest.raises(UserError, match=r"nowhere.*efrosgans"):
        prepare_pix2pix("maps", tmp_path / "nowhere", tmp_path / "m.h5", progress=False)
    (tmp_path / "maps" / "train").mkdir(parents=True)
    with pytest.raises(UserError, match="no train/, val/ or test/ images"):
        prepare_pix2pix("maps", tmp_path / "maps", tmp_path / "m.h5", progress=False)
    with pytest.raises(UserError, match="unknown pix2pix set"):
        prepare_pix2pix("cityscapes", tmp_path / "maps", tmp_path / "m.h5", progress=False)
