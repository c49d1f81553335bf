"""LPIPS diversity: exactly 0 for a model that ignores t, > 0 for one that uses it; pair drawing;
AlexNet trunk loading and the missing-weights error."""

import numpy as np
import pytest
import torch

from cfa.errors import UserError
from cfa.metrics import backbones
from cfa.metrics.lpips_diversity import (draw_pairs, lpips_distances, lpips_diversity,
                                         lpips_diversity_of_outputs)


@pytest.fixture(scope="module")
def lpips_model():
    model, provenance = backbones.lpips_alex(pretrained=False)
    assert provenance["pretrained"] is False
    return model


def _sources(n=5, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1


def ignores_t(x, t):
    return torch.tanh(x.flip(-1) * 1.5)


def uses_t(x, t):
    # Rolls the image by an amount that grows with t: different t, different output.
    return torch.stack([torch.roll(xi, shifts=int(round(float(ti) * 16)), dims=-1)
                        for xi, ti in zip(x, t)])


CONDITIONS = [k * 2.5 / 90 for k in range(1, 18, 2)]


def test_deterministic_model_scores_exactly_zero(lpips_model):
    res = lpips_diversity(ignores_t, _sources(), CONDITIONS, lpips_model, inputs=4, pairs=3,
                          progress=False)
    assert res["lpips"] == 0.0
    assert res["inputs"] == 4 and res["pairs"] == 12 and res["pairs_per_input"] == 3


def test_condition_dependent_model_scores_above_zero(lpips_model):
    res = lpips_diversity(uses_t, _sources(), CONDITIONS, lpips_model, inputs=100, pairs=19,
                          progress=False)
    # Capped by what exists: 5 inputs; C(9,2) = 36 pairs available, 19 drawn per input.
    assert res["inputs"] == 5 and res["pairs"] == 5 * 19
    assert res["lpips"] > 0.0


def test_protocol_is_seeded(lpips_model):
    a = lpips_diversity(uses_t, _sources(), CONDITIONS, lpips_model, inputs=3, pairs=4, seed=1,
                        progress=False)
    b = lpips_diversity(uses_t, _sources(), CONDITIONS, lpips_model, inputs=3, pairs=4, seed=1,
                        progress=False)
    assert a["lpips"] == b["lpips"]


def test_of_outputs_and_distance_basics(lpips_model):
    x = _sources(4)
    same = lpips_diversity_of_outputs([x[:1].expand(3, -1, -1, -1)] * 2, lpips_model, pairs=3)
    assert same["lpips"] == 0.0 and same["pairs"] == 6
    d = lpips_distances(lpips_model, x, torch.cat([x[:2], -x[2:]]))
    assert d[0] == 0 and d[1] == 0 and (d[2:] > 0).all()
    u8 = ((x + 1) * 127.5).round().byte()
    assert lpips_distances(lpips_model, u8, u8).max() == 0


def test_draw_pairs_distinct_and_capped():
    rng = np.random.default_rng(0)
    pairs = draw_pairs(4, 19, rng)
    assert len(pairs) == 6 and len(set(pairs)) == 6 and all(i != j for i, j in pairs)
    assert draw_pairs(1, 3, rng) == [(0, 0)] * 3


def test_alexnet_trunk_missing_weights_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(UserError) as e:
        backbones.lpips_alex(pretrained=True)
    msg = str(e.value)
    assert str(tmp_path / "hub" / "checkpoints" / backbones.ALEXNET_FILE) in msg
    assert "metrics.pretrained_backbones=false" in msg


def test_alexnet_trunk_loaded_from_hub_directory(tmp_path, monkeypatch):
    import torchvision
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(5)
    state = torchvision.models.alexnet(weights=None).state_dict()
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(state, tmp_path / "hub" / "checkpoints" / backbones.ALEXNET_FILE)
    model, provenance = backbones.lpips_alex(pretrained=True)
    assert provenance["pretrained"] is True
    torch.testing.assert_close(model.net.slice3._modules["6"].weight,
                               state["features.6.weight"])
    torch.testing.assert_close(model.net.slice1._modules["0"].weight, state["features.0.weight"])
