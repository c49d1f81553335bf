"""FID: our Frechet distance vs pytorch-fid's, self-distance ~0, monotone in blur, stats cache,
and the pretrained-weights-missing error."""

import warnings

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF

from cfa.errors import UserError
from cfa.metrics import backbones, fid


def _random_stats(rng, dim, n):
    x = rng.normal(size=(n, dim)) @ rng.normal(size=(dim, dim)) * 0.3 + rng.normal(size=dim)
    return x.mean(0), np.cov(x, rowvar=False), x


@pytest.mark.parametrize("n", [200, 20])  # full-rank and rank-deficient covariances
def test_frechet_distance_equals_pytorch_fid(n):
    from pytorch_fid.fid_score import calculate_frechet_distance
    rng = np.random.default_rng(n)
    mu1, s1, _ = _random_stats(rng, 48, n)
    mu2, s2, _ = _random_stats(rng, 48, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's sqrtm warns on the singular products
        reference = calculate_frechet_distance(mu1, s1, mu2, s2)
    ours = fid.frechet_distance(mu1, s1, mu2, s2)
    assert ours == pytest.approx(reference, rel=1e-6, abs=1e-6)
    assert ours > 1.0


def test_fid_from_features_equals_statistics_path():
    rng = np.random.default_rng(1)
    _, _, a = _random_stats(rng, 64, 20)
    _, _, b = _random_stats(rng, 64, 30)
    via_stats = fid.frechet_distance(*fid.feature_statistics(a), *fid.feature_statistics(b))
    assert fid.fid_from_features(a, b) == pytest.approx(via_stats, rel=1e-6)
    assert fid.fid_features_vs_stats(a, *fid.feature_statistics(b)) == pytest.approx(via_stats, rel=1e-6)
    _, _, many = _random_stats(rng, 16, 40)   # more images than dimensions: the full path
    assert fid.fid_features_vs_stats(many, *fid.feature_statistics(b[:, :16])) == pytest.approx(
        fid.frechet_distance(*fid.feature_statistics(many), *fid.feature_statistics(b[:, :16])))


@pytest.fixture(scope="module")
def offline_inception():
    model, provenance = backbones.inception_v3_fid(pretrained=False, device="cpu")
    return model, provenance


def _smooth_images(n=24, size=32, seed=0):
    rng = np.random.default_rng(seed)
    coarse = torch.tensor(rng.integers(0, 256, (n, 3, 8, 8)), dtype=torch.float32)
    return torch.nn.functional.interpolate(coarse, size=size, mode="bilinear").round().byte().numpy()


def test_self_fid_is_zero_and_rises_with_blur(offline_inception):
    model, provenance = offline_inception
    assert provenance["pretrained"] is False and "NOT comparable" in provenance["note"]
    images = _smooth_images(n=12)
    feats = fid.inception_features(images, model, batch_size=12, progress=False)
    assert feats.shape == (12, 2048) and np.isfinite(feats).all() and feats.std() > 0
    assert abs(fid.fid_from_features(feats, feats)) < 1e-6 * np.trace(np.cov(feats, rowvar=False))
    values = []
    for sigma in (0.6, 1.5, 3.0):
        blurred = TF.gaussian_blur(torch.from_numpy(images), kernel_size=11, sigma=sigma).numpy()
        values.append(fid.fid_from_features(feats, fid.inception_features(blurred, model, 12,
                                                                         progress=False)))
    assert 0 < values[0] < values[1] < values[2], values


def test_grey_images_are_fed_as_three_equal_channels(offline_inception):
    model, _ = offline_inception
    grey = _smooth_images(n=2)[:, :1]
    rgb = np.repeat(grey, 3, axis=1)
    np.testing.assert_allclose(fid.inception_features(grey, model, progress=False),
                               fid.inception_features(rgb, model, progress=False), rtol=1e-5)


def test_feature_extraction_matches_pytorch_fid_input_path(offline_inception):
    """Same numbers as pytorch-fid's get_activations feeding ToTensor() ([0,1] floats)."""
    model, _ = offline_inception
    images = _smooth_images(n=2)
    ours = fid.inception_features(images, model, progress=False)
    with torch.no_grad():
        ref = model(torch.from_numpy(images).float() / 255.0)[0].squeeze(3).squeeze(2).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-6)


def test_stats_cache_reused_only_when_everything_matches(tmp_path):
    rng = np.random.default_rng(0)
    mu, sigma = rng.normal(size=4), np.eye(4)
    prov = {"pretrained": False, "backbone": "x", "weights": None, "seed": 0}
    path = tmp_path / "stats.npz"
    fid.save_stats(path, mu, sigma, count=10, dataset_sha256="abc", split="test", provenance=prov)
    got = fid.load_stats_if_matching(path, count=10, dataset_sha256="abc", split="test", provenance=prov)
    np.testing.assert_array_equal(got[0], mu)
    for change in ({"count": 11}, {"dataset_sha256": "abd"}, {"split": "train"},
                   {"provenance": {**prov, "pretrained": True}}):
        kw = {"count": 10, "dataset_sha256": "abc", "split": "test", "provenance": prov, **change}
        assert fid.load_stats_if_matching(path, **kw) is None, change
    assert fid.stats_info(path)["count"] == 10
    # A subset of the split: the same count of other rows (another seed) is not the same images.
    fid.save_stats(path, mu, sigma, count=2, dataset_sha256="abc", split="test", provenance=prov,
                   rows=[3, 7])
    same = {"count": 2, "dataset_sha256": "abc", "split": "test", "provenance": prov}
    assert fid.load_stats_if_matching(path, **same, rows=[3, 7]) is not None
    assert fid.load_stats_if_matching(path, **same, rows=[3, 8]) is None
    assert fid.load_stats_if_matching(path, **same) is None
    assert fid.load_stats_if_matching(tmp_path / "absent.npz", count=10, dataset_sha256="abc",
                                      split="test", provenance=prov) is None


def test_small_counts_warn():
    with pytest.warns(UserWarning, match="not full rank"):
        assert fid.warn_if_rank_deficient(100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not fid.warn_if_rank_deficient(4096)


def test_pretrained_without_weights_names_file_and_offline_switch(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(UserError) as e:
        backbones.inception_v3_fid(pretrained=True)
    msg = str(e.value)
    assert str(tmp_path / "hub" / "checkpoints" / backbones.INCEPTION_FILE) in msg
    assert "metrics.pretrained_backbones=false" in msg and "OFFLINE=1" in msg


def test_pretrained_weights_are_loaded_from_the_hub_directory(tmp_path, monkeypatch):
    """A weight file placed in $TORCH_HOME/hub/checkpoints is what the network then holds."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(3)
    state = backbones.fid_inception_architecture().state_dict()
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(state, tmp_path / "hub" / "checkpoints" / backbones.INCEPTION_FILE)
    model, provenance = backbones.inception_v3_fid(pretrained=True)
    assert provenance["pretrained"] is True
    torch.testing.assert_close(model.blocks[0][0].conv.weight, state["Conv2d_1a_3x3.conv.weight"])
