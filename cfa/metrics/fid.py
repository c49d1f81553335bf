"""Frechet Inception Distance, computed the way pytorch-fid does, but from in-memory arrays.

pytorch-fid decodes one PNG per image through PIL inside its loop. Our images already sit in one
uint8 array (HDF5 or generator output), so they are converted per batch on the device, fed in
channels-last layout under inference mode, and the same resize/normalise as pytorch-fid's
InceptionV3 happens inside the network.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy import linalg
from tqdm import tqdm

from cfa.errors import UserError
from cfa.images import to_unit_interval
from cfa.io import atomic_output
from cfa.metrics.base import Metric, MetricResult

FEATURE_DIM = 2048
STATS_FORMAT = 1


def _as_float01(batch, device) -> torch.Tensor:
    """uint8 (B,C,H,W) -> float in [0,1]; grey -> 3 channels (pytorch-fid converts to RGB)."""
    t = to_unit_interval(batch, device)
    if t.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(t.shape)}")
    if t.shape[1] == 1:
        t = t.expand(-1, 3, -1, -1)
    elif t.shape[1] != 3:
        raise ValueError(f"images must have 1 or 3 channels, got {t.shape[1]}")
    return t.contiguous(memory_format=torch.channels_last)


def inception_features(images, model, batch_size: int = 50, device=None,
                       progress: bool = True, desc: str = "FID features") -> np.ndarray:
    """Pool3 features (N, 2048) float64 of `images`.

    `images`: uint8 (N, C, H, W) in [0, 255] (numpy, torch or an h5py dataset) or float in [0, 1].
    `model`: pytorch-fid's InceptionV3 (see backbones.inception_v3_fid); it resizes to 299x299 with
    bilinear interpolation and maps [0, 1] to [-1, 1] itself, exactly as pytorch-fid feeds it.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    n = len(images)
    out = np.empty((n, FEATURE_DIM), dtype=np.float64)
    model = model.to(device).to(memory_format=torch.channels_last).eval()
    bar = tqdm(total=n, desc=desc, unit="img", file=sys.stderr, disable=not progress, leave=False)
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            x = _as_float01(images[start:start + batch_size], device)
            feat = model(x)[0]
            if feat.shape[2] != 1 or feat.shape[3] != 1:
                feat = torch.nn.functional.adaptive_avg_pool2d(feat, (1, 1))
            out[start:start + len(x)] = feat.reshape(len(x), -1).double().cpu().numpy()
            bar.update(len(x))
    bar.close()
    return out


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased, as np.cov) of the features."""
    if len(features) < 2:
        raise ValueError(f"FID needs at least 2 images, got {len(features)}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def warn_if_rank_deficient(count: int, what: str = "images") -> bool:
    """Warn (once per call) when the covariance cannot be full rank; returns True if warned."""
    if count < FEATURE_DIM:
        warnings.warn(f"FID from {count} {what} (< {FEATURE_DIM}): the {FEATURE_DIM}-d covariance is "
                      f"not full rank, so the value is biased upwards and only comparable at the "
                      f"same count; the count is recorded beside the value", stacklevel=2)
        return True
    return False


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """d^2 = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 sqrt(S1 S2)), the value pytorch-fid's
    `calculate_frechet_distance` computes.

    pytorch-fid takes the matrix square root of the non-symmetric S1 S2 (scipy's Schur-based
    sqrtm, about a minute for 2048x2048 on a small CPU, with complex round-off to discard). Only
    its trace is needed: S1 S2 is similar to the symmetric PSD matrix S1^1/2 S2 S1^1/2, so the trace
    is the sum of square roots of that matrix's eigenvalues; two symmetric eigendecompositions,
    seconds, and no imaginary parts. Tiny negative eigenvalues from round-off are clipped to 0.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics differ in shape: mu {mu1.shape} vs {mu2.shape}, "
                         f"sigma {sigma1.shape} vs {sigma2.shape}")
    diff = mu1 - mu2
    w, v = linalg.eigh(sigma1)
    sqrt_sigma1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = sqrt_sigma1 @ sigma2 @ sqrt_sigma1
    ev = linalg.eigvalsh((inner + inner.T) / 2)
    tr_covmean = np.sqrt(np.clip(ev, 0, None)).sum()
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def fid_from_features(feat1: np.ndarray, feat2: np.ndarray) -> float:
    """FID between two feature sets (the same value as via their statistics).

    With fewer images than feature dimensions the covariances are S = A^T A with A the centred
    features / sqrt(n-1), and Tr sqrt(S1 S2) equals the nuclear norm of A1 A2^T (n1 x n2), so the
    2048x2048 matrices are never formed.
    """
    n1, n2 = len(feat1), len(feat2)
    if n1 < 2 or n2 < 2:
        raise ValueError(f"FID needs at least 2 images per set, got {n1} and {n2}")
    if max(n1, n2) > feat1.shape[1]:
        return frechet_distance(*feature_statistics(feat1), *feature_statistics(feat2))
    mu1, mu2 = feat1.mean(0), feat2.mean(0)
    a = (feat1 - mu1) / np.sqrt(n1 - 1)
    b = (feat2 - mu2) / np.sqrt(n2 - 1)
    nuclear = linalg.svdvals(a @ b.T).sum()
    diff = mu1 - mu2
    return float(diff.dot(diff) + (a * a).sum() + (b * b).sum() - 2 * nuclear)


