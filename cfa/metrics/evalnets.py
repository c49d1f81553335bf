"""Training, saving, loading and running the evaluation networks (`cfa.networks.evalnets`).

Each network is trained once per dataset on its real training images, as CcGAN trains them
(`pretrain_AE.py`, `pretrain_CNN_regre.py`, `pretrain_CNN_class.py`):
- autoencoder: MSE of the reconstruction, Adam(lr 1e-3, betas (0.5, 0.999), weight decay 1e-4),
  lr x0.1 every 50 of 200 epochs, batch 256;
- regressor: MSE on the label scaled to [0, 1], SGD(lr 0.01, momentum 0.9, weight decay 1e-4),
  lr /10 at epochs 50 and 120 of 200, batch 256;
- classifier: cross-entropy, the same SGD and schedule.
With fewer epochs the milestones scale with them (50/200, 120/200 of the run). Images enter as
(x / 255 - 0.5) / 0.5, CcGAN's normalisation (our [-1, 1] convention). No augmentation; a last
batch of a single image is skipped (batch norm cannot train on it).

Training is seeded (weights, batch order) and runs in one process without DataLoader workers, so
the same seed on the same CPU gives the same bits. After training each network measures itself on
the real test images (autoencoder: reconstruction MSE in [-1, 1] units; regressor: mean absolute
error in label units; classifier: accuracy): the floor a generator's score is read against.

A checkpoint is {"format", "kind", "arch", "state", "meta"} of plain data and tensors, written
atomically, loaded with weights_only=True. `meta` names the dataset (sha256) and split it was
trained on; `load_evalnet` refuses a checkpoint of another dataset or split.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch._dynamo  # noqa: F401  (before any rendering: see cfa/training/objectives/__init__.py)
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from cfa.errors import UserError
from cfa.io import atomic_output
from cfa.networks.evalnets import KINDS, build_evalnet

FORMAT = 1
PAPER_EPOCHS = 200


@dataclass
class TrainedNet:
    model: nn.Module   # in eval mode, on the training device
    arch: dict
    meta: dict
    train_seconds: float


# ---- data ------------------------------------------------------------------------------------

def to_model_input(batch, device) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32 in [-1, 1] on `device`; float input is taken as [-1, 1]."""
    t = torch.as_tensor(np.asarray(batch) if not isinstance(batch, torch.Tensor) else batch)
    if t.dtype == torch.uint8:
        return t.to(device).float().div_(127.5).sub_(1.0)
    return t.to(device).float()


def _check_images(images, what: str) -> tuple[int, int, int]:
    shape = tuple(images.shape)
    if len(shape) != 4 or shape[2] != shape[3]:
        raise UserError(f"{what}: images must be square (N, C, H, W), got shape {shape}")
    if shape[0] == 0:
        raise UserError(f"{what}: no images")
    return shape[1], shape[2], shape[0]


def label_normalisation(labels) -> tuple[float, float]:
    """(offset, scale) with (label - offset) / scale in [0, 1] on the training labels.

    CcGAN: offset 0 for non-negative labels (ages 1..60 -> age / 60), else the minimum (steering
    angles: shifted by |min| and divided by the shifted maximum).
    """
    labels = np.asarray(labels, dtype=np.float64)
    lo, hi = float(labels.min()), float(labels.max())
    offset = min(lo, 0.0)
    scale = hi - offset
    if not scale > 0 or lo == hi:
        raise UserError(f"regressor: the training labels span [{lo:g}, {hi:g}] over {len(labels)} "
                        f"images; a regressor needs at least two distinct labels")
    return offset, scale


def _milestones(epochs: int, paper_milestones: tuple[int, ...]) -> list[int]:
    return sorted({max(1, round(m * epochs / PAPER_EPOCHS)) for m in paper_milestones})


def _lr_at(epoch: int, base_lr: float, milestones: list[int], factor: float) -> float:
    return base_lr * factor ** sum(epoch >= m for m in milestones)


# ---- training --------------------------------------------------------------------------------

