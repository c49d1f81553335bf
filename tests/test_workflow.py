"""The workflow: Snakemake and DVC describe the same DAG, each job depends on the code it runs and the
params it reads, missing data is reported up front, and a tiny configuration runs end to end under
both tools (in a temporary copy of the repository)."""

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


def shell_commands(text: str) -> list[str]:
    """The `cfa` commands of a dry run's printout, without their log redirection."""
    return [re.sub(r" > \S+ 2>&1$", "", line[len("Shell command:"):].strip()) for line in text.splitlines()
            if line.startswith("Shell command:") and not line.endswith("None")]


def snakemake_jobs(repo: Path, *targets: str, config: tuple[str, ...] = ()) -> dict[str, set[str]]:
    """Shell command -> declared outputs, from a dry run."""
    extra = ["--config", *config] if config else []
    out = run(["snakemake", "-n", "-p", "--cores", "1", *targets, *extra], repo).stdout
    jobs: dict[str, set[str]] = {}
    outputs: set[str] = set()
    for line in out.splitlines():
        s = line.strip()
        if re.match(r"^(local)?rule \w+:$", s):
            outputs = set()
        elif s.startswith("output:"):
            outputs = {o.strip() for o in s[len("output:"):].split(",")}
        elif s.startswith("Shell command:"):
            cmd = re.sub(r" > \S+ 2>&1$", "", s[len("Shell command:"):].strip())
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


def kill_during_training(cmd: list[str], repo: Path, runs: Path) -> int:
    """Run `cmd` in a process group of its own and SIGKILL the whole group (the workflow tool and its
    jobs, as a lost session or node would) once a training under `runs` has written a checkpoint.
    Returns the step of that checkpoint."""
    import signal
    import time

    import torch

    proc = subprocess.Popen(cmd, cwd=repo, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 600
    while not (found := list(runs.glob("*/*/resume/checkpoint.pt"))):
        assert proc.poll() is None, f"{cmd} ended before any training checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    return int(torch.load(found[0], weights_only=True)["step"])


def demo_profile(params):
    """profile: demo, with the demo's table lists written where DVC reads them (DVC expands its stages
    from params.yaml as written: `dvc exp run -S profile=demo -S tables.<t>.datasets=[...]`)."""
    params["profile"] = "demo"
    for table, lists in (params["profiles"]["demo"].get("tables") or {}).items():
        params["tables"][table].update(lists)


def test_snakemake_and_dvc_run_the_same_commands_with_the_same_outputs(tmp_path):
    repo = make_copy(tmp_path, demo_profile)
    smk = snakemake_jobs(repo, "all")
    dvc = dvc_jobs(repo)
    assert set(smk) == set(dvc), (
        f"only in Snakemake: {sorted(set(smk) - set(dvc))}\nonly in DVC: {sorted(set(dvc) - set(smk))}")
    for cmd in smk:
        assert smk[cmd] == dvc[cmd], f"outputs differ for {cmd!r}: snakemake {smk[cmd]} dvc {dvc[cmd]}"
    from cfa.metrics.suite import evalnets_needed

    params = yaml.safe_load((repo / "params.yaml").read_text())
    expected = 0
    for table in params["tables"].values():
        n_data, n_runs = len(table["datasets"]), len(table["datasets"]) * len(table["models"])
        # per dataset: make it, its FID statistics, its evaluation networks; per run: train,
        # evaluate, sample; the table
        per_dataset = 1 + ("fid" in table["metrics"]) + bool(evalnets_needed(table["metrics"]))
        expected += n_data * per_dataset + 3 * n_runs + 1
    assert len(smk) == expected + 1  # and the index of them all
    assert any(cmd.startswith("cfa index") for cmd in smk)


def test_every_snakemake_rule_has_a_log_and_no_hardcoded_prefix(tmp_path):
    repo = make_copy(tmp_path, demo_profile)
    lint = run(["snakemake", "--lint"], repo, check=False)
    text = lint.stdout + lint.stderr
    assert "No log directive" not in text and "but hardcoded" not in text and "Path composition" not in text, text


def test_dvc_stages_declare_the_code_their_command_imports():
    """Stage by stage: every project file the stage's `cfa` command may import is a declared dep."""
    from cfa.workflow import command_code
    from dvc.repo import Repo

    with Repo(str(ROOT)) as r:
        stages = list(r.index.stages)
    assert stages
    for stage in stages:
        command = stage.cmd.split()[1]
        deps = {str(Path(d.def_path)) for d in stage.deps}
        for path in command_code(command, ROOT):
            if path.endswith("__init__.py") and _constants_only(ROOT / path):
                continue  # a docstring and constants: no behaviour to track
            assert any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps), (
                f"stage {stage.addressing}: `cfa {command}` imports {path}, not among its deps {sorted(deps)}")


