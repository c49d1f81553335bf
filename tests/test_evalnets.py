"""Evaluation networks: CcGAN's architectures, training on tiny procedural images (the regressor
and classifier beat chance on held-out images), bit-reproducible training, checkpoints that reload
to identical outputs and refuse another dataset or split."""

import numpy as np
import pytest
import torch

from cfa.errors import UserError
from cfa.metrics import evalnets as E
from cfa.networks.evalnets import BasicBlock, build_evalnet

SHA = "a" * 64


def shapes(n, size=16, seed=0):
    """uint8 RGB images of a square (class 0) or a disc (class 1) whose brightness encodes an
    integer label 1..20, on a dim noisy background; returns (images, labels, classes)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(1, 21, n)
    classes = rng.integers(0, 2, n)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    disc = (xx ** 2 + yy ** 2) <= (size * 0.35) ** 2
    square = (np.abs(xx) <= size * 0.3) & (np.abs(yy) <= size * 0.3)
    imgs = rng.normal(20, 6, (n, 3, size, size))
    for i in range(n):
        mask = disc if classes[i] else square
        imgs[i][:, mask] = 40 + 10 * labels[i] + rng.normal(0, 3, (3, mask.sum()))
    return np.clip(imgs, 0, 255).astype(np.uint8), labels.astype(float), classes


@pytest.fixture(scope="module")
def data():
    train = shapes(160, seed=1)
    test = shapes(60, seed=2)
    return train, test


def test_architectures_are_ccgans():
    ae = build_evalnet({"kind": "autoencoder", "dim_bottleneck": 512, "ch": 64, "in_channels": 3,
                        "image_size": 64})
    assert ae.encoder.linear.in_features == 8192 and ae.encoder.linear.out_features == 512
    x = torch.zeros(2, 3, 64, 64)
    assert ae.features(x).shape == (2, 512) and ae(x).shape == (2, 3, 64, 64)
    convs = [m for m in ae.encoder.conv if isinstance(m, torch.nn.Conv2d)]
    assert [(c.kernel_size[0], c.stride[0], c.out_channels) for c in convs] == [
        (4, 2, 64), (3, 1, 64), (4, 2, 128), (3, 1, 128), (4, 2, 256), (3, 1, 256), (4, 2, 512), (3, 1, 512)]
    reg = build_evalnet({"kind": "regressor", "depth": 34, "width": 64, "in_channels": 3})
    assert sum(isinstance(m, BasicBlock) for m in reg.modules()) == 3 + 4 + 6 + 3
    assert reg.eval()(x).shape == (2,)
    cls = build_evalnet({"kind": "classifier", "num_classes": 5, "depth": 18, "width": 16, "in_channels": 3})
    assert sum(isinstance(m, BasicBlock) for m in cls.modules()) == 8
    assert cls.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 5)


def _train_regressor(data, n=None, **kw):
    (xi, yl, _), (ti, tl, _) = data
    xi, yl = xi[:n], yl[:n]
    args = dict(dataset_sha256=SHA, epochs=6, batch_size=16, lr=0.02, depth=18, width=8, seed=7,
                progress=False, label_unit="brightness steps")
    args.update(kw)
    return E.train_regressor(xi, yl, ti, tl, **args)


def test_regressor_learns_the_label_better_than_chance(data):
    net = _train_regressor(data)
    (_, yl, _), (_, tl, _) = data
    chance = np.abs(tl - np.median(yl)).mean()  # the best constant prediction
    mae = net.meta["test_metric"]["value"]
    assert net.meta["test_metric"]["name"] == "mean_absolute_error"
    assert mae < 0.5 * chance, (mae, chance)
    assert net.meta["label_offset"] == 0.0 and net.meta["label_scale"] == 20.0


def test_classifier_beats_chance_and_autoencoder_reconstructs(data):
    (xi, _, xc), (ti, _, tc) = data
    cls = E.train_classifier(xi, xc, ti, tc, dataset_sha256=SHA, epochs=4, batch_size=16, lr=0.02,
                             depth=18, width=8, seed=3, class_names=["square", "disc"], progress=False)
    assert cls.meta["test_metric"]["value"] > cls.meta["test_metric"]["chance"] + 0.2
    ae = E.train_autoencoder(xi, ti, dataset_sha256=SHA, epochs=8, batch_size=16, lr=3e-3,
                             dim_bottleneck=32, ch=8, seed=3, progress=False)
    floor = ((E.to_model_input(ti, "cpu") - E.to_model_input(xi, "cpu").mean(0)) ** 2).mean().item()
    assert ae.meta["test_metric"]["value"] < floor  # better than the mean training image
    assert E.ae_features(ae.model, ti).shape == (60, 32)


def test_training_is_bit_reproducible_on_cpu(data):
    a = _train_regressor(data, n=48, epochs=2)
    b = _train_regressor(data, n=48, epochs=2)
    c = _train_regressor(data, n=48, epochs=2, seed=8)
    sa, sb, sc = a.model.state_dict(), b.model.state_dict(), c.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_checkpoint_reloads_identically_and_refuses_other_data(data, tmp_path):
    net = _train_regressor(data, n=48, epochs=1)
    path = tmp_path / "regressor.pt"
    E.save_evalnet(path, net)
    raw = torch.load(path, weights_only=True)
    assert raw["meta"]["dataset_sha256"] == SHA and raw["meta"]["split"] == "train"
    model, meta = E.load_evalnet(path, dataset_sha256=SHA, split="train", kind="regressor")
    (_, _, _), (ti, _, _) = data
    np.testing.assert_array_equal(E.predict_labels(model, meta, ti),
                                  E.predict_labels(net.model, net.meta, ti))
    other = "b" * 64
    with pytest.raises(UserError, match=f"dataset sha256 {SHA} split 'train'.*{other} split 'train'"):
        E.load_evalnet(path, dataset_sha256=other, split="train")
    with pytest.raises(UserError, match="split 'train', but .* split 'test'"):
        E.load_evalnet(path, dataset_sha256=SHA, split="test")
    with pytest.raises(UserError, match="holds a regressor, not a classifier"):
        E.load_evalnet(path, dataset_sha256=SHA, split="train", kind="classifier")


def test_bad_training_data_are_user_errors(data):
    (xi, yl, xc), (ti, tl, tc) = data
    with pytest.raises(UserError, match=r"class\(es\) \{'disc': 0\}"):
        E.train_classifier(xi[xc == 0], xc[xc == 0], ti, tc, dataset_sha256=SHA, num_classes=2,
                           class_names=["square", "disc"], epochs=1, progress=False)
    with pytest.raises(UserError, match="at least two distinct labels"):
        E.train_regressor(xi, np.full(len(xi), 3.0), ti, tl, dataset_sha256=SHA, epochs=1, progress=False)
    with pytest.raises(UserError, match="multiple of 16"):
        E.train_autoencoder(xi[:, :, :12, :12], ti[:, :, :12, :12], dataset_sha256=SHA, epochs=1,
                            progress=False)
