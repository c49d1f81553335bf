"""Every `cfa` subcommand, given the bad inputs that apply to it, exits 2 with a message naming the
problem and no traceback (issue 17).

One table of cases (subcommand, arguments, what the message must name) over tiny real files of
every kind: missing, truncated and garbage HDF5 files, datasets of the wrong kind, empty splits,
NaN labels, run directories whose checkpoint or run.json belongs to another model, a run directory
in use, unknown table/model/dataset names and bad `--set`s. A subcommand added to `pipeline/commands/`
without cases here fails `test_every_subcommand_has_bad_input_cases`.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from cfa.config import deep_merge, read_yaml
from factories import DATASETS, REPO, TINY_MODELS
from pipeline.cli import _command_modules, build_parser, main

# Tiny models of each objective (params.yaml model names allow no underscore).
NAMES = {"paired": "tiny-paired", "image_only": "tiny-image-only", "label_only": "tiny-label-only",
         "unpaired": "tiny-unpaired"}
PAIRED, IMAGE, LABEL = NAMES["paired"], NAMES["image_only"], NAMES["label_only"]

# Over the demo profile: tiny steps and evaluation sizes, so that a case that wrongly gets past its
# check costs seconds, not minutes.
TINY_PROFILE = {
    "train": {"batch_size": 4, "steps": 2, "checkpoint_every": 2, "log_every": 1, "sample_every": 2,
              "device": "cpu", "num_workers": 0, "load_size": None, "crop_size": None},
    "evaluate": {"batch_size": 8, "fid_max_images": 8, "lpips_inputs": 2, "lpips_pairs": 2,
                 "fakes_per_label": 2},
    "metrics": {"pretrained_backbones": False},
    "evalnets": {"batch_size": 8, "device": "cpu", "autoencoder": {"epochs": 1, "ch": 4, "dim_bottleneck": 8},
                 "regressor": {"epochs": 1, "depth": 18, "width": 4},
                 "classifier": {"epochs": 1, "depth": 18, "width": 4}},
}


def _write_params(path: Path) -> Path:
    raw = read_yaml(REPO / "params.yaml")
    raw["profile"] = "demo"
    raw["profiles"]["demo"] = deep_merge(raw["profiles"]["demo"], TINY_PROFILE)
    for objective, model in TINY_MODELS.items():
        raw["models"][NAMES[objective]] = copy.deepcopy(model)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _copy_h5(src: Path, dst: Path, edit) -> Path:
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        edit(f)
    return dst


def _set_split(f: h5py.File, code: int) -> None:
    f["split"][...] = np.full(f["split"].shape, code, f["split"].dtype)


def _all_unused(f: h5py.File) -> None:
    """A labelled set (whose protocol compares with every image, whatever its split) with no row."""
    f["split"] = np.full(len(f[f.attrs.get("label_key", "labels")]), 2, np.uint8)
    f.attrs["split_codes"] = json.dumps({"train": 0, "test": 1, "unused": 2})


def _alternate_split(f: h5py.File) -> None:
    f["split"] = np.where(np.arange(len(f["domain"])) % 2, 2, 0).astype(np.uint8)


def _nan_first_label(f: h5py.File) -> None:
    key = f.attrs.get("label_key", "labels")
    labels = f[key][:].astype(np.float64)
    labels[len(labels) // 2] = np.nan
    del f[key]
    f[key] = labels


def _ccgan_layout(f: h5py.File) -> None:
    """CcGAN's RC-49 layout (images, labels, types, indx_train), as `prepare --dataset RC-49` reads it."""
    if "indx_train" not in f:
        f["indx_train"] = np.flatnonzero(f["split"][:] == 0).astype(np.int64)
    for key in ("split", "object_ids"):
        if key in f:
            del f[key]
    for key in list(f.attrs):
        del f.attrs[key]


