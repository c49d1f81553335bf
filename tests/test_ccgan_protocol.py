"""CcGAN's Table-4 protocol: our functions equal a direct NumPy transcription of main.py's
definitions on fixed features and predictions, and bad inputs give clear errors."""

import numpy as np
import pytest
from scipy import linalg

from cfa.errors import UserError
from cfa.metrics import ccgan_protocol as cp


def _ccgan_fid(xr, xg):
    # eval_metrics.FID: sample means, np.cov, sqrtm of the product, real part.
    mu_r, mu_g = xr.mean(0), xg.mean(0)
    s_r, s_g = np.cov(xr.T), np.cov(xg.T)
    covmean = linalg.sqrtm(s_r.dot(s_g)).real
    return float((mu_r - mu_g).dot(mu_r - mu_g) + np.trace(s_r + s_g - 2 * covmean))


def _fixture(seed=0, max_label=20, dim=6):
    """Real images: labels 1..max_label, 30-60 each; fakes: 40 per label (CcGAN's 1000);
    features drift with the label so that windows differ."""
    rng = np.random.default_rng(seed)
    real_labels = np.concatenate([np.full(rng.integers(30, 60), a) for a in range(1, max_label + 1)])
    fake_labels = np.repeat(np.arange(1, max_label + 1), 40).astype(float)
    drift = rng.normal(size=dim)

    def feats(labels, scale):
        return rng.normal(size=(len(labels), dim)) * scale + np.outer(labels, drift) * 0.1

    return (feats(real_labels, 1.0), real_labels.astype(float), feats(fake_labels, 1.3), fake_labels)


def test_centres_are_ccgans_rule():
    np.testing.assert_array_equal(cp.window_centres(60, 5), np.arange(6, 56))  # UTKFace: 6..55
    np.testing.assert_array_equal(cp.window_centres(20, 2), np.arange(3, 19))
    np.testing.assert_array_equal(cp.window_centres(89.9, 5, min_label=0.1), np.arange(5.1, 84.95, 1.0))


def test_window_membership_equals_mains_normalised_comparison():
    rng = np.random.default_rng(1)
    labels = rng.integers(1, 61, size=5000).astype(float)
    max_label, radius = 60.0, 5
    for c in cp.window_centres(max_label, radius):
        norm = labels / max_label
        lo, hi = (c - radius) / max_label, (c + radius) / max_label
        ccgan = np.where((norm >= lo) * (norm <= hi) == True)[0]  # noqa: E712 (main.py verbatim logic)
        np.testing.assert_array_equal(cp.window_members(labels, c, radius), ccgan)


def test_sliding_window_fid_equals_direct_computation():
    xr, yr, xg, yg = _fixture()
    radius, max_label = 2, 20
    got = cp.sliding_window_fid(xr, yr, xg, yg, radius=radius)
    centres = np.arange(1 + radius, max_label - radius + 1)
    want = []
    for c in centres:
        lo, hi = (c - radius) / max_label, (c + radius) / max_label
        ir = np.where((yr / max_label >= lo) & (yr / max_label <= hi))[0]
        ig = np.where((yg / max_label >= lo) & (yg / max_label <= hi))[0]
        want.append(_ccgan_fid(xr[ir], xg[ig]))
    assert got["centres"] == centres.tolist()
    np.testing.assert_allclose(got["fid"], want, rtol=1e-8)
    assert got["mean"] == pytest.approx(np.mean(want), rel=1e-8)
    assert got["std"] == pytest.approx(np.std(want), rel=1e-8)
    assert got["n_fake"] == [200] * len(centres)  # 5 labels x 40 in every window