def _constants_only(path: Path) -> bool:
    import ast

    body = ast.parse(path.read_text()).body
    return all(isinstance(n, (ast.Expr, ast.Assign)) and isinstance(n.value, ast.Constant) for n in body)


def test_registries_and_the_params_schema_agree():
    from cfa.datasets.catalog import RAW_CHECKS
    from cfa.datasets.kinds import KINDS
    from cfa.datasets.makers import MAKERS
    from cfa.metrics.registry import METRICS
    from cfa.networks.build import GENERATOR_ARCHS
    from cfa.tables import TABLES
    from cfa.training.objectives import OBJECTIVES

    schema = json.loads((ROOT / "cfa" / "params.schema.json").read_text())
    defs = schema["$defs"]
    model = defs["model"]["properties"]
    assert set(model["objective"]["enum"]) == set(OBJECTIVES)
    assert set(model["generator"]["properties"]["arch"]["enum"]) == set(GENERATOR_ARCHS)
    assert set(defs["table"]["properties"]["metrics"]["items"]["enum"]) == set(METRICS)
    assert set(schema["properties"]["tables"]["propertyNames"]["enum"]) == set(TABLES)
    assert set(defs["dataset"]["properties"]["kind"]["enum"]) == set(KINDS)
    assert set(defs["dataset"]["properties"]["source"]["enum"]) == set(MAKERS)
    assert set(RAW_CHECKS) <= set(MAKERS)


def test_config_overrides_reach_only_the_jobs_that_read_them(tmp_path):
    repo = make_copy(tmp_path)
    out = run(["snakemake", "-n", "-p", "--cores", "1", "table2", "--config", "profile=demo",
               'metrics={"pretrained_backbones": false}'], repo).stdout
    cmds = shell_commands(out)
    assert cmds and all("results/demo/" in c or "data/demo/" in c or "runs/demo/" in c for c in cmds)
    offline = "--set metrics.pretrained_backbones=false"
    for c in cmds:
        reads_metrics = c.startswith(("cfa evaluate", "cfa stats"))
        assert (offline in c) == reads_metrics, c
        if not c.startswith("cfa sample"):  # samples read only their checkpoint
            assert "--set profile=demo" in c, c


def test_a_model_added_to_a_table_is_planned_and_tabulated(tmp_path):
    def with_basisgan(params):
        demo_profile(params)
        params["tables"]["table2"]["models"].append("pix2pix-basisgan")

    repo = make_copy(tmp_path, with_basisgan)
    cmds = shell_commands(run(["snakemake", "-n", "-p", "--cores", "1", "table2"], repo).stdout)
    for step in ("cfa train --model pix2pix-basisgan", "cfa evaluate --run runs/demo/pix2pix-basisgan",
                 "cfa sample --checkpoint runs/demo/pix2pix-basisgan"):
        assert sum(c.startswith(step) for c in cmds) == 5, step


