"""NIQE (Mittal, Soundararajan, Bovik 2013): scoring and model fitting, our own NumPy port.

Two flavours of the same method, each followed line by line:
- "matlab": MATLAB Image Processing Toolbox `niqe`/`fitniqe` (`niqe.m`, `fitniqe.m`,
  `niqeModel.m`, `images.internal.computeNSSFeatures`, `estimateAGGDParameters`), which CcGAN's
  Table-4 protocol runs: `fitniqe(imds, 'BlockSize', [8 8], 'SharpnessThreshold', 0.1)` per label,
  `niqe(img, model)` on each generated image. The default for fitting.
- "release": the authors' release (LIVE `niqe_release.zip`: `computequality.m`,
  `estimatemodelparam.m`, `estimateaggdparam.m`), whose pristine model `modelparameters.mat` is
  `default_model()` and whose outputs are published (the tests' reference values).
Common to both: grey by MATLAB's `rgb2gray` (rounded to uint8); the image cropped to whole blocks;
MSCN (x - mu) / (sigma + 1) with a 7x7 Gaussian (sigma 7/6), replicate padding; per block the
AGGD fit of the MSCN coefficients and of their products with 4 neighbours (circshift within the
block), 18 features at each of two scales; the second scale is MATLAB's `imresize(im, 0.5)`
(bicubic, antialiased, mirrored borders) of the double image, not rounded; the AGGD shape is the
nearest point of the grid 0.2:0.001:10 (first index on ties; an all-NaN fit lands on 0.2, as
MATLAB's `min`); the score is sqrt(d' pinv((C_model + C_image) / 2) d), d the difference of means,
with `nanmean` and `nancov` (complete blocks) and `pinv`'s tolerance as MATLAB's.
Where they differ:
| | "matlab" (IPT) | "release" (LIVE) |
| AGGD right side | values >= 0 (zeros count), sum of squares = abs(total - left) | values > 0 |
| blocks used when fitting | sharpness >= t * max of the image | sharpness > t * max |
| blocks used when scoring | sharpness >= the model's t * max | all |
| an image smaller than a block | one block of the whole image | no blocks (error) |
| NaN score | when every feature column has a NaN | when a mean is NaN |
Sharpness of a block is the mean local sigma over it at scale 1.
One row of features (a single block) is, in MATLAB, a vector to `nanmean`/`nancov`: its mean is
the scalar mean of its 36 values and its covariance their variance; reproduced.

Our one deliberate deviation, `snap_roundoff` (default on, see `mscn`): MSCN numerators at
round-off level are set to exactly 0. MATLAB's score on images with flat regions otherwise
depends on the sign of its filter's round-off.

Validated against published outputs of the release code run in MATLAB (`tests/data/niqe/`):
4e-13 and 5e-7 off. The IPT flavour shares everything but the table above, which is written from
the IPT source; no IPT output with a model available offline is published to test it against
(IPT's built-in default model is not the release's and is not redistributable).

No library is used: deepinv's NIQE fits models but does not select blocks by sharpness as
`fitniqe` does, pyiqa and scikit-video cannot fit (and scikit-video is broken on NumPy 2), and
basicsr's port scores one image at a time in a Python loop. Everything here is batched over
images and blocks.
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.ndimage import correlate1d
from scipy.special import gamma as gamma_fn
from tqdm import tqdm

from cfa.errors import UserError
from cfa.io import write_json_atomic
from cfa.metrics.base import Metric, MetricResult

FEATURES_PER_SCALE = 18
FEATURE_DIM = 2 * FEATURES_PER_SCALE
FLAVOURS = ("matlab", "release")
DEFAULT_MODEL_PATH = Path(__file__).with_name("data") / "niqe_pristine_live.json"
MODEL_FORMAT = 1
ROUNDOFF = 1e-12

# MATLAB rgb2gray: the first row of the inverse of the NTSC YIQ->RGB matrix.
_RGB2GRAY = np.linalg.inv(np.array([[1.0, 0.956, 0.621],
                                    [1.0, -0.272, -0.647],
                                    [1.0, -1.106, 1.703]]))[0]


def _matlab_colon(start: float, step: float, stop: float) -> np.ndarray:
    """start:step:stop as MATLAB computes it (from both ends towards the middle)."""
    n = int(math.floor((stop - start) / step + 1e-10)) + 1
    k = np.arange(n)
    return np.where(k < n / 2, start + k * step, stop - (n - 1 - k) * step)


_GAM = _matlab_colon(0.2, 0.001, 10.0)
_R_GAM = gamma_fn(2.0 / _GAM) ** 2 / (gamma_fn(1.0 / _GAM) * gamma_fn(3.0 / _GAM))
assert np.all(np.diff(_R_GAM) > 0), "the AGGD ratio must increase along the grid"


def _check_flavour(flavour: str) -> None:
    if flavour not in FLAVOURS:
        raise UserError(f"NIQE flavour must be one of {list(FLAVOURS)}, got {flavour!r}")


@dataclass(frozen=True)
class NIQEModel:
    """A pristine multivariate Gaussian of the 36 block features and how to score against it."""
    mean: np.ndarray                    # (36,)
    cov: np.ndarray                     # (36, 36)
    block_size: tuple[int, int]         # (rows, cols), even
    sharpness_threshold: float          # "matlab": also selects the blocks of a scored image
    flavour: str = "matlab"
    source: str = ""                    # provenance, for people
    info: dict = field(default_factory=dict)  # plain data: image count, block count, ...

    def to_dict(self) -> dict:
        return {"format": MODEL_FORMAT, "kind": "niqe_model", "flavour": self.flavour,
                "block_size": list(self.block_size), "sharpness_threshold": self.sharpness_threshold,
                "source": self.source, "info": self.info, "mean": self.mean.tolist(),
                "cov": self.cov.tolist()}

    @classmethod
    def from_dict(cls, d: dict, where: str = "NIQE model") -> NIQEModel:
        if d.get("kind") != "niqe_model" or d.get("format") != MODEL_FORMAT:
            raise UserError(f"{where}: not a cfa NIQE model of format {MODEL_FORMAT}")
        mean = np.asarray(d["mean"], dtype=np.float64).reshape(-1)
        cov = np.asarray(d["cov"], dtype=np.float64)
        if mean.shape != (FEATURE_DIM,) or cov.shape != (FEATURE_DIM, FEATURE_DIM):
            raise UserError(f"{where}: mean/cov must be {FEATURE_DIM} and {FEATURE_DIM}x{FEATURE_DIM}, "
                            f"got {mean.shape} and {cov.shape}")
        _check_flavour(d.get("flavour"))
        return cls(mean, cov, tuple(int(b) for b in d["block_size"]), float(d["sharpness_threshold"]),
                   d["flavour"], str(d.get("source", "")), dict(d.get("info", {})))


def save_model(path, model: NIQEModel) -> None:
    """JSON (floats written at full precision), atomically."""
    write_json_atomic(path, model.to_dict())


def load_model(path) -> NIQEModel:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"NIQE model not found: {path}")
    try:
        d = json.loads(path.read_text())
    except ValueError as e:
        raise UserError(f"{path}: not a JSON NIQE model ({e})") from None
    return NIQEModel.from_dict(d, str(path))


def default_model() -> NIQEModel:
    """The release's pristine model (`modelparameters.mat`, 96x96 blocks, "release" flavour)."""
    return load_model(DEFAULT_MODEL_PATH)