def test_ccgan_feature_batch_reproduces_cal_fids_zero_rows():
    xr, yr, xg, yg = _fixture(seed=2)
    radius, batch = 2, 64
    got = cp.sliding_window_fid(xr, yr, xg, yg, radius=radius, ccgan_feature_batch=batch)
    want = []
    for c in cp.window_centres(20, radius):
        ir, ig = cp.window_members(yr, c, radius), cp.window_members(yg, c, radius)
        fr, fg = xr[ir].copy(), xg[ig].copy()
        bs = min(batch, len(fr), len(fg))
        fr[len(fr) // bs * bs:] = 0  # cal_FID writes only whole batches into np.zeros
        fg[len(fg) // bs * bs:] = 0
        want.append(_ccgan_fid(fr, fg))
    np.testing.assert_allclose(got["fid"], want, rtol=1e-8)
    plain = cp.sliding_window_fid(xr, yr, xg, yg, radius=radius)
    assert got["mean"] > plain["mean"]  # the zero rows inflate the FID


def test_diversity_equals_entropy_of_predicted_classes_per_window():
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(1, 31), 25).astype(float)
    classes = np.where(labels < 15, rng.integers(0, 2, len(labels)), rng.integers(0, 5, len(labels)))
    got = cp.sliding_window_diversity(classes, labels, radius=5)
    want = []
    for c in np.arange(6, 26):
        sel = classes[(labels >= c - 5) & (labels <= c + 5)]
        p = np.bincount(sel) / len(sel)
        p = p[p > 0]
        want.append(-(p * np.log(p)).sum())
    np.testing.assert_allclose(got["entropy"], want, rtol=1e-12)
    assert got["mean"] == pytest.approx(np.mean(want))
    assert cp.entropy([0, 0, 1, 1]) == pytest.approx(np.log(2))
    assert cp.entropy([0, 0, 1, 1], base=2) == pytest.approx(1.0)
    assert cp.entropy([3, 3, 3]) == 0.0


def test_label_score_is_mean_and_population_std_of_absolute_error():
    rng = np.random.default_rng(4)
    assigned = np.repeat(np.arange(1, 61), 10).astype(float)
    predicted = assigned + rng.normal(0, 3, len(assigned))
    got = cp.label_score(predicted, assigned)
    err = np.abs(predicted - assigned)
    assert got == {"mean": pytest.approx(err.mean()), "std": pytest.approx(np.std(err)), "n": 600}


def test_too_small_windows_and_ranges_are_user_errors():
    xr, yr, xg, yg = _fixture()
    keep = (yr < 8) | (yr > 12)  # no real image with labels 8..12
    with pytest.raises(UserError, match=r"window \[8, 12\] \(centre 10, radius 2\) holds 0 real"):
        cp.sliding_window_fid(xr[keep], yr[keep], xg, yg, radius=2, centres=[10])
    with pytest.raises(UserError, match=r"labels in \[1, 20\]"):
        cp.sliding_window_fid(xr[keep], yr[keep], xg, yg, radius=2, centres=[10])
    one = (yr != 3) | (np.arange(len(yr)) == np.flatnonzero(yr == 3)[0])
    with pytest.raises(UserError, match="holds 1 real"):
        cp.sliding_window_fid(xr[one], yr[one], xg, yg, radius=0, centres=[3])
    with pytest.raises(UserError, match=r"labels span \[1, 8\], too narrow for windows of radius 5"):
        cp.window_centres(8, 5)
    with pytest.raises(UserError, match="no generated images"):
        cp.sliding_window_diversity(np.zeros(4), np.array([1, 2, 3, 4.0]), radius=1, centres=[30])
    with pytest.raises(UserError, match="no generated images"):
        cp.label_score([], [])


def test_intra_niqe_is_mean_over_labels_of_mean_scores():
    scores = np.array([1.0, 3.0, 2.0, 2.0, 4.0, np.nan])
    labels = np.array([1, 1, 2, 2, 3, 3.0])
    got = cp.intra_niqe(scores[:5], labels[:5])
    assert got["niqe"] == [2.0, 2.0, 4.0] and got["n"] == [2, 2, 1]
    assert got["mean"] == pytest.approx(8 / 3) and got["std"] == pytest.approx(np.std([2, 2, 4], ddof=1))
    assert np.isnan(cp.intra_niqe(scores, labels)["mean"])            # UTKFace script: NaN propagates
    assert cp.intra_niqe(scores, labels, omitnan=True)["mean"] == 2.0  # RC-49 script: omitnan