def fid_features_vs_stats(features: np.ndarray, mu2, sigma2) -> float:
    """FID between a feature set and cached statistics (generated images vs real stats).

    With fewer images n than dimensions, S1 = A^T A (A: centred features / sqrt(n-1)) and the
    eigenvalues of S1 S2 are those of the n x n matrix A S2 A^T, so Tr sqrt(S1 S2) costs one small
    symmetric eigendecomposition instead of two 2048x2048 ones.
    """
    n = len(features)
    if n < 2:
        raise ValueError(f"FID needs at least 2 images, got {n}")
    if n > features.shape[1]:
        return frechet_distance(*feature_statistics(features), mu2, sigma2)
    mu1 = features.mean(0)
    a = (features - mu1) / np.sqrt(n - 1)
    inner = a @ np.asarray(sigma2, np.float64) @ a.T
    tr_covmean = np.sqrt(np.clip(linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum()
    diff = mu1 - np.asarray(mu2, np.float64)
    return float(diff.dot(diff) + (a * a).sum() + np.trace(sigma2) - 2 * tr_covmean)


# ---- cached real-data statistics -------------------------------------------------------------

def _stats_key(dataset_sha256: str, split: str, count: int, provenance: dict, rows=None) -> dict:
    key = {"dataset_sha256": dataset_sha256, "split": split, "count": int(count),
           "pretrained": bool(provenance["pretrained"]), "backbone": provenance.get("backbone"),
           "weights": provenance.get("weights"), "seed": provenance.get("seed")}
    if rows is not None:
        # A subset of the split (e.g. seeded by another `seed`) is other images at the same count.
        import hashlib
        key["rows_sha256"] = hashlib.sha256(np.asarray(rows, dtype=np.int64).tobytes()).hexdigest()
    return key


def save_stats(path, mu, sigma, *, count: int, dataset_sha256: str, split: str,
               provenance: dict, rows=None) -> None:
    """Cache (mu, sigma) with the key they were made under. `rows`: the row indices when only a
    subset of the split was used (None = the whole split)."""
    import json
    key = _stats_key(dataset_sha256, split, count, provenance, rows)
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, mu=mu, sigma=sigma, count=np.int64(count), format=np.int64(STATS_FORMAT),
                     key=np.array(json.dumps(key, sort_keys=True)),
                     provenance=np.array(json.dumps(provenance, sort_keys=True)))


def load_stats_if_matching(path, *, count: int, dataset_sha256: str, split: str,
                           provenance: dict, rows=None):
    """(mu, sigma) from a cached `.npz` if it was made from the same data, split, image count,
    row subset (`rows`, as for save_stats) and backbone; else None (a stale or foreign cache is
    recomputed, never trusted)."""
    import json
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            if int(f["format"]) != STATS_FORMAT:
                return None
            stored = json.loads(str(f["key"]))
            if stored != _stats_key(dataset_sha256, split, count, provenance, rows):
                return None
            return f["mu"].copy(), f["sigma"].copy()
    except (KeyError, ValueError, OSError):
        return None


def stats_info(path) -> dict:
    """The key (data sha256, split, count, backbone) a stats file was made with."""
    import json
    with np.load(path, allow_pickle=False) as f:
        return json.loads(str(f["key"]))


# ---- the real test images' statistics, as a pipeline output -------------------------------------

def write_real_statistics(testset, model, provenance: dict, path, progress: bool = True) -> None:
    """Inception statistics of a test protocol's real FID images, saved to `path` with their key."""
    images, rows = testset.fid_reference()
    feats = inception_features(images, model, testset.batch_size, desc="FID real", progress=progress)
    mu, sigma = feature_statistics(feats)
    save_stats(path, mu, sigma, count=len(images), dataset_sha256=testset.sha256, split="test",
               provenance=provenance, rows=rows)


def matching_real_statistics(path, testset, provenance: dict):
    """(mu, sigma) from `path` if it was made from exactly these real images with this backbone, else None."""
    images, rows = testset.fid_reference()
    return load_stats_if_matching(path, count=len(images), dataset_sha256=testset.sha256, split="test",
                                  provenance=provenance, rows=rows)


def read_real_statistics(path, testset, provenance: dict) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) from `path` if it was made from exactly these real images with this backbone.

    A stale or foreign file is refused, never rewritten here: it is another stage's output.
    """
    stats = matching_real_statistics(path, testset, provenance)
    if stats is None:
        what = "does not exist" if not Path(path).is_file() else (
            "was made from other data, rows or backbone weights than this evaluation uses")
        raise UserError(f"FID statistics {path} {what}; make them with "
                        f"`cfa stats --data {testset.path} --out {path}` (with the same params: "
                        f"evaluate.fid_max_images, seed, metrics.pretrained_backbones)")
    return stats


class FID(Metric):
    """FID of the generated test images against the real ones (cached statistics, `cfa stats`)."""

    name = "fid"

    def compute(self, context) -> MetricResult:
        ts = context.testset
        model = context.inception()
        real_images, _ = ts.fid_reference()
        if context.stats_path is None:
            raise UserError("the fid metric needs the real images' statistics: pass --fid-stats STATS.npz "
                            "(made by `cfa stats`)")
        mu, sigma = read_real_statistics(context.stats_path, ts, context.provenance("inception"))
        fakes = ts.fid_fakes(context.generate)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            rank_deficient = warn_if_rank_deficient(len(fakes), "images per set")
        feats = inception_features(fakes, model, context.batch_size, desc="FID generated",
                                   progress=context.progress)
        value = fid_features_vs_stats(feats, mu, sigma)
        detail = {"value": value, "images_fake": len(fakes), "images_real": len(real_images),
                  "full_rank": not rank_deficient, "split": "test"}
        return MetricResult(values={"fid": value}, detail=detail,
                            counts={"fid_fake": len(fakes), "fid_real": len(real_images)},
                            extras={"fid_stats": str(context.stats_path)})
