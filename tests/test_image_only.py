"""Image-only translation (Eq. 6, Table 1): t drawn per sample from the step's generator, no label
input, BasisGAN's noise, the BicycleGAN LPIPS protocol (0 for a deterministic model), resume with
crops and flips, the pix2pix/edges2objects makers and the raw-data check."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from cfa.datasets.kinds import open_dataset
from cfa.errors import UserError
from cfa.metrics.suite import evaluate
from cfa.networks.build import build_generator
from cfa.training.objectives import objective_class
from cfa.training.objectives.image_only import ImageOnlyObjective
from factories import TINY_MODELS, paired_images, tiny_params

TINY = TINY_MODELS["image_only"]
PLAIN = {**copy.deepcopy(TINY), "atoms": None}                      # pix2pix-image
BASIS = copy.deepcopy(TINY)                                          # basisgan
BASIS["generator"]["arch"] = "basisgan"
EVAL = {"batch_size": 8, "fid_max_images": 100, "lpips_inputs": 100, "lpips_pairs": 3, "figure_step_deg": 5.0}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return paired_images(tmp_path_factory.mktemp("paired") / "squares.h5")


def _objective(data, model=TINY, **train):
    reader = open_dataset(data, split="train")
    tp = {**tiny_params("image_only")["train"], **train}
    obj = ImageOnlyObjective(model, tp, torch.device("cpu"), data_info=reader.info())
    torch.manual_seed(0)  # the same initial weights every time
    obj.build(total_steps=4, decay_start=2)
    return obj, reader


def _batch(reader, n=6):
    return next(iter(torch.utils.data.DataLoader(reader, batch_size=n)))


def test_each_sample_gets_its_own_t_drawn_from_the_step_generator(data):
    obj, reader = _objective(data, load_size=None, crop_size=None, flip=False)
    batch = _batch(reader)
    t = obj.prepare_batch(batch, torch.Generator().manual_seed(7))["t"]
    # Exactly U(0.2, 1.0) from the generator the loop seeded for this step: nothing else draws.
    expected = (0.2 + 0.8 * torch.rand(6, generator=torch.Generator().manual_seed(7), dtype=torch.float64)).float()
    assert torch.equal(t, expected)
    assert len(set(t.tolist())) == 6 and bool(((t >= 0.2) & (t <= 1.0)).all())
    again = obj.prepare_batch(batch, torch.Generator().manual_seed(7))["t"]
    other_step = obj.prepare_batch(batch, torch.Generator().manual_seed(8))["t"]
    assert torch.equal(t, again) and not torch.equal(t, other_step)


def test_crops_and_flips_are_shared_by_input_and_target(data):
    obj, reader = _objective(data, load_size=36, crop_size=32, flip=True)
    batch = _batch(reader, 8)
    flips = 0
    for seed in range(4):
        out = obj.prepare_batch(batch, torch.Generator().manual_seed(seed))
        assert out["source"].shape == out["target"].shape == (8, 3, 32, 32)
        # The square's outline (A) and its filled square (B) stay aligned: B is dark exactly
        # inside A's outline, so their dark-pixel column extents agree sample by sample.
        for a, b in zip(out["source"], out["target"]):
            cols_a = (a.mean(0) < 0.5).any(0).nonzero().flatten()
            cols_b = (b.mean(0) < 0.9).any(0).nonzero().flatten()
            assert abs(int(cols_a.min()) - int(cols_b.min())) <= 1 and abs(int(cols_a.max()) - int(cols_b.max())) <= 1
        plain, _ = _objective(data, load_size=36, crop_size=32, flip=False)
        unflipped = plain.prepare_batch(batch, torch.Generator().manual_seed(seed))
        flips += int((~torch.isclose(out["source"], unflipped["source"])).flatten(1).any(1).sum())
    assert 0 < flips < 32


def test_no_label_input_and_t_decides_the_output(data):
    gen = build_generator(TINY).eval()
    assert gen.stem[1].in_channels == 3 and not gen.time_channel
    x = open_dataset(data, split="test").preview_sources(2)
    with torch.no_grad():
        a, b = gen(x, torch.tensor([0.3, 0.3])), gen(x, torch.tensor([0.3, 0.3]))
        c = gen(x, torch.tensor([0.9, 0.9]))
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_basisgan_draws_noise_every_forward_and_ignores_t(data):
    gen = build_generator(BASIS).eval()
    assert gen.stem[1].in_channels == 3 and not gen.time_channel
    x = open_dataset(data, split="test").preview_sources(2)
    with torch.no_grad():
        torch.manual_seed(1)
        a = gen(x, torch.tensor([0.3, 0.3]))
        torch.manual_seed(1)
        b = gen(x, torch.tensor([0.9, 0.9]))
        c = gen(x, torch.tensor([0.3, 0.3]))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    # The rotation ablation keeps its t channel.
    assert build_generator({**BASIS, "generator": {**BASIS["generator"], "condition": "channel"}}).stem[1].in_channels == 4


def test_plain_pix2pix_image_is_deterministic_and_takes_no_t(data):
    gen = build_generator(PLAIN).eval()
    assert gen.stem[1].in_channels == 3
    x = open_dataset(data, split="test").preview_sources(2)
    with torch.no_grad():
        assert torch.equal(gen(x, torch.tensor([0.2, 0.2])), gen(x, torch.tensor([1.0, 0.5])))
    # Without `condition`, an atom-less generator still takes t as a channel (Table 2's baseline).
    legacy = {**PLAIN, "generator": {k: v for k, v in PLAIN["generator"].items() if k != "condition"}}
    assert build_generator(legacy).stem[1].in_channels == 4


@pytest.mark.parametrize("bad", [[0.0, 1.0], [0.8, 0.5], [0.2], "wide"])
def test_a_bad_t_range_names_the_key(data, bad):
    obj, _ = _objective(data, model={**TINY, "t_range": bad})
    with pytest.raises(UserError, match="t_range"):
        obj.random_t(3)


def _lpips(data, model):
    # Weights at a scale where the untrained output visibly depends on t (at pix2pix's 0.02 it
    # moves by 1e-5 grey levels, below what uint8 outputs can show).
    obj, _ = _objective(data, model=model, init_gain=0.1)
    obj.eval()
    record, _ = evaluate(obj.generate, data, ["lpips_diversity"], settings=EVAL, pretrained=False, seed=0,
                         device="cpu", progress=False, model=obj)
    return record


def test_the_lpips_protocol_scores_a_deterministic_model_exactly_zero_and_ours_above(data):
    plain = _lpips(data, PLAIN)
    ours = _lpips(data, TINY)
    assert plain["values"]["lpips_diversity"] == 0.0
    assert ours["values"]["lpips_diversity"] > 0.0
    detail = ours["lpips_diversity"]
    # BicycleGAN's protocol, recorded: v0.0 heads, consecutive pairs of pairs+1 samples per input.
    assert detail["lpips_version"] == "0.0" and detail["samples_per_input"] == 4
    assert detail["inputs"] == 2 and detail["pairs"] == 2 * 3 and detail["split"] == "test"
    assert "v0.0" in ours["backbones"]["note"]
    protocol = ours["data"]["protocol"]
    assert protocol["conditions"]["t_range"] == [0.2, 1.0] and protocol["lpips_version"] == "0.0"
    # The set has 2 test inputs, not the protocol's 100: it uses both and says so.
    assert "2 test inputs, fewer than the 100" in protocol["note"] and detail["note"] == protocol["note"]
    assert ours["counts"]["lpips_inputs"] == 2
    assert _lpips(data, TINY)["values"] == ours["values"]  # seeded: the same number again


def test_the_protocol_needs_the_model_for_its_conditions(data):
    obj, _ = _objective(data)
    with pytest.raises(UserError, match="random conditions"):
        evaluate(obj.generate, data, ["lpips_diversity"], settings=EVAL, pretrained=False, seed=0,
                 device="cpu", progress=False)


def test_figure_and_fid_outputs(data, tmp_path):
    from cfa.metrics.testsets import open_testset

    obj, _ = _objective(data)
    obj.eval()
    ts = open_testset(data, EVAL, seed=0, progress=False, model=obj)
    real, key = ts.fid_reference()
    fakes = ts.fid_fakes(obj.generate)
    assert real.shape == fakes.shape == (2, 3, 32, 32) and key is None and fakes.dtype == np.uint8
    ts.write_figure(obj.generate, tmp_path / "fig.png", "squares")
    assert (tmp_path / "fig.png").stat().st_size > 0


def test_resume_with_crops_flips_and_random_t_is_bit_exact(data, tmp_path, monkeypatch):
    from cfa.training.loop import train

    params = tiny_params("image_only", "train.load_size=36", "train.crop_size=32", "train.flip=true")
    model = "contract-image_only"
    whole = train(model, params, data, tmp_path / "whole", progress=False)
    assert whole["train"]["flip"] is True
    cls, calls, original = objective_class("image_only"), {"n": 0}, ImageOnlyObjective.step

    def crash(self, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(cls, "step", crash)
    with pytest.raises(KeyboardInterrupt):
        train(model, params, data, tmp_path / "broken", progress=False)
    monkeypatch.setattr(cls, "step", original)
    train(model, params, data, tmp_path / "broken", progress=False)
    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)["state"]["networks"]
    b = torch.load(tmp_path / "broken" / "checkpoint.pt", weights_only=True)["state"]["networks"]
    for net in a:
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), (net, k)


def test_a_dataset_carries_its_training_settings(tmp_path):
    from cfa.datasets.catalog import train_params

    params = tiny_params("image_only")
    data = tmp_path / "facades.h5"
    params["datasets"]["facades"]["train"] = {"load_size": 286, "crop_size": 256, "flip": True, "batch_size": 2}
    merged = train_params(params, data)
    assert merged["load_size"] == 286 and merged["flip"] is True and merged["batch_size"] == 2
    assert merged["steps"] == params["train"]["steps"]
    assert train_params(params, tmp_path / "other.h5") == params["train"]


def _facades_raw(root, splits=(("train", 3), ("val", 2), ("test", 2)), size=16):
    from PIL import Image

    for split, n in splits:
        (root / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            im = Image.new("RGB", (2 * size, size), (200, 30 * i, 0))
            im.paste(Image.new("RGB", (size, size), (0, 0, 40 * i)), (size, 0))
            im.save(root / split / f"{i + 1}.jpg")
    return root


def test_pix2pix_maker_and_raw_check(tmp_path):
    import h5py

    from cfa.datasets.catalog import raw_inputs_missing
    from cfa.datasets.makers import make_dataset

    params = tiny_params("image_only", f"paths.raw={tmp_path / 'raw'}", "datasets.facades.size=16")
    lines = raw_inputs_missing(params, "facades")
    assert any(str(tmp_path / "raw" / "pix2pix" / "facades") in line for line in lines)
    assert any("download_pix2pix_dataset.sh facades" in line for line in lines)
    _facades_raw(tmp_path / "raw" / "pix2pix" / "facades", splits=(("train", 2), ("val", 1)))
    assert any("test/" in line and "missing split folder" in line for line in raw_inputs_missing(params, "facades"))
    _facades_raw(tmp_path / "raw" / "pix2pix" / "facades")
    assert raw_inputs_missing(params, "facades") == []
    manifest = make_dataset(params, "facades", tmp_path / "facades.h5")
    assert manifest["dataset"] == "facades" and manifest["counts"]["splits"] == {"train": 3, "val": 2, "test": 2}
    with h5py.File(tmp_path / "facades.h5") as f:
        assert f.attrs["kind"] == "paired-images" and f.attrs["source"] == "pix2pix"
        assert f.attrs["direction"] == "BtoA" and f["images_A"].shape == (7, 3, 16, 16)


def test_edges2objects_maker_names_the_file_after_the_params_key(tmp_path):
    import h5py

    from cfa.datasets.makers import make_dataset

    params = tiny_params("image_only")
    params["datasets"]["edges2objects"].update(objects=3, views=1, size=16, categories=["chair"])
    manifest = make_dataset(params, "edges2objects", tmp_path / "e.h5", progress=False)
    assert manifest["dataset"] == "edges2objects" and manifest["counts"]["images"] == 3
    with h5py.File(tmp_path / "e.h5") as f:
        assert f.attrs["kind"] == "paired-images" and f.attrs["source"] == "procedural"


def test_generate_runs_stored_images_at_the_test_size_and_previews_at_the_training_view(data):
    obj, reader = _objective(data, load_size=40, crop_size=32, test_size=48)
    obj.eval()
    seen = []
    net = obj.networks["generator"]
    net.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[-1]))
    x = reader.preview_sources(2)                       # stored images, 32 px
    assert obj.generate(x, obj.random_t(2)).shape[-1] == 32 and seen == [48]
    seen.clear()
    from cfa.images import training_view
    _, outputs = obj.preview(training_view(x, 40, 32), [0.2, 1.0])   # what `cfa sample` feeds
    assert outputs.shape[:2] == (2, 2) and set(seen) == {32}
