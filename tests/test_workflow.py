"""The workflow: Snakemake and DVC describe the same DAG, missing data is reported up front, and a
tiny configuration runs end to end under both tools (in a temporary copy of the repository)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# The code directories travel too: dvc.yaml hashes them as stage dependencies.
WORKFLOW_FILES = ["Snakefile", "rules", "profiles", "report", "params.yaml", "dvc.yaml", ".dvcignore",
                  "cfa", "pipeline"]


def _env():
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    env["DVC_NO_ANALYTICS"] = "1"
    env.setdefault("PYOPENGL_PLATFORM", "egl")
    return env


def run(cmd, cwd, check=True, timeout=1500):
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout,
                          shell=isinstance(cmd, str))
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def make_copy(tmp_path: Path, params_edit=None) -> Path:
    """A git + DVC repository holding the workflow files (the cfa package comes from the venv)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in WORKFLOW_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, repo / name)
    (repo / ".gitignore").write_text("/data/\n/runs/\n.snakemake/\n")
    if params_edit:
        params = yaml.safe_load((repo / "params.yaml").read_text())
        params_edit(params)
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], repo)
    run(["git", "config", "user.email", "ci@example.com"], repo)
    run(["git", "config", "user.name", "ci"], repo)
    run(["dvc", "init", "-q"], repo)
    run(["dvc", "config", "core.analytics", "false"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "init"], repo)
    return repo


def snakemake_jobs(repo: Path, *targets: str) -> dict[str, set[str]]:
    """Shell command -> declared outputs, from a dry run."""
    out = run(["snakemake", "-n", "-p", "--cores", "1", *targets], repo).stdout
    jobs: dict[str, set[str]] = {}
    outputs: set[str] = set()
    for line in out.splitlines():
        s = line.strip()
        if re.match(r"^(local)?rule \w+:$", s):
            outputs = set()
        elif s.startswith("output:"):
            outputs = {o.strip() for o in s[len("output:"):].split(",")}
        elif s.startswith("Shell command:"):
            cmd = s[len("Shell command:"):].strip()
            if cmd != "None":  # target rules without a command
                jobs[cmd] = outputs
    return jobs


def dvc_jobs(repo: Path) -> dict[str, set[str]]:
    from dvc.repo import Repo

    jobs = {}
    with Repo(str(repo)) as r:
        for stage in r.index.stages:
            outs = {str(o.def_path) for o in stage.outs}
            # DVCLive curves are a DVC-only output (Snakemake's report reads them from the run dir).
            jobs[stage.cmd] = {o for o in outs if "/live/" not in o}
    return jobs


def demo_profile(params):
    params["profile"] = "demo"


def test_snakemake_and_dvc_run_the_same_commands_with_the_same_outputs(tmp_path):
    repo = make_copy(tmp_path, demo_profile)
    smk = snakemake_jobs(repo, "table2", "figures")
    dvc = dvc_jobs(repo)
    assert set(smk) == set(dvc), (
        f"only in Snakemake: {sorted(set(smk) - set(dvc))}\nonly in DVC: {sorted(set(dvc) - set(smk))}")
    for cmd in smk:
        assert smk[cmd] == dvc[cmd], f"outputs differ for {cmd!r}: snakemake {smk[cmd]} dvc {dvc[cmd]}"
    # 5 datasets: render + fid stats each, 2 models: train, evaluate, figure each, one table.
    assert len(smk) == 5 + 5 + 3 * 10 + 1


def test_config_overrides_reach_every_command_as_set_flags(tmp_path):
    repo = make_copy(tmp_path)
    out = run(["snakemake", "-n", "-p", "--cores", "1", "table2", "--config", "profile=demo",
               'metrics={"pretrained_backbones": false}'], repo).stdout
    cmds = [l for l in out.splitlines() if l.startswith("Shell command:") and not l.endswith("None")]
    cmds = [c for c in cmds if "cfa sample" not in c]  # samples read only their checkpoint
    assert cmds and all("--set profile=demo --set metrics.pretrained_backbones=false" in c for c in cmds)
    assert all("results/demo/" in c or "data/demo/" in c for c in cmds)


