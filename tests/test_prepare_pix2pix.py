"""pix2pix sets: A|B halves split into paired arrays, the set's direction applied, splits kept."""

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from cfa.datasets.pix2pix_sets import DIRECTIONS, prepare_pix2pix
from cfa.datasets.readers import PairedImages
from cfa.errors import UserError
from pipeline.cli import main


def _pair(path, a_value, b_value, half=(20, 20)):
    """A grey left half (a_value) and a red right half (b_value, 0, 0)."""
    w, h = half
    im = Image.new("RGB", (2 * w, h), (a_value, a_value, a_value))
    im.paste(Image.new("RGB", (w, h), (b_value, 0, 0)), (w, 0))
    im.save(path)


def _set(root, splits=(("train", 3), ("val", 1), ("test", 2))):
    for split, n in splits:
        (root / split).mkdir(parents=True)
        for i in range(n):
            _pair(root / split / f"{i + 1}.png", 10 * i, 250 - 10 * i)
    return root


@pytest.fixture
def facades(tmp_path):
    root = _set(tmp_path / "facades")
    (root / "test" / "broken.jpg").write_bytes(b"not an image")
    return root


def test_directions_follow_the_pix2pix_scripts():
    assert DIRECTIONS == {"facades": "BtoA", "maps": "BtoA", "night2day": "AtoB",
                          "edges2shoes": "AtoB", "edges2handbags": "AtoB"}


def test_facades_run_b_to_a_so_images_a_is_the_label_half(facades, tmp_path):
    out = tmp_path / "facades.h5"
    manifest = prepare_pix2pix("facades", facades, out, size=8, progress=False)
    with h5py.File(out) as f:
        a, b, split = f["images_A"][:], f["images_B"][:], f["split"][:]
        names = [n.decode() for n in f["names"][:]]
        attrs = dict(f.attrs)
    assert attrs["kind"] == "paired-images" and attrs["direction"] == "BtoA" and attrs["input_half"] == "right"
    assert a.shape == b.shape == (6, 3, 8, 8)
    assert split.tolist() == [0, 0, 0, 1, 2, 2]
    assert names[:3] == ["train/1.png", "train/2.png", "train/3.png"]
    # B->A: the input (images_A) is the right (red) half, the target the left (grey) half
    np.testing.assert_array_equal(a[:3, 0, 4, 4], [250, 240, 230])
    assert (a[:, 1:] == 0).all()
    np.testing.assert_array_equal(b[:3, 0, 4, 4], [0, 10, 20])
    assert manifest["counts"]["splits"] == {"train": 3, "val": 1, "test": 2}
    assert manifest["params"]["direction"] == "BtoA"
    reasons = {s["path"]: s["reason"] for s in manifest["skipped"]}
    assert list(reasons) == ["test/broken.jpg"] and "unreadable" in reasons["test/broken.jpg"]

    test_pairs = PairedImages(out, split="test")
    assert len(test_pairs) == 2
    x, y = test_pairs[1]["source"], test_pairs[1]["target"]
    assert x.dtype == torch.float32 and x.shape == (3, 8, 8)
    assert torch.allclose(x[0], torch.full_like(x[0], 240 / 127.5 - 1)) and torch.allclose(x[1:], -torch.ones(2, 8, 8))
    assert torch.allclose(y, torch.full_like(y, 10 / 127.5 - 1))


def test_direction_override_and_a_to_b_sets(facades, tmp_path):
    prepare_pix2pix("facades", facades, tmp_path / "ab.h5", size=8, direction="AtoB", progress=False)
    with h5py.File(tmp_path / "ab.h5") as f:
        np.testing.assert_array_equal(f["images_A"][:3, 0, 4, 4], [0, 10, 20])
        assert f.attrs["direction"] == "AtoB" and f.attrs["input_half"] == "left"
    shoes = _set(tmp_path / "edges2shoes", splits=(("train", 2), ("val", 1)))
    prepare_pix2pix("edges2shoes", shoes, tmp_path / "shoes.h5", size=8, progress=False)
    with h5py.File(tmp_path / "shoes.h5") as f:
        assert f.attrs["direction"] == "AtoB" and f["split"][:].tolist() == [0, 0, 1]
        np.testing.assert_array_equal(f["images_A"][:2, 0, 4, 4], [0, 10])
    with pytest.raises(UserError, match="--direction"):
        prepare_pix2pix("facades", facades, tmp_path / "x.h5", direction="AB", progress=False)


@pytest.mark.parametrize("size", [(41, 20), (20, 20), (60, 20)])
def test_image_that_is_not_a_pair_fails_naming_the_file(facades, tmp_path, size):
    Image.new("RGB", size).save(facades / "train" / "photo.png")
    with pytest.raises(UserError, match=rf"train/photo\.png: {size[0]}x{size[1]} pixels is not an A\|B pair"):
        prepare_pix2pix("facades", facades, tmp_path / "f.h5", size=8, progress=False)
    assert not (tmp_path / "f.h5").exists()


def test_missing_split_folder_names_it_and_the_download_script(tmp_path, capsys):
    root = _set(tmp_path / "facades", splits=(("train", 2), ("val", 1)))
    with pytest.raises(UserError) as e:
        prepare_pix2pix("facades", root, tmp_path / "f.h5", progress=False)
    message = str(e.value)
    assert f"split folder {root / 'test'}/ is missing" in message
    assert "bash ./datasets/download_pix2pix_dataset.sh facades" in message
    assert "junyanz/pytorch-CycleGAN-and-pix2pix" in message
    # maps ships train/ and val/ only: no test/ needed
    maps = _set(tmp_path / "maps", splits=(("train", 1), ("val", 1)))
    assert prepare_pix2pix("maps", maps, tmp_path / "m.h5", size=8, progress=False)["counts"]["images"] == 2
    (tmp_path / "maps_empty" / "train").mkdir(parents=True)
    (tmp_path / "maps_empty" / "val").mkdir(parents=True)
    with pytest.raises(UserError, match=r"maps_empty/train/ has no"):
        prepare_pix2pix("maps", tmp_path / "maps_empty", tmp_path / "m.h5", progress=False)
    # through the CLI: exit 2, the message, no traceback
    rc = main(["prepare", "pix2pix", "--name", "facades", "--root", str(root), "--out", str(tmp_path / "c.h5")])
    err = capsys.readouterr().err
    assert rc == 2 and "download_pix2pix_dataset.sh facades" in err and "Traceback" not in err


def test_pix2pix_bad_input(tmp_path):
    with pytest.raises(UserError, match=r"nowhere.*download_pix2pix_dataset\.sh maps.*efrosgans"):
        prepare_pix2pix("maps", tmp_path / "nowhere", tmp_path / "m.h5", progress=False)
    with pytest.raises(UserError, match="unknown pix2pix set"):
        prepare_pix2pix("cityscapes", tmp_path, tmp_path / "m.h5", progress=False)


def test_cli_direction_flag(facades, tmp_path):
    out = tmp_path / "cli.h5"
    assert main(["prepare", "pix2pix", "--name", "facades", "--root", str(facades), "--size", "8",
                 "--direction", "AtoB", "--no-progress", "--out", str(out)]) == 0
    with h5py.File(out) as f:
        assert f.attrs["direction"] == "AtoB"