def test_paper_dry_run_without_shapenet_lists_what_is_missing(tmp_path):
    repo = make_copy(tmp_path)
    proc = run(["snakemake", "-n", "table2"], repo, check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text
    for name, synset in [("RA-20", "02691156"), ("RCA-20", "02958343"), ("RL-20", "03642806"),
                         ("RT-20", "04379243")]:
        assert f"{name}: needs" in text and synset in text
    assert "https://shapenet.org" in text
    # RC-49 is CcGAN's file, as the paper used it.
    assert "RC-49: source 'h5' needs the file datasets.RC-49.path = 'data/raw/RC-49_64x64.h5'" in text
    assert "improved_CcGAN" in text


def test_bad_config_override_stops_with_the_key(tmp_path):
    repo = make_copy(tmp_path)
    proc = run(["snakemake", "-n", "table2", "--config", "profile=demo", "seed=-3"], repo, check=False)
    assert proc.returncode != 0
    assert "seed" in proc.stdout + proc.stderr and "Traceback" not in proc.stdout + proc.stderr


def tiny_demo(params):
    """Two datasets, tiny renders and networks, a handful of steps, offline backbones; since `dvc repro`
    runs every table, Tables 1, 3 and 4 at their smallest too (their own tests run them properly)."""
    demo_profile(params)
    small = {"datasets": ["edges2objects"], "models": ["pix2pix-image"]}
    params["tables"]["table1"].update(small)
    params["profiles"]["demo"]["tables"]["table1"] = dict(small)
    params["profiles"]["demo"]["datasets"]["edges2objects"].update(categories=["chair", "car"], objects=3, views=1)
    small = {"datasets": ["Cell-200"], "models": ["cyclegan-cfa"]}
    params["tables"]["table3"].update(small)
    params["profiles"]["demo"]["tables"]["table3"] = dict(small)
    params["profiles"]["demo"]["datasets"]["Cell-200"].update(counts=[1, 24], source_images=8)
    params["profiles"]["demo"]["models"]["cyclegan-cfa"]["train"].update(batch_size=4, steps=3)
    params["tables"]["table2"]["datasets"] = ["RA-20", "RL-20"]
    params["metrics"]["pretrained_backbones"] = False
    demo = params["profiles"]["demo"]
    for spec in demo["datasets"].values():
        if "angles" in spec:  # the rotation sets
            spec.update(models=2, angles="0:90:15", split="grid:30")
    demo["datasets"]["RC-49-angles"].update(angles="0:6:1", split="grid:2")
    for model in ("cgan", "cgan-cfa"):
        demo["models"][model]["generator"].update(z_dim=8, ngf=4)
        demo["models"][model]["discriminator"].update(ndf=4)
        demo["models"][model]["train"].update(batch_size=4, steps=3)
    demo["models"]["cgan"]["generator"].update(n_classes=3)
    demo["evalnets"].update(batch_size=8, autoencoder={"epochs": 1, "dim_bottleneck": 16, "ch": 4},
                            regressor={"epochs": 1, "depth": 18, "width": 4},
                            classifier={"epochs": 1, "depth": 18, "width": 4})
    demo["evaluate"]["intra_fid"] = {"radius": 1, "ccgan_feature_batch": 500}
    demo["render"].update(size=32, workers=1)
    for model in ("pix2pix", "pix2pix-label", "pix2pix-cfa", "pix2pix-image", "cyclegan-cfa"):
        demo["models"][model]["generator"].update(ngf=4, n_blocks=1)
        demo["models"][model]["discriminator"].update(ndf=4, n_layers=2)
    demo["train"].update(batch_size=4, steps=10, checkpoint_every=2, log_every=1, sample_every=10)
    demo["evaluate"].update(batch_size=8, fid_max_images=16, lpips_inputs=2, lpips_pairs=2)


@pytest.mark.slow
def test_tiny_workflow_end_to_end_with_snakemake_and_dvc(tmp_path):
    repo = make_copy(tmp_path, tiny_demo)
    results = repo / "results" / "demo"

    # Snakemake: the whole DAG, then nothing left to do.
    run(["snakemake", "table2", "--cores", "2"], repo)
    table = (results / "table2.md").read_text()
    assert "procedural" in table.lower() and "offline" in table.lower()
    assert "↳ paper" in table and max(map(len, table.splitlines())) <= 160
    snakemake_table = json.loads((results / "table2.json").read_text())
    for ext in ("csv", "tex", "json"):
        assert (results / f"table2.{ext}").stat().st_size > 0
    assert (results / "figures" / "table2" / "samples" / "pix2pix-cfa" / "RA-20").is_dir()
    assert (repo / "logs" / "demo" / "train" / "pix2pix-cfa" / "RA-20.log").stat().st_size > 0
    assert (repo / "runs" / "demo" / "pix2pix-cfa" / "RA-20" / "curves.png").stat().st_size > 0
    again = run(["snakemake", "table2", "--cores", "2", "-n"], repo)
    assert "Nothing to be done" in again.stdout + again.stderr
    # `make demo` after `make demo OFFLINE=1`: only what reads metrics.* is planned, no training.
    online = shell_commands(run(["snakemake", "table2", "-n", "-p", "--config",
                                 'metrics={"pretrained_backbones": true}'], repo).stdout)
    assert online and not any(c.startswith(("cfa train", "cfa prepare", "cfa sample")) for c in online), online
    assert {c.split()[1] for c in online} == {"stats", "evaluate", "table"}
    run(["snakemake", "table2", "--report", "report.zip"], repo)

    # Killed during a training, the same command again resumes it and ends where an unbroken run
    # ends: the resume state is not a declared output, so Snakemake's clean-up keeps it.
    metrics = results / "metrics" / "table2" / "pix2pix-cfa" / "RA-20.json"
    reference = metrics.read_bytes()
    # Everything downstream of that run goes too (Snakemake keeps outputs whose inputs are merely absent).
    for path in [repo / "runs" / "demo" / "pix2pix-cfa" / "RA-20", metrics,
                 *results.glob("table2.*"), *results.glob("figures/table2/*/pix2pix-cfa/RA-20*")]:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    killed_at = kill_during_training(["snakemake", "table2", "--cores", "1"], repo, repo / "runs" / "demo")
    assert 0 < killed_at < 10
    run(["snakemake", "table2", "--cores", "1"], repo)
    log = (repo / "logs" / "demo" / "train" / "pix2pix-cfa" / "RA-20.log").read_text()
    assert f"resuming runs/demo/pix2pix-cfa/RA-20 from its checkpoint at step {killed_at}/10" in log, log
    assert metrics.read_bytes() == reference
    import zipfile
    names = zipfile.ZipFile(repo / "report.zip").namelist()
    for wanted in ("table2.md", "curves.png", "RA-20.png"):
        assert any(n.endswith(wanted) for n in names), (wanted, names)

    # DVC: the same DAG from dvc.yaml, then clean.
    run(["dvc", "repro"], repo)
    status = run(["dvc", "status", "--json"], repo)
    assert json.loads(status.stdout or "{}") == {}
    assert json.loads((results / "table2.json").read_text()) == snakemake_table
    index = (results / "index.md").read_text()
    assert all(f"table{n}.md" in index for n in (1, 2, 3, 4)) and "Not produced yet" not in index, index
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "baseline results"], repo)

    # Killed during a training, `dvc repro` again resumes it and ends where an unbroken run ends.
    reference = metrics.read_bytes()
    shutil.rmtree(repo / "runs" / "demo" / "pix2pix-cfa" / "RA-20")
    shutil.rmtree(repo / ".dvc" / "cache" / "runs")  # no run cache to restore it from: it must train
    killed_at = kill_during_training(["dvc", "repro"], repo, repo / "runs" / "demo")
    assert 0 < killed_at < 10
    resumed = run(["dvc", "repro"], repo)
    assert f"from its checkpoint at step {killed_at}/10" in resumed.stdout + resumed.stderr
    assert metrics.read_bytes() == reference
    assert json.loads(run(["dvc", "status", "--json"], repo).stdout or "{}") == {}

    # A learning-rate change makes exactly the pix2pix training stages stale.
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["models"]["pix2pix"]["optim"]["lr"] = 0.01
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    stale = set(json.loads(run(["dvc", "status", "--json"], repo).stdout))
    assert stale == {"train_table2@pix2pix-RA-20", "train_table2@pix2pix-RL-20"}

    # After repro, `dvc metrics diff` shows the pix2pix table values that changed, and only those.
    run(["dvc", "repro"], repo)
    diff = json.loads(run(["dvc", "metrics", "diff", "--json"], repo).stdout)
    changed = {(f, k) for f, keys in diff.items() for k in keys}
    assert any("table2.json" in f and "pix2pix." in k for f, k in changed), diff
    assert not any("pix2pix-cfa" in k for _, k in changed), diff
    # Named table.dataset.model.metric, each value once, only the tables' files, no timings.
    assert all(f.endswith(("table1.json", "table2.json", "table3.json", "table4.json")) for f, _ in changed), diff
    for f, k in changed:
        table, dataset, model, metric = k.split(".", 3)
        assert f.endswith(f"{table}.json") and model == "pix2pix" and "seconds" not in metric, k
    assert len({k.split(".", 3)[3] for _, k in changed if ".RA-20." in k}) == \
        len([k for _, k in changed if ".RA-20." in k]), diff


    # Editing the evaluate command, or the networks, makes the evaluations stale under both tools.
    run(["git", "checkout", "--", "params.yaml"], repo)
    run(["dvc", "repro"], repo)
    for edited, also_training in (("pipeline/commands/evaluate.py", False), ("cfa/networks/pix2pix.py", True)):
        path = repo / edited
        original = path.read_text()
        path.write_text(original + "\n# edited\n")
        stale = set(json.loads(run(["dvc", "status", "--json"], repo).stdout))
        planned = {c.split()[1] for c in shell_commands(run(["snakemake", "table2", "-n", "-p"], repo).stdout)}
        assert {f"evaluate_table2@{m}-{d}" for m in ("pix2pix", "pix2pix-cfa") for d in ("RA-20", "RL-20")} <= stale
        assert "evaluate" in planned, planned
        assert any(s.startswith("train_table2@") for s in stale) == also_training, stale
        assert ("train" in planned) == also_training, planned
        path.write_text(original)
