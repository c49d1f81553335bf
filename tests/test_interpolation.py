"""Unseen-angle interpolation error on a tiny rotation set made here (layout of docs/DESIGN.md)."""

import h5py
import numpy as np
import pytest
import torch

from cfa.metrics import backbones
from cfa.datasets.rotation import load_rotation_arrays
from cfa.metrics.interpolation import interpolation_error, nearest_seen_rows


def bar_image(angle_deg, colour, size=32):
    """A coloured bar rotated by angle on white: a stand-in for a render."""
    yy, xx = np.mgrid[0:size, 0:size] - (size - 1) / 2
    a = np.deg2rad(angle_deg)
    along, across = np.cos(a) * xx + np.sin(a) * yy, -np.sin(a) * xx + np.cos(a) * yy
    mask = (np.abs(across) < 3) & (np.abs(along) < size * 0.4)
    img = np.full((3, size, size), 255, np.uint8)
    img[:, mask] = np.asarray(colour, np.uint8)[:, None]
    return img


def write_rotation_set(path, n_objects=2, step=2.5, grid=5.0, size=32, source="procedural"):
    angles = np.arange(0, 100, step)          # includes >= 90 rows (split 2, never used)
    images, labels, types, split = [], [], [], []
    for o in range(n_objects):
        colour = [(200, 30, 30), (30, 30, 200), (30, 160, 30)][o % 3]
        for a in angles:
            images.append(bar_image(a, colour, size))
            labels.append(a)
            types.append(o)
            split.append(2 if a >= 90 else (0 if np.isclose(a % grid, 0) else 1))
    with h5py.File(path, "w") as f:
        f["images"] = np.stack(images)
        f["labels"] = np.asarray(labels, np.float32)
        f["types"] = np.asarray(types, np.int32)
        f["object_ids"] = np.array([f"procedural-bar-{o}" for o in range(n_objects)], dtype=object)
        f["split"] = np.asarray(split, np.uint8)
        f["indx_train"] = np.flatnonzero(np.asarray(split) == 0).astype(np.int64)
        f.attrs.update({"source": source, "category": "bar", "size": size,
                        "angles": f"0:100:{step}", "split_rule": f"grid:{grid:g}"})
    return path


class TrueFrames:
    """generate(x, t) that returns the true render at the requested angle (the oracle)."""

    def __init__(self, data):
        self.data = data

    def __call__(self, x, t):
        out = []
        for xi, ti in zip(x, t):
            src = ((xi + 1) * 127.5).round().byte().numpy()
            obj = next(o for o, r in enumerate(self.data.source_index)
                       if np.array_equal(self.data.images[r], src))
            angle = float(ti) * 90 + self.data.angles[self.data.source_index[obj]]
            row = np.flatnonzero((self.data.types == obj)
                                 & np.isclose(self.data.angles, angle, atol=1e-3))[0]
            out.append(torch.from_numpy(self.data.images[row]).float() / 127.5 - 1)
        return torch.stack(out)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return load_rotation_arrays(write_rotation_set(tmp_path_factory.mktemp("rot") / "bars.h5"))


@pytest.fixture(scope="module")
def lpips_model():
    return backbones.lpips_alex(pretrained=False)[0]


def test_reader_keeps_angles_below_90_and_finds_sources(data):
    assert data.angles.max() < 90 and len(data.angles) == 2 * 36
    assert data.angles[data.source_index].tolist() == [0.0, 0.0]
    test = data.test_rows()
    assert len(test) == 2 * 18 and np.allclose(data.angles[test] % 5, 2.5)
    np.testing.assert_allclose(data.t_of(test[:2]), [2.5 / 90, 7.5 / 90], rtol=1e-6)


def test_nearest_seen_angle_is_a_train_angle_of_the_same_object(data):
    test = data.test_rows()
    seen = nearest_seen_rows(data, test)
    assert (data.split[seen] == 0).all() and (data.types[seen] == data.types[test]).all()
    assert np.allclose(np.abs(data.angles[seen] - data.angles[test]), 2.5)


def test_model_outputting_the_true_frame_scores_zero(data, lpips_model):
    res = interpolation_error(data, generate=TrueFrames(data), lpips_model=lpips_model,
                              progress=False)
    assert res["unseen"] == {"mae": 0.0, "lpips": 0.0, "count": 36}
    assert res["count"] == 36 and res["objects"] == 2 and res["unseen_angles"] == 18
    # The nearest seen angle's output is 2.5 deg off: a real, positive error.
    assert res["nearest_seen_output"]["mae"] > 0 and res["nearest_seen_output"]["lpips"] > 0
    assert res["nearest_seen_output"]["mae"] == pytest.approx(res["nearest_seen_truth"]["mae"])


def test_wrong_model_scores_above_zero(data, lpips_model):
    def source_copy(x, t):
        return x.clone()
    res = interpolation_error(data, generate=source_copy, lpips_model=lpips_model, progress=False)
    assert res["unseen"]["mae"] > 0 and res["unseen"]["lpips"] > 0
    # Blind to t, its output at the nearest seen angle is the same image: no interpolation gain.
    assert res["nearest_seen_output"]["mae"] == pytest.approx(res["unseen"]["mae"])
