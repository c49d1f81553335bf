"""Training curves are drawn from DVCLive's TSV files."""

import numpy as np
from PIL import Image

from cfa.training.curves import read_live_series, write_curves


def _tsv(path, name, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("timestamp\tstep\t" + name + "\n" + "".join(f"0\t{s}\t{v}\n" for s, v in rows))


def test_curves_read_every_series_and_draw_a_png(tmp_path):
    live = tmp_path / "live"
    _tsv(live / "plots/metrics/train/loss_g.tsv", "loss_g", [(0, 3.0), (10, 2.0), (20, 1.5)])
    _tsv(live / "plots/metrics/train/loss_d.tsv", "loss_d", [(0, 0.7), (10, 0.6), (20, 0.5)])
    _tsv(live / "plots/metrics/train/images_per_s.tsv", "images_per_s", [(10, 40.0), (20, 42.0)])
    series = read_live_series(live)
    assert series["train/loss_g"] == ([0, 10, 20], [3.0, 2.0, 1.5])
    assert set(series) == {"train/loss_g", "train/loss_d", "train/images_per_s"}
    out = write_curves(live, tmp_path / "curves.png", title="t")
    img = Image.open(out)
    assert img.size[0] > 2 * img.size[1]  # two panels side by side: losses, images/s
    assert len(np.unique(np.asarray(img.convert("L")))) > 10  # something was drawn


def test_no_logged_series_writes_nothing(tmp_path):
    assert write_curves(tmp_path / "live", tmp_path / "curves.png") is None
    assert not (tmp_path / "curves.png").exists()
