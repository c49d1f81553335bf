"""Table 1 on real data at small scale: a tiny set in the real facades layout (A|B JPEGs in
train/val/test), `cfa prepare pix2pix` on it, then `snakemake table1` end to end with a config that
names only that set."""

from __future__ import annotations

import json

import h5py
from PIL import Image

from test_workflow import make_copy, run

SIZE = 32  # LPIPS's AlexNet needs at least 31 pixels


def facades_layout(root, splits=(("train", 4), ("val", 2), ("test", 3))):
    """What `download_pix2pix_dataset.sh facades` unpacks: <split>/<n>.jpg, photo (A) | labels (B)."""
    for split, n in splits:
        (root / split).mkdir(parents=True)
        for i in range(n):
            pair = Image.new("RGB", (2 * SIZE, SIZE), (180, 150 - 20 * i, 120))       # A: the photo
            pair.paste(Image.new("RGB", (SIZE // 2, SIZE), (0, 0, 200)), (SIZE, 0))  # B: label map
            pair.paste(Image.new("RGB", (SIZE // 2, SIZE), (200, 0, 30 * i)), (SIZE + SIZE // 2, 0))
            pair.save(root / split / f"{i + 1}.jpg", quality=95)
    return root


def facades_only(params):
    """Table 1 over the facades set only, two models, tiny networks, two steps, offline backbones."""
    params["profile"] = "demo"
    lists = {"datasets": ["facades"], "models": ["pix2pix-cfa-image", "pix2pix-image"]}
    params["tables"]["table1"].update(lists)
    params["profiles"]["demo"]["tables"]["table1"] = dict(lists)
    params["metrics"]["pretrained_backbones"] = False
    params["datasets"]["facades"].update(size=SIZE)
    params["datasets"]["facades"]["train"].update(load_size=SIZE + 4, crop_size=SIZE, test_size=None, batch_size=2)
    demo = params["profiles"]["demo"]
    for model in lists["models"]:
        demo["models"][model]["generator"].update(ngf=4, n_blocks=1)
        demo["models"][model]["discriminator"].update(ndf=4, n_layers=1)
    # init_gain 0.1: at pix2pix's 0.02 an untrained tiny generator's output moves with t by far
    # less than one grey level, and the LPIPS of uint8 outputs would be 0 for ours too.
    demo["train"].update(steps=2, checkpoint_every=2, log_every=1, sample_every=2, init_gain=0.1)
    demo["evaluate"].update(batch_size=8, fid_max_images=16, lpips_inputs=2, lpips_pairs=2)


def test_prepare_pix2pix_then_snakemake_table1_on_a_tiny_facades_set(tmp_path):
    repo = make_copy(tmp_path, facades_only)
    raw = repo / "data" / "raw" / "pix2pix" / "facades"

    # Without the download: nothing runs, and the message names the folder and the script.
    dry = run(["snakemake", "-n", "table1"], repo, check=False)
    assert dry.returncode != 0 and "download_pix2pix_dataset.sh facades" in dry.stdout + dry.stderr
    assert "data/raw/pix2pix/facades" in dry.stdout + dry.stderr and "Traceback" not in dry.stdout + dry.stderr

    facades_layout(raw)
    run(["cfa", "prepare", "pix2pix", "--name", "facades", "--root", str(raw), "--size", str(SIZE),
         "--out", str(tmp_path / "facades.h5"), "--no-progress"], repo)
    with h5py.File(tmp_path / "facades.h5") as f:
        assert f.attrs["direction"] == "BtoA" and f["split"][:].tolist() == [0] * 4 + [1] * 2 + [2] * 3
        # B->A: the input (images_A) is the label map, the right half (blue on its left side).
        assert f["images_A"][0, 2, SIZE // 2, 2] > 150 and f["images_B"][0, 0, SIZE // 2, 2] > 150

    run(["snakemake", "table1", "--cores", "2"], repo)
    results = repo / "results" / "demo"
    table = json.loads((results / "table1.json").read_text())["table1"]
    details = json.loads((results / "table1.details.json").read_text())
    assert table["facades"]["pix2pix-image"]["lpips"] == 0.0
    assert table["facades"]["pix2pix-cfa-image"]["lpips"] > 0.0
    assert all(table["facades"][m]["fid"] > 0 for m in ("pix2pix-image", "pix2pix-cfa-image"))
    assert details["paper"]["facades"]["bicyclegan"]["lpips"] == 0.1413 and details["missing"] == []
    md = (results / "table1.md").read_text()
    assert "labels→facades" in md and "BicycleGAN (paper)" in md and "OFFLINE" in md
    assert "fewer than the 2" not in md and "LPIPS v0.0" in md
    metrics = json.loads((results / "metrics" / "table1" / "pix2pix-cfa-image" / "facades.json").read_text())
    assert metrics["data"]["split"] == "test" and metrics["counts"]["fid_fake"] == 3
    assert metrics["data"]["protocol"]["samples_per_input"] == 3
    run_info = json.loads((repo / "runs" / "demo" / "pix2pix-cfa-image" / "facades" / "run.json").read_text())
    assert run_info["train"]["flip"] is True and run_info["train"]["crop_size"] == SIZE  # the set's own settings
    samples = results / "figures" / "table1" / "samples" / "pix2pix-cfa-image" / "facades"
    assert (samples / "sweep.gif").stat().st_size > 0 and len(json.loads((samples / "samples.json").read_text())["t"]) == 9
    assert (results / "figures" / "table1" / "evaluation" / "pix2pix-image" / "facades.png").stat().st_size > 0
    again = run(["snakemake", "table1", "--cores", "2", "-n"], repo)
    assert "Nothing to be done" in again.stdout + again.stderr
