"""CcGAN's evaluation protocol for label-conditioned generation (the paper's Table 4).

Pure functions of features, labels and predictions, written from `UBCDingXin/improved_CcGAN`,
`UTKFace/UTKFace_64x64/CcGAN-improved/` (`main.py` evaluation section, `eval_metrics.py`,
`utils.py`). The networks that make the features and predictions are `cfa.metrics.evalnets`.

- Sliding-window Intra-FID: centres R+1 ... max_label-R in steps of 1 (`main.py`: centres start
  at 1 + FID_radius, end at max_label - FID_radius, where max_label is the largest training
  label); per centre, the real and the generated images whose label lies in [c - R, c + R],
  both ends included; FID between their autoencoder features; averaged over centres.
  `main.py` compares normalised labels (label / max_label) with (c -+ R) / max_label; for
  integer labels that is the same comparison (division by the same positive number keeps order
  and distinct integers stay distinct), and we compare in label units.
- Diversity: per centre, the entropy of the classes a classifier predicts for the generated
  images of the window (`compute_entropy`: natural log, the class counts divided by the
  window's image count, classes that do not occur left out); averaged over centres.
- Label Score: mean and (population, ddof=0) standard deviation of |predicted - assigned| label
  over all generated images, in label units (`cal_labelscore` undoes the label normalisation
  before the difference).
- Intra-NIQE: per label, the mean NIQE of the generated images under a NIQE model fitted on that
  label's real images (`cfa.metrics.niqe.fit_niqe_per_label`); mean and std over labels
  (`NIQE/*/Intra_niqe_test_*.m`).

Where CcGAN's code fails or is silently wrong, we say so instead:
- A window with fewer than 2 real or 2 generated images has no FID (CcGAN's cal_FID fails with an
  IndexError on 0 images and has no covariance for 1): UserError naming the window, the counts
  and the label range.
- `cal_FID` extracts features only for whole batches of min(500, n_real, n_fake) images and
  leaves the rows of the remainder at zero, and those zero vectors enter the FID. We compute
  the FID of all images. `ccgan_feature_batch=500` reproduces their numbers (the zeroed rows are
  the window's last ones in the order given, or in the order of `rng`'s permutation, as
  `main.py` shuffles each window with np.random.shuffle before `cal_FID`).
"""

from __future__ import annotations

import numpy as np

from cfa.errors import UserError
from cfa.metrics.fid import fid_from_features

DEFAULT_RADIUS = 5
MIN_FID_IMAGES = 2

DEFINITIONS = {
    "intra_fid": "CcGAN sliding-window Intra-FID: mean over centres c = min_label+R .. max_label-R "
                 "(step 1) of the FID between real and generated images with label in [c-R, c+R], "
                 "on the 512-d bottleneck of an autoencoder trained on the real training images",
    "diversity": "CcGAN Diversity: mean over the same centres of the entropy (natural log) of the "
                 "classes a classifier trained on the real images predicts for the generated "
                 "images in the window",
    "niqe": "CcGAN Intra-NIQE: mean over labels of the mean NIQE of the generated images of a "
            "label, scored against a model fitted (MATLAB fitniqe, 8x8 blocks, sharpness threshold "
            "0.1) on the real images of that label",
    "label_score": "CcGAN Label Score: mean (std) of |predicted - assigned| label over all "
                   "generated images, predicted by a regressor trained on the real images, in "
                   "label units",
}


def window_centres(max_label: float, radius: float = DEFAULT_RADIUS, min_label: float = 1) -> np.ndarray:
    """CcGAN's centres: min_label + R, ..., max_label - R in steps of 1 (main.py: min_label = 1)."""
    start, stop = min_label + radius, max_label - radius
    centres = np.arange(start, stop + 1)
    centres = centres[centres <= stop]
    if len(centres) == 0:
        raise UserError(f"sliding window: labels span [{min_label:g}, {max_label:g}], too narrow for "
                        f"windows of radius {radius:g} (the first centre {start:g} lies past the last "
                        f"{stop:g}); use a smaller radius")
    return centres