def _edit_json(path: Path, **changes) -> None:
    info = json.loads(path.read_text())
    info.update(changes)
    path.write_text(json.dumps(info))


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    """Paths the cases refer to as {name}: datasets good and bad, tiny trained runs good and bad."""
    root = tmp_path_factory.mktemp("bad-inputs")
    w: dict = {"tmp": root, "params": _write_params(root / "params.yaml")}
    for kind, make in DATASETS.items():
        w[kind] = make(root / f"{kind}.h5")
    w["missing"] = root / "missing.h5"
    data = w["rotation"].read_bytes()
    (root / "truncated.h5").write_bytes(data[: len(data) // 2])
    w["truncated"] = root / "truncated.h5"
    (root / "garbage.h5").write_bytes(np.random.default_rng(0).bytes(4096))
    w["garbage"] = root / "garbage.h5"
    # Empty splits (rotation split codes: 0 train, 1 test, 2 unused; pix2pix sets: 0 train, 1 val, 2 test).
    w["rot-notest"] = _copy_h5(w["rotation"], root / "rot-notest.h5", lambda f: _set_split(f, 0))
    w["rot-notrain"] = _copy_h5(w["rotation"], root / "rot-notrain.h5", lambda f: _set_split(f, 1))
    w["pairs-notrain"] = _copy_h5(w["paired-images"], root / "pairs-notrain.h5", lambda f: _set_split(f, 2))
    w["pairs-notest"] = _copy_h5(w["paired-images"], root / "pairs-notest.h5", lambda f: _set_split(f, 0))
    w["lab-empty"] = _copy_h5(w["labelled"], root / "lab-empty.h5", _all_unused)
    # An unpaired set with its seeded test split (what `cfa prepare --dataset` makes): every other row to test.
    w["unpaired-split"] = _copy_h5(w["unpaired-with-label"], root / "unpaired-split.h5", _alternate_split)
    # NaN labels: a rotation set's angles, a labelled set's labels.
    w["rot-nan"] = _copy_h5(w["rotation"], root / "rot-nan.h5", _nan_first_label)
    w["ccgan-nan"] = _copy_h5(w["rot-nan"], root / "ccgan-nan.h5", _ccgan_layout)
    w["lab-nan"] = _copy_h5(w["labelled"], root / "lab-nan.h5", _nan_first_label)

    # Two tiny complete runs, then run directories that do not fit together.
    for name, model, data in (("run-rot", PAIRED, w["rotation"]), ("run-lab", LABEL, w["labelled"])):
        assert main(["train", "--model", model, "--data", str(data), "--out", str(root / name), "--no-progress",
                     "--params", str(w["params"])]) == 0
        w[name] = root / name
    # run.json says another model than the checkpoint holds.
    w["run-json-other"] = Path(shutil.copytree(w["run-rot"], root / "run-json-other"))
    lab_info = json.loads((w["run-lab"] / "run.json").read_text())
    _edit_json(w["run-json-other"] / "run.json", model=LABEL, objective="label_only",
               model_params=lab_info["model_params"])
    # A run directory holding another model's checkpoint.
    w["run-ckpt-other"] = Path(shutil.copytree(w["run-lab"], root / "run-ckpt-other"))
    shutil.copy(w["run-rot"] / "checkpoint.pt", w["run-ckpt-other"] / "checkpoint.pt")
    # run.json says the same model with another config (a copied-in checkpoint of an older config).
    w["run-json-config"] = Path(shutil.copytree(w["run-rot"], root / "run-json-config"))
    rot_info = json.loads((w["run-rot"] / "run.json").read_text())
    rot_info["model_params"]["generator"]["ngf"] = 8
    _edit_json(w["run-json-config"] / "run.json", model_params=rot_info["model_params"])
    # A truncated checkpoint; a run that has not reached its first checkpoint; a truncated resume point.
    w["run-ckpt-cut"] = Path(shutil.copytree(w["run-rot"], root / "run-ckpt-cut"))
    ckpt = (w["run-rot"] / "checkpoint.pt").read_bytes()
    (w["run-ckpt-cut"] / "checkpoint.pt").write_bytes(ckpt[: len(ckpt) // 2])
    w["run-no-ckpt"] = Path(shutil.copytree(w["run-rot"], root / "run-no-ckpt"))
    (w["run-no-ckpt"] / "checkpoint.pt").unlink()
    (root / "run-resume-cut" / "resume").mkdir(parents=True)
    (root / "run-resume-cut" / "resume" / "checkpoint.pt").write_bytes(ckpt[: len(ckpt) // 2])
    w["run-resume-cut"] = root / "run-resume-cut"
    # A run to resume with another model (its copy, so that a wrong resume cannot spoil run-lab).
    w["run-resume"] = Path(shutil.copytree(w["run-lab"], root / "run-resume"))

    (root / "garbage.json").write_text("{not json")
    w["garbage-json"] = root / "garbage.json"
    (root / "not-metrics.json").write_text(json.dumps({"hello": 1}))
    w["not-metrics"] = root / "not-metrics.json"
    (root / "garbage.npz").write_bytes(b"PK\x03\x04 not a zip")
    w["garbage-npz"] = root / "garbage.npz"
    (root / "bad.yaml").write_text("a: [1, 2\n")
    w["bad-yaml"] = root / "bad.yaml"
    (root / "empty-dir").mkdir()
    w["empty-dir"] = root / "empty-dir"
    return w


# --- the cases ---------------------------------------------------------------------------------
# (id = "<subcommand>-<what is wrong>", argv with {name} placeholders for the world's paths,
# substrings the message on stderr must contain). P: the tiny params file; OUT: a fresh output path.
P = "--params {params}"
OUT = "{tmp}/out/{case}"

# Bad params: every command with --set/--params (all but `sample`, which reads its run's own config).
BAD_SETS = [
    ("set-unknown-key", "--set train.no_such_key=1", ["train.no_such_key", "unknown key", "--set train.no_such_key=1"]),
    ("set-bad-type", "--set train.batch_size=many", ["train.batch_size", "'many'", "--set train.batch_size=many"]),
    ("set-malformed", "--set train.batch_size", ["key=value", "train.batch_size"]),
    ("set-unknown-section", "--set nosection.x=1", ["nosection"]),
    ("set-unknown-profile", "--set profile=nope", ["unknown profile 'nope'", "--set profile=nope"]),
    ("params-missing", "--params {tmp}/no-params.yaml", ["no-params.yaml"]),
    ("params-not-yaml", "--params {bad-yaml}", ["bad.yaml", "YAML"]),
]

# A valid invocation of each command that reads params, for the bad params to spoil.
VALID = {
    "evalnet": "evalnet --data {rotation} --out " + OUT + " --nets autoencoder --device cpu --no-progress",
    "evaluate": "evaluate --run {run-rot} --out " + OUT + ".json --metrics lpips_diversity --device cpu --no-progress",
    "index": "index --out " + OUT + ".md",
    "params": "params",
    "prepare": "prepare --dataset RA-20 --out " + OUT + ".h5",
    "render": "render --dataset RA-20 --out " + OUT + ".h5 --no-progress",
    "stats": "stats --data {rotation} --out " + OUT + ".npz --device cpu --no-progress",
    "table": "table 2 --metrics-dir {empty-dir} --out " + OUT,
    "train": f"train --model {PAIRED} --data {{rotation}} --out " + OUT + " --no-progress",
}

CASES = [
    # -- train --------------------------------------------------------------------------------
    ("train-missing-data", f"train --model {PAIRED} --data {{missing}} --out {OUT} {P}", ["missing.h5"]),
    ("train-truncated-h5", f"train --model {PAIRED} --data {{truncated}} --out {OUT} {P}", ["truncated.h5"]),
    ("train-garbage-h5", f"train --model {PAIRED} --data {{garbage}} --out {OUT} {P}", ["garbage.h5"]),
    ("train-labelled-to-paired", f"train --model {PAIRED} --data {{labelled}} --out {OUT} {P}",
     ["labelled.h5", "'labelled'", PAIRED]),
    ("train-rotation-to-label-only", f"train --model {LABEL} --data {{rotation}} --out {OUT} {P}",
     ["rotation.h5", "'rotation'", LABEL]),
    ("train-rotation-to-image-only", f"train --model {IMAGE} --data {{rotation}} --out {OUT} {P}",
     ["rotation.h5", "'rotation'", IMAGE]),
    ("train-cells-to-paired", f"train --model {PAIRED} --data {{unpaired-with-label}} --out {OUT} {P}",
     ["unpaired-with-label.h5", "'unpaired-with-label'", PAIRED]),
    ("train-empty-train-split-rotation", f"train --model {PAIRED} --data {{rot-notrain}} --out {OUT} {P}",
     ["rot-notrain.h5", "train"]),
    ("train-empty-train-split-pairs", f"train --model {IMAGE} --data {{pairs-notrain}} --out {OUT} {P}",
     ["pairs-notrain.h5", "'train'"]),
    ("train-empty-train-split-labelled", f"train --model {LABEL} --data {{lab-empty}} --out {OUT} {P}",
     ["lab-empty.h5", "'train'"]),
    ("train-nan-angles", f"train --model {PAIRED} --data {{rot-nan}} --out {OUT} {P}", ["rot-nan.h5", "NaN"]),
    ("train-nan-labels", f"train --model {LABEL} --data {{lab-nan}} --out {OUT} {P}", ["lab-nan.h5", "NaN"]),
    ("train-resume-another-model", f"train --model {PAIRED} --data {{rotation}} --out {{run-resume}} {P}",
     ["run-resume", f"model: checkpoint '{LABEL}', now '{PAIRED}'"]),
    ("train-truncated-resume-checkpoint", f"train --model {PAIRED} --data {{rotation}} --out {{run-resume-cut}} {P}",
     ["run-resume-cut/resume/checkpoint.pt", "not a readable cfa checkpoint"]),
    ("train-unknown-model", f"train --model no-such-model --data {{rotation}} --out {OUT} {P}",
     ["no-such-model", PAIRED]),
    ("train-zero-steps", f"train --model {PAIRED} --data {{rotation}} --out {OUT} --steps 0 {P}",
     ["train.steps", "found 0"]),
    ("train-zero-processes", f"train --model {PAIRED} --data {{rotation}} --out {OUT} --nproc-per-node 0 {P}",
     ["--nproc-per-node"]),
    # -- evaluate -----------------------------------------------------------------------------
    ("evaluate-missing-run", f"evaluate --run {{tmp}}/no-run --out {OUT}.json {P}", ["no-run"]),
    ("evaluate-run-json-of-another-model", f"evaluate --run {{run-json-other}} --out {OUT}.json {P}",
     ["run-json-other", PAIRED, LABEL]),
    ("evaluate-checkpoint-of-another-model", f"evaluate --run {{run-ckpt-other}} --out {OUT}.json {P}",
     ["run-ckpt-other", PAIRED, LABEL]),
    ("evaluate-run-json-of-another-config", f"evaluate --run {{run-json-config}} --out {OUT}.json {P}",
     ["run-json-config", "generator.ngf"]),
    ("evaluate-run-without-checkpoint", f"evaluate --run {{run-no-ckpt}} --out {OUT}.json {P}",
     ["run-no-ckpt", "checkpoint.pt"]),
    ("evaluate-truncated-checkpoint", f"evaluate --run {{run-ckpt-cut}} --out {OUT}.json {P}",
     ["run-ckpt-cut/checkpoint.pt"]),
    ("evaluate-missing-data", f"evaluate --run {{run-rot}} --data {{missing}} --out {OUT}.json {P}",
     ["missing.h5"]),
    ("evaluate-truncated-h5", f"evaluate --run {{run-rot}} --data {{truncated}} --out {OUT}.json {P}",
     ["truncated.h5"]),
    ("evaluate-garbage-h5", f"evaluate --run {{run-rot}} --data {{garbage}} --out {OUT}.json {P}",
     ["garbage.h5"]),
    ("evaluate-labelled-on-paired-run", f"evaluate --run {{run-rot}} --data {{labelled}} --metrics lpips_diversity "
     f"--out {OUT}.json {P}", ["labelled.h5", "'labelled'", PAIRED]),
    ("evaluate-rotation-on-label-only-run", f"evaluate --run {{run-lab}} --data {{rotation}} --metrics "
     f"lpips_diversity --out {OUT}.json {P}", ["rotation.h5", "'rotation'", LABEL]),
    ("evaluate-empty-test-split", f"evaluate --run {{run-rot}} --data {{rot-notest}} --metrics lpips_diversity "
     f"--out {OUT}.json {P}", ["rot-notest.h5", "test"]),
    ("evaluate-empty-labelled-set", f"evaluate --run {{run-lab}} --data {{lab-empty}} --metrics lpips_diversity "
     f"--out {OUT}.json {P}", ["lab-empty.h5"]),
    ("evaluate-nan-angles", f"evaluate --run {{run-rot}} --data {{rot-nan}} --metrics lpips_diversity "
     f"--out {OUT}.json {P}", ["rot-nan.h5", "NaN"]),
    ("evaluate-nan-labels", f"evaluate --run {{run-lab}} --data {{lab-nan}} --metrics diversity "
     f"--evalnets {{empty-dir}} --out {OUT}.json {P}", ["lab-nan.h5", "NaN"]),
    ("evaluate-unknown-metric", f"evaluate --run {{run-rot}} --metrics no_such_metric --out {OUT}.json {P}",
     ["no_such_metric"]),
    ("evaluate-metric-of-another-kind", f"evaluate --run {{run-lab}} --metrics interpolation --out {OUT}.json {P}",
     ["interpolation", "'labelled'"]),
    ("evaluate-missing-fid-stats", f"evaluate --run {{run-rot}} --metrics fid --fid-stats {{tmp}}/no-stats.npz "
     f"--out {OUT}.json {P}", ["no-stats.npz"]),
    ("evaluate-garbage-fid-stats", f"evaluate --run {{run-rot}} --metrics fid --fid-stats {{garbage-npz}} "
     f"--out {OUT}.json {P}", ["garbage.npz"]),
    ("evaluate-missing-evalnets", f"evaluate --run {{run-rot}} --metrics label_score --evalnets {{tmp}}/no-nets "
     f"--out {OUT}.json {P}", ["no-nets", "cfa evalnet"]),
    ("evaluate-unknown-device", f"evaluate --run {{run-rot}} --device tpu --out {OUT}.json {P}", ["tpu"]),
    # -- sample -------------------------------------------------------------------------------
    ("sample-missing-run", f"sample --checkpoint {{tmp}}/no-run --t 0,10 --out {OUT}", ["no-run"]),
    ("sample-run-json-of-another-model", f"sample --checkpoint {{run-json-other}} --t 0,10 --out {OUT}",
     ["run-json-other", PAIRED, LABEL]),
    ("sample-checkpoint-of-another-model", f"sample --checkpoint {{run-ckpt-other}} --t 0,10 --out {OUT}",
     ["run-ckpt-other", PAIRED, LABEL]),
    ("sample-run-json-of-another-config", f"sample --checkpoint {{run-json-config}} --t 0,10 --out {OUT}",
     ["run-json-config", "generator.ngf"]),
    ("sample-truncated-checkpoint", f"sample --checkpoint {{run-ckpt-cut}} --t 0,10 --out {OUT}",
     ["run-ckpt-cut/checkpoint.pt"]),
    ("sample-missing-data", f"sample --checkpoint {{run-rot}} --data {{missing}} --t 0,10 --out {OUT}",
     ["missing.h5"]),
    ("sample-truncated-h5", f"sample --checkpoint {{run-rot}} --data {{truncated}} --t 0,10 --out {OUT}",
     ["truncated.h5"]),
    ("sample-garbage-h5", f"sample --checkpoint {{run-rot}} --data {{garbage}} --t 0,10 --out {OUT}",
     ["garbage.h5"]),
    ("sample-labelled-on-paired-run", f"sample --checkpoint {{run-rot}} --data {{labelled}} --t 0,10 --out {OUT}",
     ["labelled.h5", "'labelled'", PAIRED]),
    ("sample-rotation-on-label-only-run", f"sample --checkpoint {{run-lab}} --data {{rotation}} --t 1,2 --out {OUT}",
     ["rotation.h5", "'rotation'", LABEL]),
    # An empty test split is no error for sample: it takes its inputs from the train split (documented).
    ("sample-nan-angles", f"sample --checkpoint {{run-rot}} --data {{rot-nan}} --t 0,10 --out {OUT}",
     ["rot-nan.h5", "NaN"]),
    ("sample-bad-t", f"sample --checkpoint {{run-rot}} --t zero,ten --out {OUT}", ["--t", "zero"]),
    ("sample-zero-inputs", f"sample --checkpoint {{run-rot}} --t 0,10 --inputs 0 --out {OUT}", ["--inputs"]),
    # -- stats --------------------------------------------------------------------------------
    ("stats-missing-data", f"stats --data {{missing}} --out {OUT}.npz {P}", ["missing.h5"]),
    ("stats-truncated-h5", f"stats --data {{truncated}} --out {OUT}.npz {P}", ["truncated.h5"]),
    ("stats-garbage-h5", f"stats --data {{garbage}} --out {OUT}.npz {P}", ["garbage.h5"]),
    ("stats-unpaired-without-test-split", f"stats --data {{unpaired-with-label}} --out {OUT}.npz {P}",
     ["unpaired-with-label.h5", "no ['split'] array"]),
    ("stats-empty-test-split-rotation", f"stats --data {{rot-notest}} --out {OUT}.npz {P}", ["rot-notest.h5", "test"]),
    ("stats-empty-test-split-pairs", f"stats --data {{pairs-notest}} --out {OUT}.npz {P}", ["pairs-notest.h5", "test"]),
    ("stats-empty-labelled-set", f"stats --data {{lab-empty}} --out {OUT}.npz {P}", ["lab-empty.h5"]),
    ("stats-nan-angles", f"stats --data {{rot-nan}} --out {OUT}.npz {P}", ["rot-nan.h5", "NaN"]),
    ("stats-nan-labels", f"stats --data {{lab-nan}} --out {OUT}.npz {P}", ["lab-nan.h5", "NaN"]),
    # -- evalnet ------------------------------------------------------------------------------
    ("evalnet-missing-data", f"evalnet --data {{missing}} --out {OUT} --nets autoencoder {P}", ["missing.h5"]),
    ("evalnet-truncated-h5", f"evalnet --data {{truncated}} --out {OUT} --nets autoencoder {P}", ["truncated.h5"]),
    ("evalnet-garbage-h5", f"evalnet --data {{garbage}} --out {OUT} --nets autoencoder {P}", ["garbage.h5"]),
    ("evalnet-unpaired-without-test-split",
     f"evalnet --data {{unpaired-with-label}} --out {OUT} --nets autoencoder {P}",
     ["unpaired-with-label.h5", "no ['split'] array"]),
    ("evalnet-kind-without-real-images", f"evalnet --data {{unpaired-split}} --out {OUT} --nets autoencoder {P}",
     ["unpaired-split.h5", "'unpaired-with-label'", "ae_fid"]),
    ("evalnet-regressor-on-unlabelled-pairs", f"evalnet --data {{paired-images}} --out {OUT} --nets regressor {P}",
     ["paired-images.h5", "regressor"]),
    ("evalnet-empty-train-split", f"evalnet --data {{rot-notrain}} --out {OUT} --nets autoencoder {P}",
     ["rot-notrain.h5", "train"]),
    ("evalnet-empty-test-split", f"evalnet --data {{rot-notest}} --out {OUT} --nets autoencoder {P}",
     ["rot-notest.h5", "test"]),
    ("evalnet-nan-angles", f"evalnet --data {{rot-nan}} --out {OUT} --nets regressor {P}", ["rot-nan.h5", "NaN"]),
    ("evalnet-nan-labels", f"evalnet --data {{lab-nan}} --out {OUT} --nets regressor {P}", ["lab-nan.h5", "NaN"]),
    ("evalnet-unknown-net", f"evalnet --data {{rotation}} --out {OUT} --nets autoencoder,no_such_net {P}",
     ["no_such_net"]),
    # -- prepare ------------------------------------------------------------------------------
    ("prepare-unknown-dataset", f"prepare --dataset no-such-set --out {OUT}.h5 {P}", ["no-such-set"]),
    ("prepare-named-without-out", f"prepare --dataset RA-20 {P}", ["--out"]),
    ("prepare-raw-data-missing", f"prepare --dataset UTKFace-ages --out {OUT}.h5 --set paths.raw={{tmp}}/no-raw {P}",
     ["no-raw/UTKFace"]),
    # RC-49 as the paper used it: CcGAN's own HDF5 file (the demo profile renders it instead).
    *[(f"prepare-source-h5-{bad}", f"prepare --dataset RC-49 --out {OUT}.h5 --set profile=paper "
       f"--set datasets.RC-49.path={{{file}}} {P}", [f"{file}.h5", *more])
      for bad, file, more in (("missing", "missing", []), ("truncated", "truncated", []),
                              ("garbage", "garbage", []), ("nan-angles", "ccgan-nan", ["NaN"]))],
    ("prepare-utkface-root-missing", f"prepare utkface --root {{tmp}}/no-faces --out {OUT}.h5", ["no-faces"]),
    ("prepare-cacd-root-missing", f"prepare cacd --root {{tmp}}/no-cacd --out {OUT}.h5", ["no-cacd"]),
    ("prepare-steering-root-missing", f"prepare steering --root {{tmp}}/no-driving --out {OUT}.h5", ["no-driving"]),
    ("prepare-waymo-root-missing", f"prepare waymo --root {{tmp}}/no-waymo --out {OUT}.h5", ["no-waymo"]),
    ("prepare-pix2pix-root-missing", f"prepare pix2pix --name facades --root {{tmp}}/no-facades --out {OUT}.h5",
     ["no-facades"]),
    ("prepare-cells-empty-counts", f"prepare cells --counts 5:1 --per-count 1 --out {OUT}.h5", ["5:1"]),
    ("prepare-out-is-a-directory", "prepare cells --counts 1:2 --per-count 1 --out {empty-dir}", ["empty-dir"]),
    # -- render -------------------------------------------------------------------------------
    ("render-unknown-dataset", f"render --dataset no-such-set --out {OUT}.h5 {P}", ["no-such-set"]),
    ("render-dataset-not-rendered", f"render --dataset facades --out {OUT}.h5 {P}", ["facades", "cfa prepare"]),
    ("render-shapenet-root-missing", f"render --dataset RA-20 --out {OUT}.h5 --set paths.shapenet={{tmp}}/no-shapenet "
     f"--set profile=paper {P}", ["no-shapenet"]),
    ("render-folder-root-missing", f"render --source folder --root {{tmp}}/no-meshes --models 1 --angles 0:90:45 "
     f"--size 16 --out {OUT}.h5 {P}", ["no-meshes"]),
    ("render-bad-angles", f"render --source procedural --category chair --models 1 --angles 0-90 --size 16 "
     f"--out {OUT}.h5 {P}", ["0-90"]),
    ("render-bad-split", f"render --source procedural --category chair --models 1 --angles 0:90:45 --size 16 "
     f"--split halves --out {OUT}.h5 {P}", ["halves"]),
    ("render-unknown-category", f"render --source procedural --category sofa --models 1 --angles 0:90:45 --size 16 "
     f"--out {OUT}.h5 {P}", ["sofa"]),
    ("render-missing-options", f"render --source procedural --out {OUT}.h5 {P}", ["--models", "--angles", "--size"]),
    # -- table --------------------------------------------------------------------------------
    ("table-unknown-table", f"table 9 --metrics-dir {{empty-dir}} --out {OUT} {P}", ["table9"]),
    ("table-missing-metrics-file", f"table 2 --metrics {{tmp}}/no-metrics.json --out {OUT} {P}", ["no-metrics.json"]),
    ("table-garbage-metrics-file", f"table 2 --metrics {{garbage-json}} --out {OUT} {P}", ["garbage.json"]),
    ("table-not-a-metrics-file", f"table 2 --metrics {{not-metrics}} --out {OUT} {P}", ["not-metrics.json"]),
    # A metrics file of another table's dataset/model is no error: `cfa table` warns that it ignored it.
    ("table-metrics-dir-empty", f"table 2 --metrics-dir {{empty-dir}} --out {OUT} {P}", ["empty-dir", "cfa evaluate"]),
    # -- index --------------------------------------------------------------------------------
    ("index-unknown-table", f"index --tables table9 --out {OUT}.md {P}", ["table9"]),
    # -- params -------------------------------------------------------------------------------
    ("params-unknown-key", f"params --key train.no_such_key {P}", ["train.no_such_key"]),
    *[(f"{cmd}-{name}", f"{VALID[cmd]} {P if 'params' not in name else ''} {extra}", expected)
      for cmd in VALID for name, extra, expected in BAD_SETS],
]


def _argv(template: str, world: dict, case: str) -> list[str]:
    names = {k: str(v) for k, v in world.items()} | {"case": case}
    return [part.format(**names) for part in template.split()]


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    """(exit code, stderr, stdout) of `cfa ARGV` in this process; an exception is a failure."""
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse
        rc = e.code
    except BaseException:
        out = capsys.readouterr()
        pytest.fail(f"cfa {' '.join(argv)} raised instead of exiting 2:\n{out.out}{out.err}{traceback.format_exc()}")
    out = capsys.readouterr()
    return rc, out.err, out.out


@pytest.mark.parametrize("case,template,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_naming_the_problem(world, case, template, expected, capsys):
    argv = _argv(template, world, case)
    rc, err, out = _run(argv, capsys)
    assert rc == 2, f"cfa {' '.join(argv)} -> exit {rc}\nstdout:\n{out}\nstderr:\n{err}"
    assert "Traceback" not in err + out
    for text in expected:
        assert text.format(**{k: str(v) for k, v in world.items()}) in err, (
            f"cfa {' '.join(argv)}: the message does not name {text!r}:\n{err}")


def test_a_run_directory_in_use_names_its_holder(world, capsys):
    """Another process holding RUN_DIR's lock (as a running `cfa train` does): refused, naming it."""
    from cfa.training.checkpoint import LOCK_FILE

    run = world["tmp"] / "run-in-use"
    run.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from cfa.locks import try_lock; "
                               "assert try_lock(sys.argv[1]) is not None; print('locked', flush=True); time.sleep(120)",
         str(run / LOCK_FILE)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        rc, err, out = _run(["train", "--model", PAIRED, "--data", str(world["rotation"]), "--out", str(run),
                             "--params", str(world["params"]), "--no-progress"], capsys)
    finally:
        holder.kill()
        holder.wait(timeout=60)
    assert rc == 2 and "Traceback" not in err + out
    assert f"{run} is in use" in err and f"pid {holder.pid}" in err


def test_every_subcommand_has_bad_input_cases():
    """A new subcommand needs its bad-input cases here (and its params cases, if it reads params)."""
    commands = {m.NAME for m in _command_modules()}
    covered = {case[0].split("-", 1)[0] for case in CASES}
    assert commands - covered == set(), "subcommands without bad-input cases"
    assert covered <= commands, "cases for subcommands that do not exist"
    choices = next(a for a in build_parser()._subparsers._group_actions).choices
    reads_params = {name for name, p in choices.items() if "--set" in p._option_string_actions}
    assert reads_params == set(VALID), "commands with --set need a VALID invocation for the bad-params cases"
    assert commands >= {"evalnet", "evaluate", "index", "params", "prepare", "render", "sample", "stats",
                        "table", "train"}


@pytest.mark.parametrize("argv,expected", [
    (["no-such-command"], "invalid choice: 'no-such-command'"),
    (["train", "--data", "x.h5", "--out", "run"], "the following arguments are required: --model"),
    (["sample", "--checkpoint", "run", "--t", "0", "--out", "o", "--inputs", "two"], "--inputs: invalid int value"),
])
def test_the_command_line_itself(argv, expected):
    """argparse's own errors, from the real console script: exit 2, usage, no traceback."""
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", *argv], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and expected in done.stderr and "usage: cfa" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