# ---- images ----------------------------------------------------------------------------------

def to_gray(images) -> np.ndarray:
    """(N, H, W) float64 grey levels in [0, 255], as MATLAB's niqe sees an image.

    `images`: uint8 (N, 3, H, W) RGB (converted with MATLAB's rgb2gray, rounded to uint8),
    uint8 (N, 1, H, W) or (N, H, W) grey, or float grey (N, H, W) already in [0, 255].
    """
    x = np.asarray(images)
    if x.ndim == 4:
        if x.shape[1] == 3:
            if x.dtype != np.uint8:
                raise ValueError(f"RGB images must be uint8 (N, 3, H, W), got {x.dtype}")
            g = np.tensordot(_RGB2GRAY, x.astype(np.float64), axes=([0], [1]))
            return np.floor(g + 0.5).clip(0, 255)  # MATLAB round (half away from 0), saturate
        if x.shape[1] != 1:
            raise ValueError(f"images must have 1 or 3 channels, got shape {x.shape}")
        x = x[:, 0]
    if x.ndim != 3:
        raise ValueError(f"images must be (N, C, H, W) or (N, H, W), got shape {x.shape}")
    return x.astype(np.float64)


def _gaussian_taps() -> np.ndarray:
    # The 7x7 Gaussian (sigma 7/6) normalised to sum 1 is the outer product of these taps.
    x = np.arange(-3, 4, dtype=np.float64)
    g = np.exp(-x * x / (2 * (7 / 6) ** 2))
    return g / g.sum()


