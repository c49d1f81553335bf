"""Table 2 as the authors ran it: the label-free baseline scores LPIPS 0, the official test sweep,
and the official network mode (train mode, one image at a time, seeded)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cfa.errors import UserError
from cfa.metrics.suite import evaluate
from cfa.metrics.testsets.rotation import OFFICIAL_SWEEP_DEG, RotationTestSet
from cfa.training.objectives.paired import PairedObjective

sys.path.insert(0, str(Path(__file__).resolve().parent))
from factories import tiny_params  # noqa: E402
from test_interpolation import write_rotation_set  # noqa: E402

SETTINGS = {"batch_size": 7, "fid_max_images": 500, "lpips_inputs": 2, "lpips_pairs": 4, "figure_step_deg": 30,
            "sweep": "test-split", "network_mode": "eval"}


def objective(model: str, **generator) -> PairedObjective:
    params = tiny_params("paired")
    entry = params["models"][model]
    entry["generator"].update(ngf=4, n_blocks=2, **generator)
    torch.manual_seed(0)
    obj = PairedObjective(entry, params["train"], torch.device("cpu"), data_info={"channels": 3, "size": 32})
    obj.build_networks()
    obj.eval()
    return obj


@pytest.fixture()
def bars(tmp_path):
    return write_rotation_set(tmp_path / "bars.h5", n_objects=2, step=2.5, grid=5.0)


def test_the_papers_baseline_has_lpips_diversity_exactly_zero(bars):
    baseline, labelled = objective("pix2pix"), objective("pix2pix-label")
    x = torch.rand(1, 3, 32, 32).mul(2).sub(1).expand(5, -1, -1, -1)
    with torch.no_grad():
        out = baseline.generate(x, torch.linspace(0, 1, 5))
        assert all(torch.equal(out[0], o) for o in out)   # no label: one output per input
        assert not torch.equal(*labelled.generate(x[:2], torch.tensor([0.0, 1.0])))
    for mode in ("eval", "official"):
        baseline.set_network_mode(mode)
        record, _ = evaluate(baseline.generate, bars, ["lpips_diversity"], settings=SETTINGS, pretrained=False,
                             seed=0, device="cpu", progress=False)
        assert record["values"]["lpips_diversity"] == 0.0, mode
    record, _ = evaluate(labelled.generate, bars, ["lpips_diversity"], settings=SETTINGS, pretrained=False,
                         seed=0, device="cpu", progress=False)
    assert record["values"]["lpips_diversity"] > 0


def test_official_network_mode_is_train_mode_one_image_at_a_time_and_seeded():
    ours = objective("pix2pix-cfa")                      # BatchNorm and Dropout(0.5), as the official blocks
    gen = ours.networks["generator"]
    x, t = torch.rand(3, 3, 32, 32) * 2 - 1, torch.tensor([0.1, 0.3, 0.5])
    with torch.no_grad():
        eval_out = ours.generate(x, t)
        ours.set_network_mode("official")
        assert gen.training and ours.network_mode == "official"
        torch.manual_seed(1)
        official = ours.generate(x, t)
        torch.manual_seed(1)
        assert torch.equal(ours.generate(x, t), official)          # seeded: repeatable
        assert not torch.equal(ours.generate(x, t), official)      # dropout on: the noise moves it
        assert (official - eval_out).abs().max() > 1e-3
        # Batch statistics of ONE image, as the official test's batch of 1.
        torch.manual_seed(1)
        one_by_one = torch.cat([ours.generate(x[i:i + 1], t[i:i + 1]) for i in range(3)])
        assert torch.allclose(one_by_one, official, atol=1e-6)
        ours.set_network_mode("eval")
        assert not gen.training and torch.equal(ours.generate(x, t), eval_out)
    with pytest.raises(UserError, match="network_mode"):
        ours.set_network_mode("train")


def test_the_official_sweep_is_t_2_5_to_42_5_deg_from_each_source(bars, tmp_path):
    official = RotationTestSet(bars, {**SETTINGS, "sweep": "official"}, seed=0, progress=False)
    data = official.data
    assert OFFICIAL_SWEEP_DEG[0] == 2.5 and OFFICIAL_SWEEP_DEG[-1] == 42.5 and len(OFFICIAL_SWEEP_DEG) == 17
    assert len(official.sweep_rows) == 2 * 17
    for o in range(2):
        mine = official.sweep_rows[data.types[official.sweep_rows] == o]
        assert np.allclose(data.angles[mine], np.arange(1, 18) * 2.5)
    # The unseen rows among them (scored by the interpolation error) are the 2.5-deg midpoints.
    assert np.allclose(np.unique(data.angles[official.rows]), np.arange(2.5, 45, 5))
    split = RotationTestSet(bars, SETTINGS, seed=0, progress=False)
    assert np.array_equal(split.sweep_rows, split.rows) and len(split.rows) == 2 * 18
    assert split.describe()["sweep"] == "test-split" and official.describe()["sweep"] == "official"
    # The real images of another sweep are keyed apart (a stats file of one never serves the other).
    assert split.fid_reference()[1] is None and official.fid_reference()[1] is not None
    coarse = write_rotation_set(tmp_path / "coarse.h5", step=10.0, grid=20.0)
    with pytest.raises(UserError, match="2.5-deg"):
        RotationTestSet(coarse, {**SETTINGS, "sweep": "official"}, seed=0, progress=False)
    with pytest.raises(UserError, match="evaluate.sweep"):
        RotationTestSet(bars, {**SETTINGS, "sweep": "all"}, seed=0, progress=False)
