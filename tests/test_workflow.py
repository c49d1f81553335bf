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


def demo_profile(params):
    """The demo profile, with its table lists also written where DVC reads them: DVC expands its
    stages from params.yaml's lists as written, so the demo runs under DVC the way
    `dvc exp run -S profile=demo -S 'tables.<t>.datasets=[...]'` gives them (pipeline/common.py)."""
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
    params = yaml.safe_load((repo / "params.yaml").read_text())
    expected = 0
    for table in params["tables"].values():
        n_data, n_runs = len(table["datasets"]), len(table["datasets"]) * len(table["models"])
        # per dataset: make it, its FID statistics; per run: train, evaluate, sample; the table
        expected += n_data * (1 + ("fid" in table["metrics"])) + 3 * n_runs + 1
    assert len(smk) == expected


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
    from cfa.metrics import METRICS
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
    # This test is about Table 2; the other tables' stages would join `dvc repro` (Table 3's
    # workflow runs end to end in tests/test_table3_workflow.py).
    demo_tables = params["profiles"]["demo"].get("tables") or {}
    for other in [t for t in params["tables"] if t != "table2"]:
        del params["tables"][other]
        demo_tables.pop(other, None)
    if not demo_tables:
        params["profiles"]["demo"].pop("tables", None)
    params["tables"]["table2"]["datasets"] = ["RA-20", "RL-20"]
    params["metrics"]["pretrained_backbones"] = False
    demo = params["profiles"]["demo"]
    for spec in demo["datasets"].values():
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
    run(["snakemake", "table2", "--cores", "2"], repo)
    table = (results / "table2.md").read_text()
    assert "procedural" in table.lower() and "offline" in table.lower()
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
    assert stale == {"train_table2@pix2pix-RA-20", "train_table2@pix2pix-RL-20"}

    # After repro, `dvc metrics diff` shows the pix2pix table values that changed, and only those.
    run(["dvc", "repro"], repo)
    diff = json.loads(run(["dvc", "metrics", "diff", "--json"], repo).stdout)
    changed = {(f, k) for f, keys in diff.items() for k in keys}
    assert any("table2.json" in f and "pix2pix." in k for f, k in changed), diff
    assert not any("pix2pix-cfa" in k for _, k in changed), diff


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
