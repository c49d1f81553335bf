"""SteeringAngle: data.txt in both line formats, frames it names, angle range and domains."""

import h5py
import numpy as np
import pytest
from PIL import Image

from cfa.datasets.steering import parse_data_line, prepare_steering
from cfa.errors import UserError

ANGLES = {"0.jpg": -72.5, "1.jpg": -65.0, "2.jpg": -62.0, "3.jpg": -50.0, "4.jpg": 0.0,
          "5.jpg": 19.9, "6.jpg": 79.5}


@pytest.fixture
def driving_root(tmp_path):
    root = tmp_path / "driving_dataset"
    root.mkdir()
    lines = []
    for k, (name, angle) in enumerate(ANGLES.items()):
        Image.new("RGB", (91, 51), (k * 30, 0, 0)).save(root / name)
        # the 2016 format and the 2018 format (angle,date time) mixed in one file
        lines.append(f"{name} {angle:.6f}" if k % 2 else f"{name} {angle:.6f},2018-07-01 17:09:44:{k:03d}")
    Image.new("RGB", (91, 51)).save(root / "7.jpg")
    lines += ["7.jpg -85.000000",            # outside (-80, 80): excluded, not an error
              "8.jpg 80.000000",              # the open interval excludes 80
              "9.jpg 3.0",                    # image missing
              "garbage",                      # malformed
              "10.jpg left,2018-07-01", ""]
    (root / "data.txt").write_text("\n".join(lines) + "\n")
    return root


def test_parse_both_formats():
    assert parse_data_line("12.jpg -3.5") == ("12.jpg", -3.5, None)
    assert parse_data_line("12.jpg 4.25,2018-07-01 17:09:44:912") == ("12.jpg", 4.25, "2018-07-01 17:09:44:912")
    assert "not a number" in parse_data_line("12.jpg abc")


def test_prepare_steering(driving_root, tmp_path):
    out = tmp_path / "steer.h5"
    manifest = prepare_steering(driving_root, out, size=16, progress=False)
    with h5py.File(out) as f:
        names = [n.decode() for n in f["names"][:]]
        labels, domain, condition, images = f["labels"][:], f["domain"][:], f["condition"][:], f["images"][:]
    assert names == list(ANGLES)
    np.testing.assert_allclose(labels, list(ANGLES.values()), atol=1e-5)
    assert images.shape == (7, 3, 16, 16)
    assert [abs(int(im[0].mean()) - 30 * k) <= 2 for k, im in enumerate(images)] == [True] * 7
    assert domain.tolist() == [0, 0, -1, 1, 1, 1, 1]
    np.testing.assert_allclose(condition[[0, 1, 3, 4, 5, 6]], [0, 0, 0.14, 0.56, 0.56, 1.0], atol=1e-6)
    assert np.isnan(condition[2])
    reasons = {s["path"]: s["reason"] for s in manifest["skipped"]}
    assert set(reasons) == {"9.jpg", "data.txt:11", "data.txt:12"}
    assert "missing" in reasons["9.jpg"] and "not a number" in reasons["data.txt:12"]
    assert manifest["counts"]["excluded_by_angle"] == 2
    assert manifest["counts"]["domains"]["source"] == 2


def test_missing_index_names_path_and_url(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(UserError, match=r"d/data.txt.*github.com/SullyChen"):
        prepare_steering(tmp_path / "d", tmp_path / "s.h5", progress=False)