def window_members(labels: np.ndarray, centre: float, radius: float) -> np.ndarray:
    """Indices of the labels in [centre - R, centre + R], both ends included (main.py)."""
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    return np.flatnonzero((labels >= centre - radius) & (labels <= centre + radius))


def _resolve_centres(centres, labels, radius, min_label, max_label) -> np.ndarray:
    if centres is not None:
        centres = np.asarray(centres, dtype=np.float64).reshape(-1)
        if len(centres) == 0:
            raise UserError("sliding window: the list of centres is empty")
        return centres
    if max_label is None:
        max_label = float(np.max(labels))
    return window_centres(max_label, radius, min_label)


def _span(labels) -> str:
    labels = np.asarray(labels)
    if len(labels) == 0:
        return "no images"
    return f"{len(labels)} images with labels in [{np.min(labels):g}, {np.max(labels):g}]"


def _zero_tail(features: np.ndarray, batch: int) -> np.ndarray:
    # cal_FID: rows past the last whole batch are never written and stay 0.
    out = features.copy()
    out[(len(features) // batch) * batch:] = 0.0
    return out


def sliding_window_fid(real_features, real_labels, fake_features, fake_labels, *,
                       radius: float = DEFAULT_RADIUS, centres=None, min_label: float = 1,
                       max_label: float | None = None, ccgan_feature_batch: int | None = None,
                       rng: np.random.Generator | None = None) -> dict:
    """Intra-FID over sliding windows: {"centres", "fid", "n_real", "n_fake", "mean", "std"}.

    `centres`: explicit window centres; by default `window_centres(max_label, radius, min_label)`
    with max_label the largest real label (CcGAN's max_label is the training set's).
    `ccgan_feature_batch`: None for the FID of all images; 500 to reproduce cal_FID's zeroed
    remainder rows (see the module docstring). `rng`: only orders each window's members (as
    main.py's shuffle), which matters only with ccgan_feature_batch.
    """
    real_features = np.asarray(real_features, dtype=np.float64)
    fake_features = np.asarray(fake_features, dtype=np.float64)
    real_labels = np.asarray(real_labels, dtype=np.float64).reshape(-1)
    fake_labels = np.asarray(fake_labels, dtype=np.float64).reshape(-1)
    if len(real_features) != len(real_labels) or len(fake_features) != len(fake_labels):
        raise ValueError(f"features and labels differ in length: real {len(real_features)} vs "
                         f"{len(real_labels)}, generated {len(fake_features)} vs {len(fake_labels)}")
    centres = _resolve_centres(centres, real_labels, radius, min_label, max_label)
    fids, n_real, n_fake = [], [], []
    for c in centres:
        ir, ig = window_members(real_labels, c, radius), window_members(fake_labels, c, radius)
        if len(ir) < MIN_FID_IMAGES or len(ig) < MIN_FID_IMAGES:
            raise UserError(
                f"Intra-FID: the window [{c - radius:g}, {c + radius:g}] (centre {c:g}, radius "
                f"{radius:g}) holds {len(ir)} real and {len(ig)} generated images; an FID needs at "
                f"least {MIN_FID_IMAGES} of each. Real: {_span(real_labels)}; generated: "
                f"{_span(fake_labels)}. Use a larger radius, centres inside the labelled range, or "
                f"more images")
        if rng is not None:
            ir, ig = rng.permutation(ir), rng.permutation(ig)
        fr, fg = real_features[ir], fake_features[ig]
        if ccgan_feature_batch is not None:
            batch = min(int(ccgan_feature_batch), len(fr), len(fg))
            fr, fg = _zero_tail(fr, batch), _zero_tail(fg, batch)
        fids.append(fid_from_features(fr, fg))
        n_real.append(len(ir))
        n_fake.append(len(ig))
    fids = np.asarray(fids)
    return {"centres": centres.tolist(), "radius": float(radius), "fid": fids.tolist(),
            "n_real": n_real, "n_fake": n_fake, "mean": float(fids.mean()), "std": float(fids.std())}


def entropy(classes, base: float | None = None) -> float:
    """CcGAN's compute_entropy: -sum p log p over the classes present, p = count / total."""
    _, counts = np.unique(np.asarray(classes).reshape(-1), return_counts=True)
    if counts.sum() == 0:
        raise ValueError("entropy of no predictions")
    p = counts / counts.sum()
    log = np.log(p) if base is None else np.log(p) / np.log(base)
    return float(-(p * log).sum())


def sliding_window_diversity(fake_classes, fake_labels, *, radius: float = DEFAULT_RADIUS,
                             centres=None, min_label: float = 1,
                             max_label: float | None = None) -> dict:
    """Diversity: {"centres", "entropy", "n_fake", "mean", "std"}; entropies in nats.

    `fake_classes`: the classifier's predicted class of each generated image; `fake_labels`:
    their assigned labels. Default centres as `sliding_window_fid`, with max_label the largest
    assigned label (CcGAN generates labels 1 .. max_label, so it is the same number); pass the
    real data's max_label or the FID's centres to be sure they agree.
    """
    fake_classes = np.asarray(fake_classes).reshape(-1)
    fake_labels = np.asarray(fake_labels, dtype=np.float64).reshape(-1)
    if len(fake_classes) != len(fake_labels):
        raise ValueError(f"{len(fake_classes)} predicted classes for {len(fake_labels)} labels")
    centres = _resolve_centres(centres, fake_labels, radius, min_label, max_label)
    ents, counts = [], []
    for c in centres:
        ig = window_members(fake_labels, c, radius)
        if len(ig) == 0:
            raise UserError(f"Diversity: the window [{c - radius:g}, {c + radius:g}] (centre {c:g}) "
                            f"holds no generated images ({_span(fake_labels)}); generate images for "
                            f"every label of the range, or pass centres inside it")
        ents.append(entropy(fake_classes[ig]))
        counts.append(len(ig))
    ents = np.asarray(ents)
    return {"centres": centres.tolist(), "radius": float(radius), "entropy": ents.tolist(),
            "n_fake": counts, "mean": float(ents.mean()), "std": float(ents.std())}


def label_score(predicted, assigned) -> dict:
    """Label Score in label units: {"mean", "std", "n"} of |predicted - assigned| (std ddof=0)."""
    predicted = np.asarray(predicted, dtype=np.float64).reshape(-1)
    assigned = np.asarray(assigned, dtype=np.float64).reshape(-1)
    if len(predicted) != len(assigned):
        raise ValueError(f"{len(predicted)} predictions for {len(assigned)} assigned labels")
    if len(predicted) == 0:
        raise UserError("Label Score: no generated images to score")
    err = np.abs(predicted - assigned)
    return {"mean": float(err.mean()), "std": float(err.std()), "n": int(len(err))}


def intra_niqe(scores, labels, *, omitnan: bool = False) -> dict:
    """Intra-NIQE from per-image NIQE scores of the generated images (each scored with the model
    of its own label): {"labels", "niqe", "n", "mean", "std"}.

    Intra_niqe_test_*.m: per label the mean of its images' scores (MATLAB mean: a NaN score makes
    the label NaN); over labels, mean and std (MATLAB std: ddof=1, 0 for one label); RC-49's
    script skips NaN labels there (`omitnan=True`), UTKFace's does not.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    if len(scores) != len(labels):
        raise ValueError(f"{len(scores)} scores for {len(labels)} labels")
    if len(scores) == 0:
        raise UserError("Intra-NIQE: no generated images to score")
    values = np.unique(labels)
    per_label = np.array([scores[labels == v].mean() for v in values])
    kept = per_label[~np.isnan(per_label)] if omitnan else per_label
    std = float(kept.std(ddof=1)) if len(kept) > 1 else (0.0 if len(kept) == 1 else float("nan"))
    return {"labels": values.tolist(), "niqe": per_label.tolist(),
            "n": [int((labels == v).sum()) for v in values],
            "mean": float(kept.mean()) if len(kept) else float("nan"), "std": std}