_TAPS = _gaussian_taps()


def _local_filter(x: np.ndarray) -> np.ndarray:
    # imfilter(x, window, 'replicate') / imgaussfilt(x, 7/6, 'FilterSize', 7, 'Padding',
    # 'replicate') on a stack (N, H, W); they differ only in round-off.
    return correlate1d(correlate1d(x, _TAPS, axis=1, mode="nearest"), _TAPS, axis=2, mode="nearest")


def mscn(gray: np.ndarray, snap_roundoff: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(MSCN coefficients, local sigma), both (N, H, W).

    With `snap_roundoff`, x - mu at round-off level (|x - mu| <= 1e-12 max(|x|, 1); exactly 0 in
    exact arithmetic: flat 7x7 neighbourhoods, linear ramps) is set to 0. On 8-bit input the real
    differences are >= 1e-8 relative and round-off is <= 4e-16, so nothing else changes. MATLAB
    keeps the round-off's sign, which decides on which side of the AGGD fit such a pixel counts:
    its score on images with flat regions then depends on its filter's summation order (equally
    valid orders move published test values by up to 0.5), and so would ours on the BLAS kernels
    of the machine. Snapped, the score is a function of the image.
    """
    mu = _local_filter(gray)
    sigma = np.sqrt(np.abs(_local_filter(gray * gray) - mu * mu))
    diff = gray - mu
    if snap_roundoff:
        diff[np.abs(diff) <= ROUNDOFF * np.maximum(np.abs(gray), 1.0)] = 0.0
    return diff / (sigma + 1.0), sigma


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def _imresize_matrix(n_in: int, scale: float) -> np.ndarray:
    """(n_out, n_in) matrix of MATLAB imresize's bicubic antialiased weights along one axis."""
    n_out = int(math.ceil(n_in * scale))
    kernel_width = 4.0
    if scale < 1:
        kernel = lambda t: scale * _cubic(scale * t)  # noqa: E731
        kernel_width /= scale
    else:
        kernel = _cubic
    x = np.arange(1, n_out + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]
    w = kernel(u[:, None] - idx)
    w = w / w.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(n_in), np.arange(n_in)[::-1]])  # symmetric borders
    idx = mirror[np.mod(idx.astype(np.int64) - 1, 2 * n_in)]
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.repeat(np.arange(n_out), taps), idx.reshape(-1)), w.reshape(-1))
    return m


def imresize_half(x: np.ndarray) -> np.ndarray:
    """MATLAB's imresize(im, 0.5) of a stack of double images (N, H, W): rows first, then columns."""
    rows = _imresize_matrix(x.shape[1], 0.5)
    cols = _imresize_matrix(x.shape[2], 0.5)
    return np.einsum("ij,njk,lk->nil", rows, x, cols, optimize=True)


# ---- features --------------------------------------------------------------------------------