def _train(model: nn.Module, loss_fn, inputs, targets, *, optimizer, epochs: int, batch_size: int,
           base_lr: float, milestones: list[int], factor: float, seed: int, device, progress: bool,
           desc: str) -> list[float]:
    n = len(inputs)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    bar = tqdm(range(epochs), desc=desc, unit="epoch", file=sys.stderr, disable=not progress)
    for epoch in bar:
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(epoch, base_lr, milestones, factor)
        model.train()
        order = torch.randperm(n, generator=gen).numpy()
        total, seen = 0.0, 0
        for start in range(0, n, batch_size):
            idx = np.sort(order[start:start + batch_size])  # sorted: h5py needs increasing indices
            if len(idx) < 2:
                continue  # batch norm cannot train on a last batch of one image
            x = to_model_input(inputs[idx], device)
            y = None if targets is None else torch.as_tensor(targets[idx]).to(device)
            loss = loss_fn(model, x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        losses.append(total / max(seen, 1))
        bar.set_postfix(loss=f"{losses[-1]:.4g}")
    bar.close()
    model.eval()
    return losses


def _seeded(seed: int) -> None:
    torch.manual_seed(seed)  # the weight initialisation; batch order has its own generator


def _common_meta(kind, dataset_sha256, split, test_split, seed, epochs, batch_size, lr, milestones,
                 n_train, n_test, optimizer: str) -> dict:
    return {"kind": kind, "dataset_sha256": str(dataset_sha256), "split": str(split),
            "test_split": str(test_split), "seed": int(seed), "epochs": int(epochs),
            "batch_size": int(batch_size), "lr": float(lr), "lr_milestones": list(milestones),
            "optimizer": optimizer, "train_count": int(n_train), "test_count": int(n_test)}


def train_autoencoder(train_images, test_images, *, dataset_sha256: str, split: str = "train",
                      test_split: str = "test", epochs: int = PAPER_EPOCHS, batch_size: int = 256,
                      lr: float = 1e-3, dim_bottleneck: int = 512, ch: int = 64, seed: int = 2020,
                      device="cpu", progress: bool = True) -> TrainedNet:
    """CcGAN's autoencoder on uint8 (N, C, H, W) real images; test metric: reconstruction MSE."""
    import time
    c, size, n = _check_images(train_images, "autoencoder training set")
    _check_images(test_images, "autoencoder test set")
    arch = {"kind": "autoencoder", "dim_bottleneck": int(dim_bottleneck), "ch": int(ch),
            "in_channels": int(c), "image_size": int(size)}
    _seeded(seed)
    model = build_evalnet(arch).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.5, 0.999), weight_decay=1e-4)
    milestones = _milestones(epochs, (50, 100, 150))
    t0 = time.perf_counter()
    losses = _train(model, lambda m, x, y: F.mse_loss(m(x), x), train_images, None, optimizer=opt,
                    epochs=epochs, batch_size=batch_size, base_lr=lr, milestones=milestones,
                    factor=0.1, seed=seed, device=device, progress=progress, desc="autoencoder")
    seconds = time.perf_counter() - t0
    mse = reconstruction_mse(model, test_images, device=device)
    meta = _common_meta("autoencoder", dataset_sha256, split, test_split, seed, epochs, batch_size,
                        lr, milestones, n, len(test_images), "Adam(betas=(0.5, 0.999), weight_decay=1e-4)")
    meta.update(final_train_loss=losses[-1] if losses else None,
                test_metric={"name": "reconstruction_mse", "value": mse,
                             "unit": "mean squared error per pixel, images in [-1, 1]"})
    return TrainedNet(model, arch, meta, seconds)


def train_regressor(train_images, train_labels, test_images, test_labels, *, dataset_sha256: str,
                    split: str = "train", test_split: str = "test", epochs: int = PAPER_EPOCHS,
                    batch_size: int = 256, lr: float = 0.01, depth: int = 34, width: int = 64,
                    seed: int = 2020, label_unit: str = "label units", device="cpu",
                    progress: bool = True) -> TrainedNet:
    """A ResNet regressor of the continuous label; test metric: mean |error| in label units."""
    import time
    c, _, n = _check_images(train_images, "regressor training set")
    _check_images(test_images, "regressor test set")
    train_labels = np.asarray(train_labels, dtype=np.float64).reshape(-1)
    test_labels = np.asarray(test_labels, dtype=np.float64).reshape(-1)
    if len(train_labels) != n or len(test_labels) != len(test_images):
        raise ValueError("one label per image, please")
    offset, scale = label_normalisation(train_labels)
    targets = ((train_labels - offset) / scale).astype(np.float32)
    arch = {"kind": "regressor", "depth": int(depth), "width": int(width), "in_channels": int(c)}
    _seeded(seed)
    model = build_evalnet(arch).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    milestones = _milestones(epochs, (50, 120))
    t0 = time.perf_counter()
    losses = _train(model, lambda m, x, y: F.mse_loss(m(x), y), train_images, targets, optimizer=opt,
                    epochs=epochs, batch_size=batch_size, base_lr=lr, milestones=milestones,
                    factor=0.1, seed=seed, device=device, progress=progress, desc="regressor")
    seconds = time.perf_counter() - t0
    meta = _common_meta("regressor", dataset_sha256, split, test_split, seed, epochs, batch_size, lr,
                        milestones, n, len(test_images), "SGD(momentum=0.9, weight_decay=1e-4)")
    meta.update(label_offset=offset, label_scale=scale, label_unit=label_unit,
                final_train_loss=losses[-1] if losses else None)
    pred = predict_labels(model, meta, test_images, device=device)
    meta["test_metric"] = {"name": "mean_absolute_error", "value": float(np.abs(pred - test_labels).mean()),
                           "unit": label_unit}
    return TrainedNet(model, arch, meta, seconds)