def test_paper_dry_run_without_shapenet_lists_what_is_missing(tmp_path):
    repo = make_copy(tmp_path)
    proc = run(["snakemake", "-n", "table2"], repo, check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text
    for name, synset in [("RC-49", "03001627"), ("RA-20", "02691156"), ("RCA-20", "02958343"),
                         ("RL-20", "03642806"), ("RT-20", "04379243")]:
        assert f"{name}: needs" in text and synset in text
    assert "https://shapenet.org" in text


def test_bad_config_override_stops_with_the_key(tmp_path):
    repo = make_copy(tmp_path)
    proc = run(["snakemake", "-n", "table2", "--config", "profile=demo", "seed=-3"], repo, check=False)
    assert proc.returncode != 0
    assert "seed" in proc.stdout + proc.stderr and "Traceback" not in proc.stdout + proc.stderr


def tiny_demo(params):
    """Two datasets, tiny renders and networks, a handful of steps, offline backbones."""
    params["profile"] = "demo"
    params["tables"]["table2"]["datasets"] = ["RA-20", "RL-20"]
    params["metrics"]["pretrained_backbones"] = False
    demo = params["profiles"]["demo"]
    for spec in demo["rotation_sets"].values():
        spec.update(models=2, angles="0:90:15", split="grid:30")
    demo["render"].update(size=32, workers=1)
    for model in ("pix2pix", "pix2pix-cfa"):
        demo["models"][model]["generator"].update(ngf=4, n_blocks=1)
        demo["models"][model]["discriminator"].update(ndf=4, n_layers=2)
    demo["train"].update(batch_size=4, steps=3, checkpoint_every=2, log_every=1, sample_every=3)
    demo["evaluate"].update(batch_size=8, fid_max_images=16, lpips_inputs=2, lpips_pairs=2)


@pytest.mark.slow
def test_tiny_workflow_end_to_end_with_snakemake_and_dvc(tmp_path):
    repo = make_copy(tmp_path, tiny_demo)
    results = repo / "results" / "demo"

    # Snakemake: the whole DAG, then nothing left to do.
    run(["snakemake", "table2", "figures", "--cores", "2"], repo)
    table = (results / "table2.md").read_text()
    assert "procedural" in table.lower() and "offline" in table.lower()
    for ext in ("csv", "tex", "json"):
        assert (results / f"table2.{ext}").stat().st_size > 0
    assert (results / "figures" / "rotation" / "pix2pix-cfa" / "RA-20").is_dir()
    assert (repo / "runs" / "demo" / "pix2pix-cfa" / "RA-20" / "curves.png").stat().st_size > 0
    again = run(["snakemake", "table2", "figures", "--cores", "2", "-n"], repo)
    assert "Nothing to be done" in again.stdout + again.stderr
    run(["snakemake", "table2", "figures", "--report", "report.zip"], repo)
    import zipfile
    names = zipfile.ZipFile(repo / "report.zip").namelist()
    for wanted in ("table2.md", "curves.png", "RA-20.png"):
        assert any(n.endswith(wanted) for n in names), (wanted, names)

    # DVC: the same DAG from dvc.yaml, then clean.
    run(["dvc", "repro"], repo)
    status = run(["dvc", "status", "--json"], repo)
    assert json.loads(status.stdout or "{}") == {}
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "baseline results"], repo)

    # A learning-rate change makes exactly the pix2pix training stages stale.
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["models"]["pix2pix"]["optim"]["lr"] = 0.01
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    stale = set(json.loads(run(["dvc", "status", "--json"], repo).stdout))
    assert stale == {"train@pix2pix-RA-20", "train@pix2pix-RL-20"}

    # After repro, `dvc metrics diff` shows the pix2pix table values that changed, and only those.
    run(["dvc", "repro"], repo)
    diff = json.loads(run(["dvc", "metrics", "diff", "--json"], repo).stdout)
    changed = {(f, k) for f, keys in diff.items() for k in keys}
    assert any("table2.json" in f and "pix2pix." in k for f, k in changed), diff
    assert not any("pix2pix-cfa" in k for _, k in changed), diff