def aggd_fit(v: np.ndarray, flavour: str = "matlab") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(alpha, beta_left, beta_right) of each row of v (M, n).

    "matlab": estimateAGGDParameters (values >= 0 on the right; right sum of squares
    abs(total - left)); "release": estimateaggdparam.m (values > 0 on the right).
    """
    neg = v < 0
    sq = v * v
    n = v.shape[1]
    left_sq = (sq * neg).sum(1)
    n_left = neg.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        left = np.sqrt(left_sq / n_left)  # 0/0 -> NaN: no negative value
        if flavour == "matlab":
            right_sq = np.abs(sq.sum(1) - left_sq)
            right = np.sqrt(right_sq / (n - n_left))
            rhat = np.abs(v).sum(1) ** 2 / (n * (left_sq + right_sq))
        else:
            pos = v > 0
            right = np.sqrt((sq * pos).sum(1) / pos.sum(1))
            rhat = np.abs(v).mean(1) ** 2 / sq.mean(1)
        gammahat = left / right
        rhatnorm = rhat * (gammahat ** 3 + 1) * (gammahat + 1) / (gammahat ** 2 + 1) ** 2
    # argmin over the grid of (r_gam - rhatnorm)^2: the grid ratio increases, so the minimum is
    # at one of the two grid points around rhatnorm; the lower index wins a tie, as MATLAB's min.
    hi = np.clip(np.searchsorted(_R_GAM, rhatnorm), 1, len(_R_GAM) - 1)
    lo = hi - 1
    idx = np.where((_R_GAM[hi] - rhatnorm) ** 2 < (_R_GAM[lo] - rhatnorm) ** 2, hi, lo)
    idx = np.where(np.isnan(rhatnorm), 0, idx)
    alpha = _GAM[idx]
    ratio = np.sqrt(gamma_fn(1 / alpha) / gamma_fn(3 / alpha))
    return alpha, left * ratio, right * ratio


_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


def block_features(structdis: np.ndarray, block: tuple[int, int], flavour: str = "matlab") -> np.ndarray:
    """(N, blocks, 18) features of each block (column-major block order, as blkproc/blockproc)."""
    n, h, w = structdis.shape
    bh, bw = block
    nbh, nbw = h // bh, w // bw
    blocks = structdis.reshape(n, nbh, bh, nbw, bw).transpose(0, 3, 1, 2, 4).reshape(-1, bh, bw)
    flat = blocks.reshape(len(blocks), -1)
    a, bl, br = aggd_fit(flat, flavour)
    feats = [a, (bl + br) / 2]
    for shift in _SHIFTS:
        pair = flat * np.roll(blocks, shift, axis=(1, 2)).reshape(len(blocks), -1)
        a, bl, br = aggd_fit(pair, flavour)
        feats += [a, (br - bl) * (gamma_fn(2 / a) / gamma_fn(1 / a)), bl, br]
    return np.stack(feats, axis=1).reshape(n, nbh * nbw, FEATURES_PER_SCALE)


def _matlab_round(x: float) -> int:
    return int(math.floor(x + 0.5))


def _blocks(shape, block: tuple[int, int], flavour: str) -> tuple[int, int]:
    """The block size actually used on images of `shape` (N, H, W)."""
    bh, bw = int(block[0]), int(block[1])
    if bh % 2 or bw % 2 or bh < 2 or bw < 2:
        raise UserError(f"NIQE block size must be positive even integers, got {tuple(block)}")
    h, w = shape[1], shape[2]
    if flavour == "matlab":  # computeBlockNSSFeatures: one patch along a side -> the whole side
        return (h if h // bh <= 1 else bh), (w if w // bw <= 1 else bw)
    if h < bh or w < bw:
        raise UserError(f"NIQE: images of {h}x{w} are smaller than one {bh}x{bw} block; use a "
                        f"smaller block size (CcGAN uses 8x8 at 64x64)")
    return bh, bw


def image_features(gray: np.ndarray, block: tuple[int, int], flavour: str = "matlab",
                   snap_roundoff: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, blocks, 36), sharpness (N, blocks)) of grey images (N, H, W) in [0, 255]."""
    _check_flavour(flavour)
    bh, bw = _blocks(gray.shape, block, flavour)
    nbh, nbw = gray.shape[1] // bh, gray.shape[2] // bw
    im = gray[:, :nbh * bh, :nbw * bw]
    n = len(im)
    structdis, sigma = mscn(im, snap_roundoff)
    feat1 = block_features(structdis, (bh, bw), flavour)
    # mean2 of sigma per block, in the blocks' (column-major) order
    sharpness = sigma.reshape(n, nbh, bh, nbw, bw).mean(axis=(2, 4)).transpose(0, 2, 1).reshape(n, -1)
    structdis2, _ = mscn(imresize_half(im), snap_roundoff)
    feat2 = block_features(structdis2, (_matlab_round(bh / 2), _matlab_round(bw / 2)), flavour)
    return np.concatenate([feat1, feat2], axis=2), sharpness