def train_classifier(train_images, train_classes, test_images, test_classes, *, dataset_sha256: str,
                     split: str = "train", test_split: str = "test", num_classes: int | None = None,
                     class_names: list[str] | None = None, epochs: int = PAPER_EPOCHS,
                     batch_size: int = 256, lr: float = 0.01, depth: int = 34, width: int = 64,
                     seed: int = 2020, min_per_class: int = 1, device="cpu",
                     progress: bool = True) -> TrainedNet:
    """A ResNet classifier of the diversity attribute (classes 0..K-1); test metric: accuracy."""
    import time
    c, _, n = _check_images(train_images, "classifier training set")
    _check_images(test_images, "classifier test set")
    train_classes = np.asarray(train_classes).reshape(-1).astype(np.int64)
    test_classes = np.asarray(test_classes).reshape(-1).astype(np.int64)
    if len(train_classes) != n or len(test_classes) != len(test_images):
        raise ValueError("one class per image, please")
    k = int(num_classes if num_classes is not None else train_classes.max() + 1)
    lo, hi = min(train_classes.min(), test_classes.min()), max(train_classes.max(), test_classes.max())
    if lo < 0 or hi >= k:
        raise UserError(f"classifier: classes must lie in 0..{k - 1}; got training classes "
                        f"{train_classes.min()}..{train_classes.max()}, test "
                        f"{test_classes.min()}..{test_classes.max()}")
    counts = np.bincount(train_classes, minlength=k)
    if counts.min() < min_per_class:
        names = class_names or [str(i) for i in range(k)]
        few = {names[i]: int(counts[i]) for i in np.flatnonzero(counts < min_per_class)}
        raise UserError(f"classifier: {n} training images over {k} classes, and class(es) {few} have "
                        f"fewer than {min_per_class} image(s) (counts: {counts.tolist()}); drop the "
                        f"class or use a larger training split")
    arch = {"kind": "classifier", "num_classes": k, "depth": int(depth), "width": int(width),
            "in_channels": int(c)}
    _seeded(seed)
    model = build_evalnet(arch).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    milestones = _milestones(epochs, (50, 120))
    t0 = time.perf_counter()
    losses = _train(model, lambda m, x, y: F.cross_entropy(m(x), y), train_images, train_classes,
                    optimizer=opt, epochs=epochs, batch_size=batch_size, base_lr=lr,
                    milestones=milestones, factor=0.1, seed=seed, device=device, progress=progress,
                    desc="classifier")
    seconds = time.perf_counter() - t0
    meta = _common_meta("classifier", dataset_sha256, split, test_split, seed, epochs, batch_size, lr,
                        milestones, n, len(test_images), "SGD(momentum=0.9, weight_decay=1e-4)")
    meta.update(class_names=list(class_names) if class_names else None,
                train_class_counts=counts.tolist(), final_train_loss=losses[-1] if losses else None)
    pred = predict_classes(model, test_images, device=device)
    meta["test_metric"] = {"name": "accuracy", "value": float((pred == test_classes).mean()),
                           "unit": "fraction of test images",
                           "chance": float(np.bincount(test_classes, minlength=k).max() / len(test_classes))}
    return TrainedNet(model, arch, meta, seconds)


# ---- inference -------------------------------------------------------------------------------

def _batched(model: nn.Module, images, fn, batch_size: int, device, progress: bool, desc: str):
    model.eval()
    outs = []
    bar = tqdm(total=len(images), desc=desc, unit="img", file=sys.stderr, disable=not progress, leave=False)
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x = to_model_input(images[start:start + batch_size], device)
            outs.append(fn(model, x).double().cpu().numpy())
            bar.update(len(x))
    bar.close()
    return np.concatenate(outs) if outs else np.zeros((0,))


