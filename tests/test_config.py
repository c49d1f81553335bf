"""params.yaml loading: profiles, overrides and schema errors that name the key."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cfa.config import load_params, resolve, read_yaml
from cfa.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"


def test_repo_params_are_valid_for_every_profile():
    raw = read_yaml(PARAMS)
    assert resolve(raw)["profile"] == "paper"
    for name in raw["profiles"]:
        assert resolve(raw, [f"profile={name}"])["profile"] == name


def test_demo_profile_overlays_and_overrides_win():
    p = load_params(PARAMS, ["profile=demo", "train.steps=7"])
    assert p["datasets"]["RA-20"]["source"] == "procedural"
    assert p["datasets"]["RA-20"]["synset"] == "02691156"  # untouched keys survive the merge
    assert p["train"]["steps"] == 7
    assert load_params(PARAMS)["train"]["steps"] is None


def _write(tmp_path, mutate):
    raw = read_yaml(PARAMS)
    mutate(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("mutate, key, words", [
    (lambda r: r["train"].__setitem__("batch_size", "sixteen"), "train.batch_size", ["integer", "'sixteen'"]),
    (lambda r: r["train"].__setitem__("batch_size", 0), "train.batch_size", [">= 1", "0"]),
    (lambda r: r["models"]["pix2pix"]["optim"].__setitem__("lr", -1), "models.pix2pix.optim.lr", ["> 0", "-1"]),
    (lambda r: r["render"].__setitem__("sise", 64), "render.sise", ["unknown key"]),
    (lambda r: r["datasets"]["RA-20"].__setitem__("angles", "0-360"), "datasets.RA-20.angles", ["START:STOP:STEP", "'0-360'"]),
    (lambda r: r["profiles"]["demo"]["train"].__setitem__("stepz", 3), "profiles.demo.train.stepz", ["unknown key"]),
])
def test_bad_values_name_the_key_the_form_and_the_value(tmp_path, mutate, key, words):
    path = _write(tmp_path, mutate)
    with pytest.raises(UserError) as exc:
        load_params(path)
    msg = str(exc.value)
    assert key in msg
    for w in words:
        assert w in msg


def test_unknown_profile_is_refused():
    with pytest.raises(UserError, match="unknown profile 'nope'"):
        load_params(PARAMS, ["profile=nope"])


def test_cli_exits_nonzero_and_names_the_key(tmp_path):
    path = _write(tmp_path, lambda r: r["train"].__setitem__("amp", "yes please"))
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "params", "--params", str(path)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert "train.amp" in proc.stderr and "boolean" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_help_lists_working_subcommands():
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0
    assert "params" in proc.stdout


def test_tables_must_name_existing_datasets_and_models():
    with pytest.raises(UserError, match="tables.table2.datasets: 'RX-1'"):
        load_params(PARAMS, ["tables.table2.datasets=[RA-20, RX-1]"])
    with pytest.raises(UserError, match="tables.table2.models: 'nope'"):
        load_params(PARAMS, ["tables.table2.models=[nope]"])


def test_overrides_between_round_trips_through_set():
    from cfa.config import overrides_between
    raw = read_yaml(PARAMS)
    changed = yaml.safe_load(yaml.safe_dump(raw))
    changed["profile"] = "demo"
    changed["metrics"]["pretrained_backbones"] = False
    changed["models"]["pix2pix"]["optim"]["lr"] = 0.001
    sets = overrides_between(raw, changed)
    assert sorted(sets) == ["metrics.pretrained_backbones=false", "models.pix2pix.optim.lr=0.001", "profile=demo"]
    assert resolve(raw, sets) == resolve(changed)
