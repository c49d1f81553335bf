"""Figures as PNG: rotation strips (paper Figure 5) and the interpolation figure (Figure 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from cfa.io import atomic_output


def _hwc(img: np.ndarray) -> np.ndarray:
    """uint8 (C,H,W) -> (H,W,3)."""
    img = np.asarray(img)
    if img.shape[0] == 1:
        img = np.repeat(img, 3, axis=0)
    return img.transpose(1, 2, 0)


def _save(fig, path) -> None:
    import matplotlib.pyplot as plt
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    plt.close(fig)


def _figure(rows: int, cols: int, cell: float = 0.9):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(rows, cols, figsize=(cell * cols + 1.2, cell * rows + 0.6), squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes


def rotation_strip(path: str | Path, sources: np.ndarray, outputs: np.ndarray,
                   angles_deg: Sequence[float], title: str = "") -> None:
    """Figure 5: each row one fixed input (first column) and its outputs across angles.

    sources uint8 (R,3,H,W); outputs uint8 (R,K,3,H,W) at angles_deg (K,)."""
    n_rows, n_angles = outputs.shape[:2]
    fig, axes = _figure(n_rows, n_angles + 1)
    for r in range(n_rows):
        axes[r, 0].imshow(_hwc(sources[r]))
        if r == 0:
            axes[r, 0].set_title("input", fontsize=7)
        for k in range(n_angles):
            axes[r, k + 1].imshow(_hwc(outputs[r, k]))
            if r == 0:
                axes[r, k + 1].set_title(f"{angles_deg[k]:g}°", fontsize=6)
    if title:
        fig.suptitle(title, fontsize=9, y=1.04)
    _save(fig, path)


def interpolation_figure(path: str | Path, panels: Sequence[dict], title: str = "") -> None:
    """Figure 3: per object, the true renders (top row) and the outputs (bottom row) across angles;
    unseen (held-out) angles are framed in red and labelled, seen ones in grey.

    Each panel: {"name": str, "angles": (K,), "seen": bool (K,), "truth": uint8 (K,3,H,W),
    "output": uint8 (K,3,H,W)}."""
    n_cols = max(len(p["angles"]) for p in panels)
    fig, axes = _figure(2 * len(panels), n_cols)
    for i, p in enumerate(panels):
        for k, angle in enumerate(p["angles"]):
            seen = bool(p["seen"][k])
            for j, (img, what) in enumerate(((p["truth"][k], "true"), (p["output"][k], "output"))):
                ax = axes[2 * i + j, k]
                ax.imshow(_hwc(img))
                for spine in ax.spines.values():
                    spine.set_edgecolor("grey" if seen else "red")
                    spine.set_linewidth(0.8 if seen else 2.5)
                if j == 0:
                    ax.set_title(f"{angle:g}°" + ("" if seen else "\nunseen"), fontsize=6,
                                 color="black" if seen else "red")
                if k == 0:
                    ax.set_ylabel(f"{p['name']}\n{what}", fontsize=6)
        for k in range(len(p["angles"]), n_cols):
            axes[2 * i, k].axis("off")
            axes[2 * i + 1, k].axis("off")
    fig.subplots_adjust(hspace=0.45)
    fig.suptitle(title or "red frame = unseen angle (not in training); grey = seen", fontsize=8,
                 y=1.02)
    _save(fig, path)


def translation_figure(path: str | Path, inputs: np.ndarray, targets: np.ndarray, outputs: np.ndarray,
                       output_labels: Sequence[str], title: str = "") -> None:
    """Figure 4 style: each row one test input, its real target, then several outputs for it.

    inputs, targets uint8 (R,C,H,W); outputs uint8 (R,K,C,H,W), column k labelled output_labels[k]."""
    n_rows, n_out = outputs.shape[:2]
    fig, axes = _figure(n_rows, n_out + 2)
    for r in range(n_rows):
        axes[r, 0].imshow(_hwc(inputs[r]))
        axes[r, 1].imshow(_hwc(targets[r]))
        for k in range(n_out):
            axes[r, k + 2].imshow(_hwc(outputs[r, k]))
    for c, label in enumerate(["input", "target", *output_labels]):
        axes[0, c].set_title(label, fontsize=6)
    if title:
        fig.suptitle(title, fontsize=9, y=1.04)
    _save(fig, path)


def label_sweep_figure(path: str | Path, outputs: np.ndarray, labels: Sequence[float], unit: str = "",
                       title: str = "") -> None:
    """Figure 7: label-only generation; each row one fixed noise z, each column one label.

    outputs uint8 (R,K,C,H,W) at labels (K,), in the dataset's unit (years, deg, ...)."""
    n_rows, n_labels = outputs.shape[:2]
    fig, axes = _figure(n_rows, n_labels)
    suffix = "°" if unit in ("deg", "degrees") else (f" {unit}" if unit else "")
    for r in range(n_rows):
        for k in range(n_labels):
            axes[r, k].imshow(_hwc(outputs[r, k]))
            if r == 0:
                axes[r, k].set_title(f"{labels[k]:g}{suffix}", fontsize=6)
        axes[r, 0].set_ylabel(f"z{r + 1}", fontsize=6)
    if title:
        fig.suptitle(title, fontsize=9, y=1.04)
    _save(fig, path)