def ae_features(autoencoder: nn.Module, images, *, batch_size: int = 500, device=None,
                progress: bool = False) -> np.ndarray:
    """(N, bottleneck) float64 features of uint8 images (or float in [-1, 1])."""
    device = device or next(autoencoder.parameters()).device
    return _batched(autoencoder, images, lambda m, x: m.features(x), batch_size, device, progress,
                    "AE features")


def reconstruction_mse(autoencoder: nn.Module, images, *, batch_size: int = 500, device=None) -> float:
    device = device or next(autoencoder.parameters()).device
    per_image = _batched(autoencoder, images, lambda m, x: ((m(x) - x) ** 2).flatten(1).mean(1),
                         batch_size, device, False, "AE reconstruction")
    return float(per_image.mean())


def predict_labels(regressor: nn.Module, meta: dict, images, *, batch_size: int = 500, device=None,
                   progress: bool = False) -> np.ndarray:
    """Predicted labels in label units: output * scale + offset (CcGAN's cal_labelscore)."""
    device = device or next(regressor.parameters()).device
    out = _batched(regressor, images, lambda m, x: m(x), batch_size, device, progress, "labels")
    return out * meta["label_scale"] + meta["label_offset"]


def predict_classes(classifier: nn.Module, images, *, batch_size: int = 500, device=None,
                    progress: bool = False) -> np.ndarray:
    """Argmax class of each image (CcGAN's predict_class_labels), int64."""
    device = device or next(classifier.parameters()).device
    out = _batched(classifier, images, lambda m, x: m(x).argmax(1), batch_size, device, progress,
                   "classes")
    return out.astype(np.int64)


# ---- checkpoints -----------------------------------------------------------------------------

def save_evalnet(path, net: TrainedNet) -> None:
    state = {k: v.detach().cpu().clone() for k, v in net.model.state_dict().items()}
    payload = {"format": FORMAT, "kind": net.arch["kind"], "arch": dict(net.arch), "state": state,
               "meta": dict(net.meta)}
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)


def load_evalnet(path, *, dataset_sha256: str, split: str, kind: str | None = None,
                 device="cpu") -> tuple[nn.Module, dict]:
    """(network in eval mode, meta) of a checkpoint trained on `dataset_sha256`/`split`.

    Refuses (UserError naming both) a checkpoint trained on another dataset or split, or of
    another kind than `kind`.
    """
    from pathlib import Path
    path = Path(path)
    if not path.is_file():
        raise UserError(f"evaluation network not found: {path}; train it first")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"{path}: not a readable evaluation-network checkpoint ({type(e).__name__}: "
                        f"{e}); delete it and train again") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or ckpt.get("kind") not in KINDS:
        raise UserError(f"{path}: not a cfa evaluation-network checkpoint of format {FORMAT}")
    meta = ckpt["meta"]
    if kind is not None and ckpt["kind"] != kind:
        raise UserError(f"{path} holds a {ckpt['kind']}, not a {kind}")
    if meta["dataset_sha256"] != dataset_sha256 or meta["split"] != split:
        raise UserError(
            f"{path}: this {ckpt['kind']} was trained on dataset sha256 {meta['dataset_sha256']} "
            f"split '{meta['split']}', but the evaluation is of dataset sha256 {dataset_sha256} "
            f"split '{split}'; train it again on this dataset (its score floor and feature space "
            f"belong to the data it saw)")
    model = build_evalnet(ckpt["arch"])
    try:
        model.load_state_dict(ckpt["state"])
    except (RuntimeError, KeyError) as e:
        raise UserError(f"{path}: the saved {ckpt['kind']} does not fit its recorded architecture "
                        f"({str(e).splitlines()[0]})") from None
    return model.to(device).eval(), meta