def select_sharp(sharpness: np.ndarray, threshold: float, flavour: str) -> np.ndarray:
    """Mask (N, blocks) of the blocks a fit (or an IPT score) uses."""
    limit = threshold * sharpness.max(axis=1, keepdims=True)
    return sharpness >= limit if flavour == "matlab" else sharpness > limit


# ---- statistics ------------------------------------------------------------------------------

def _nanmean_rows(f: np.ndarray) -> np.ndarray:
    """nanmean over axis -2 of (..., rows, d); an all-NaN column stays NaN."""
    ok = ~np.isnan(f)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, f, 0).sum(-2) / ok.sum(-2)


def _nancov_rows(f: np.ndarray) -> np.ndarray:
    """MATLAB nancov of (..., rows, d): complete rows only, normalised by n-1 (by 1 for one row)."""
    complete = ~np.isnan(f).any(-1, keepdims=True)
    count = complete.sum(-2, keepdims=True).astype(np.float64)
    x = np.where(complete, f, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = x.sum(-2, keepdims=True) / count
        c = np.where(complete, x - mean, 0)
        cov = np.einsum("...ri,...rj->...ij", c, c) / np.maximum(count - 1, 1)
    return np.where(count > 0, cov, np.nan)


def _image_statistics(feats: np.ndarray, used: np.ndarray, flavour: str) -> tuple[np.ndarray, np.ndarray]:
    """Per image (mean (N, 36), cov (N, 36, 36)) of its used blocks, with MATLAB's vector
    semantics for a single used block and IPT's NaN rule."""
    f = np.where(used[..., None], feats, np.nan)  # unused rows drop out of nanmean and nancov
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mu, cov = _nanmean_rows(f), _nancov_rows(f)
        n_used = used.sum(1)
        for i in np.flatnonzero(n_used == 1):
            row = feats[i][used[i]][0]
            ok = row[~np.isnan(row)]
            mu[i] = ok.mean() if len(ok) else np.nan
            cov[i] = ok.var(ddof=1) if len(ok) > 1 else (0.0 if len(ok) == 1 else np.nan)
            if flavour == "matlab" and np.isnan(row).any():
                mu[i] = np.nan
        if flavour == "matlab":
            # calculateNIQEscore: `if any(isnan(F))` on a matrix is true only when every column
            # holds a NaN; then the score is NaN.
            every_column = (np.isnan(f) & used[..., None]).any(1).all(1) & (n_used > 1)
            mu[every_column] = np.nan
        mu[n_used == 0] = np.nan
    return mu, cov


def _pinv_matlab(a: np.ndarray) -> np.ndarray:
    """pinv of a stack of square matrices with MATLAB's tolerance max(size) * eps(max singular)."""
    out = np.full_like(a, np.nan)
    finite = np.isfinite(a).all(axis=(-1, -2))
    if finite.any():
        u, s, vt = np.linalg.svd(a[finite])
        tol = a.shape[-1] * np.spacing(s[:, :1])
        inv_s = np.where(s > tol, 1.0 / np.where(s > tol, s, 1.0), 0.0)
        out[finite] = np.swapaxes(vt, -1, -2) @ (inv_s[..., None] * np.swapaxes(u, -1, -2))
    return out


def _distance(model: NIQEModel, mu: np.ndarray, cov: np.ndarray) -> np.ndarray:
    d = model.mean[None, :] - mu
    inv = _pinv_matlab((model.cov[None] + cov) / 2)
    with np.errstate(invalid="ignore"):
        return np.sqrt(np.einsum("ni,nij,nj->n", d, inv, d))


# ---- public API ------------------------------------------------------------------------------

def niqe_scores(images, model: NIQEModel | None = None, *, batch_size: int = 256,
                snap_roundoff: bool = True, progress: bool = False, desc: str = "NIQE") -> np.ndarray:
    """NIQE of each image, (N,) float64 (lower is better), in the model's flavour.

    `model`: a fitted NIQEModel, or None for the release's pristine model (96x96 blocks).
    "matlab" flavour: `niqe(img, model)`, the blocks at least the model's sharpness threshold x
    the image's sharpest; "release": `computequality.m`, every block.
    `images`: see `to_gray`; converted per batch, so an h5py dataset works. An image whose
    statistics are undefined (MATLAB's NaN cases) scores NaN.
    """
    model = default_model() if model is None else model
    n = len(images)
    out = np.empty(n, dtype=np.float64)
    bar = tqdm(total=n, desc=desc, unit="img", file=sys.stderr, disable=not progress, leave=False)
    for start in range(0, n, batch_size):
        gray = to_gray(images[start:start + batch_size])
        if model.flavour == "matlab":
            gray = np.floor(gray + 0.5)  # niqe.m: round(255 * im2double(im))
        feats, sharp = image_features(gray, model.block_size, model.flavour, snap_roundoff)
        if model.flavour == "matlab":
            used = select_sharp(sharp, model.sharpness_threshold, "matlab")
        else:
            used = np.ones(sharp.shape, dtype=bool)
        mu, cov = _image_statistics(feats, used, model.flavour)
        out[start:start + len(gray)] = _distance(model, mu, cov)
        bar.update(len(gray))
    bar.close()
    return out


def fit_niqe(images, *, block_size: tuple[int, int] = (8, 8), sharpness_threshold: float = 0.1,
             flavour: str = "matlab", batch_size: int = 256, snap_roundoff: bool = True,
             progress: bool = False, source: str = "", desc: str = "NIQE fit") -> NIQEModel:
    """A pristine model from `images`: `fitniqe(imds, 'BlockSize', block_size,
    'SharpnessThreshold', sharpness_threshold)` (CcGAN: 8x8, 0.1, per label), or with
    flavour="release" `estimatemodelparam.m`.

    Per image, the blocks whose mean local sigma reaches `sharpness_threshold` x the image's
    largest are kept; the model is nanmean/nancov of all kept blocks' 36 features. Deterministic:
    no randomness, a fixed order of operations.
    """
    _check_flavour(flavour)
    block_size = (int(block_size[0]), int(block_size[1]))
    if not 0 <= sharpness_threshold <= 1:
        raise UserError(f"NIQE sharpness threshold must lie in [0, 1], got {sharpness_threshold}")
    n = len(images)
    if n == 0:
        raise UserError("NIQE: no images to fit a model on (a label with no real images?)")
    kept = []
    bar = tqdm(total=n, desc=desc, unit="img", file=sys.stderr, disable=not progress, leave=False)
    for start in range(0, n, batch_size):
        gray = to_gray(images[start:start + batch_size])
        feats, sharp = image_features(gray, block_size, flavour, snap_roundoff)
        kept.append(feats[select_sharp(sharp, sharpness_threshold, flavour)])
        bar.update(len(gray))
    bar.close()
    feats = np.concatenate(kept, axis=0)
    complete = int((~np.isnan(feats).any(1)).sum())
    if len(feats) < 2 or complete < 2:
        raise UserError(f"NIQE: {n} images gave {len(feats)} blocks at or above the sharpness "
                        f"threshold {sharpness_threshold}, {complete} of them with a complete feature "
                        f"vector; a model needs at least 2. Use more images, a larger block size or a "
                        f"lower threshold")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, cov = _nanmean_rows(feats), _nancov_rows(feats)
    if not np.isfinite(mean).all():
        raise UserError(f"NIQE: a feature is undefined (NaN) in every one of the {len(feats)} selected "
                        f"blocks of {n} images; the images are too flat for a model")
    info = {"images": n, "blocks": int(len(feats)), "complete_blocks": complete}
    return NIQEModel(mean, cov, block_size, float(sharpness_threshold), flavour, source, info)


def fit_niqe_per_label(images, labels, *, label_values=None, block_size: tuple[int, int] = (8, 8),
                       sharpness_threshold: float = 0.1, flavour: str = "matlab",
                       progress: bool = False, **kwargs) -> dict[float, NIQEModel]:
    """One model per label value, fitted on the images with exactly that label (CcGAN's
    Intra_niqe_train_*.m: one `fitniqe` per age / per angle folder).

    `label_values`: the labels to fit (default: every label present). A label with no image is a
    UserError naming it and the labels that do have images. Images are read per label, so an
    h5py dataset works (rows are taken in increasing order).
    """
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    present, counts = np.unique(labels, return_counts=True)
    values = present if label_values is None else np.asarray(label_values, dtype=np.float64).reshape(-1)
    have = set(present.tolist())
    missing = [float(v) for v in values if v not in have]
    if missing:
        shown = ", ".join(f"{v:g}" for v in missing[:10]) + (" ..." if len(missing) > 10 else "")
        span = (f"{len(present)} distinct labels in [{present.min():g}, {present.max():g}]"
                if len(present) else "no labels")
        raise UserError(f"NIQE: no real image has label {shown} ({len(missing)} of {len(values)} labels "
                        f"to fit); the {len(labels)} real images have {span}. A model per label needs "
                        f"real images of that label: evaluate only labels that have real images")
    models = {}
    for v in tqdm(values, desc="NIQE per label", unit="label", file=sys.stderr, disable=not progress):
        rows = np.flatnonzero(labels == v)
        models[float(v)] = fit_niqe(images[rows], block_size=block_size,
                                    sharpness_threshold=sharpness_threshold, flavour=flavour,
                                    source=f"label {v:g}", **kwargs)
    return models


class IntraNIQE(Metric):
    """NIQE (CcGAN, Table 4): each generated image scored with the NIQE model fitted on the real
    images of its label (`fitniqe`, 8x8 blocks, sharpness threshold 0.1; `cfa evalnet`), the mean
    per label, averaged over labels (CcGAN's Intra_niqe_test scripts)."""

    name = "niqe"
    evalnets = ("niqe",)

    def compute(self, context) -> MetricResult:
        from cfa.metrics.ccgan_protocol import intra_niqe

        models, meta = context.evalnet("niqe")
        fakes, assigned = context.testset.labelled_fakes(context.generate)
        scores = np.full(len(fakes), np.nan)
        missing = sorted({float(v) for v in np.unique(assigned)} - set(models))
        if missing:
            raise UserError(f"NIQE: no model for label(s) {missing[:10]}: they have no real training images to fit "
                            f"one on (models exist for {len(models)} labels)")
        for label, model in models.items():
            rows = np.flatnonzero(assigned == label)
            if len(rows):
                scores[rows] = niqe_scores(fakes[rows], model, batch_size=context.batch_size)
        result = intra_niqe(scores, assigned)
        return MetricResult(values={"niqe": result["mean"]}, detail={**result, "models": meta},
                            counts={"niqe_images": int(len(scores))})
