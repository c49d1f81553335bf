"""Training curves as a picture: the DVCLive TSVs of a run, one panel per quantity.

`dvc plots` reads the TSVs directly; this PNG is for the Snakemake report and for people.
"""

from __future__ import annotations

import csv
from pathlib import Path

from cfa.io import atomic_output

# The picture's name in a run directory (Snakemake and DVC declare it as an output).
CURVES_PNG = "curves.png"


def read_live_series(live_dir: str | Path) -> dict[str, tuple[list[int], list[float]]]:
    """{"train/loss_g": (steps, values), ...} from DVCLive's plots/metrics/**.tsv."""
    root = Path(live_dir) / "plots" / "metrics"
    series = {}
    for tsv in sorted(root.rglob("*.tsv")):
        steps, values = [], []
        with tsv.open() as f:
            for row in csv.DictReader(f, delimiter="\t"):
                name = next(k for k in row if k not in ("step", "timestamp"))
                steps.append(int(row["step"]))
                values.append(float(row[name]))
        series[str(tsv.relative_to(root).with_suffix(""))] = (steps, values)
    return series


def write_curves(live_dir: str | Path, out: str | Path, title: str = "") -> Path | None:
    """Plot every logged series (losses on a shared panel, the rest on their own); None if none logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = read_live_series(live_dir)
    if not series:
        return None
    losses = {k: v for k, v in series.items() if "loss" in k}
    others = {k: v for k, v in series.items() if k not in losses}
    panels = ([("losses", losses)] if losses else []) + [(k, {k: v}) for k, v in others.items()]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    for ax, (name, group) in zip(axes[0], panels):
        for key, (steps, values) in group.items():
            ax.plot(steps, values, label=key.split("/")[-1], linewidth=1.2)
        ax.set_title(name.split("/")[-1])
        ax.set_xlabel("step")
        if len(group) > 1:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_output(out) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    return Path(out)