def parameter_count(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def describe(meta: dict) -> str:
    """One line for logs and captions: kind, test metric and what it was trained on."""
    tm = meta.get("test_metric", {})
    value = tm.get("value")
    shown = f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else str(value)
    return (f"{meta['kind']} ({meta['epochs']} epochs, seed {meta['seed']}): {tm.get('name')} {shown} "
            f"{tm.get('unit', '')} on {meta['test_count']} real '{meta['test_split']}' images")


# ---- one dataset's evaluation networks, as a pipeline output (`cfa evalnet`) -------------------

NET_FILES = {"autoencoder": "autoencoder.pt", "regressor": "regressor.pt", "classifier": "classifier.pt",
             "niqe": "niqe.json"}
SUMMARY = "evalnets.json"


def train_for_testset(testset, nets: list[str], settings: dict, out_dir, *, device="cpu",
                      progress: bool = True) -> dict:
    """Train the named evaluation networks on a test protocol's real training images, measure each
    on its real test images, and save them (and a summary of their own scores) in `out_dir`.

    `settings` is params.yaml's `evalnets` section. Returns the summary {net: meta}.
    """
    from pathlib import Path

    from cfa.io import write_json_atomic
    from cfa.metrics import niqe

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train, test = testset.real_images("train"), testset.real_images("test")
    common = dict(dataset_sha256=testset.sha256, split="train", test_split="test", seed=int(settings["seed"]),
                  batch_size=int(settings["batch_size"]), device=device, progress=progress)
    summary = {}
    for net in nets:
        if net == "niqe":
            cfg = settings["niqe"]
            if train.labels is None:
                raise UserError(f"{testset.path}: NIQE is fitted per label, and this dataset's images have no label")
            models = niqe.fit_niqe_per_label(train.images, train.labels, block_size=(cfg["block_size"],) * 2,
                                             sharpness_threshold=float(cfg["sharpness_threshold"]),
                                             progress=progress)
            meta = {"kind": "niqe", "dataset_sha256": testset.sha256, "split": "train",
                    "labels": len(models), "label_unit": train.label_unit,
                    "block_size": cfg["block_size"], "sharpness_threshold": cfg["sharpness_threshold"]}
            write_json_atomic(out_dir / NET_FILES["niqe"],
                              {"format": FORMAT, "kind": "niqe", "meta": meta,
                               "models": [[label, m.to_dict()] for label, m in models.items()]})
            summary[net] = meta
            continue
        cfg = settings[net]
        if net == "autoencoder":
            trained = train_autoencoder(train.images, test.images, epochs=int(cfg["epochs"]), lr=float(cfg["lr"]),
                                        dim_bottleneck=int(cfg["dim_bottleneck"]), ch=int(cfg["ch"]), **common)
        elif net == "regressor":
            if train.labels is None:
                raise UserError(f"{testset.path}: a label regressor needs labelled images; this dataset has none")
            trained = train_regressor(train.images, train.labels, test.images, test.labels,
                                      epochs=int(cfg["epochs"]), lr=float(cfg["lr"]), depth=int(cfg["depth"]),
                                      width=int(cfg["width"]), label_unit=train.label_unit or "label units",
                                      **common)
        elif net == "classifier":
            if train.attributes is None:
                raise UserError(f"{testset.path}: a classifier needs an attribute per image (race, object "
                                f"type); this dataset has none")
            trained = train_classifier(train.images, train.attributes, test.images, test.attributes,
                                       num_classes=int(max(train.attributes.max(), test.attributes.max())) + 1,
                                       class_names=train.attribute_names, epochs=int(cfg["epochs"]),
                                       lr=float(cfg["lr"]), depth=int(cfg["depth"]), width=int(cfg["width"]),
                                       **common)
        else:
            raise UserError(f"unknown evaluation network {net!r}; known: {', '.join(NET_FILES)}")
        save_evalnet(out_dir / NET_FILES[net], trained)
        summary[net] = {**trained.meta, "train_seconds": round(trained.train_seconds, 1)}
        print(f"cfa evalnet: {describe(trained.meta)}", file=sys.stderr)
    write_json_atomic(out_dir / SUMMARY, summary)
    return summary


def load_trained(out_dir, kind: str, dataset_sha256: str, device="cpu") -> tuple:
    """(network, meta) of `cfa evalnet`'s output for this dataset; for "niqe" ({label: model}, meta)."""
    import json
    from pathlib import Path

    from cfa.metrics import niqe

    path = Path(out_dir) / NET_FILES[kind]
    if kind != "niqe":
        return load_evalnet(path, dataset_sha256=dataset_sha256, split="train", kind=kind, device=device)
    if not path.is_file():
        raise UserError(f"NIQE models not found: {path}; make them with `cfa evalnet`")
    payload = json.loads(path.read_text())
    meta = payload["meta"]
    if meta["dataset_sha256"] != dataset_sha256:
        raise UserError(f"{path}: fitted on dataset sha256 {meta['dataset_sha256']}, but the evaluation is of "
                        f"dataset sha256 {dataset_sha256}; fit them again on this dataset")
    return {float(label): niqe.NIQEModel.from_dict(m, str(path)) for label, m in payload["models"]}, meta
