"""The workflow on a real Slurm, through the Slurm workflow profile (profiles/slurm).

Run by `make test-cluster`, which brings up a single-node Slurm when none is reachable
(cluster/slurm-up.sh); skipped, with the reason, when no Slurm is reachable. Not part of `make test`
(pyproject.toml deselects the `cluster` marker by default).

Without Slurm accounting there is no `sacct` history, so the test takes its evidence from both sides:
- Snakemake's side: the plugin logs "Job N has been submitted with SLURM jobid X (log: ...)" for every
  job, and the job's Slurm output file (written by slurmstepd) sits under
  .snakemake/slurm_logs/rule_<rule>/<wildcards>/<jobid>.log (kept: the profile keeps successful logs);
- Slurm's side: the controller's job-completion log (jobcomp/filetxt, one line per finished job, kept
  by cluster/slurm-up.sh's cluster) or, on another cluster, `squeue --states=all` while the controller
  still holds the finished jobs (MinJobAge).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from test_workflow import make_copy, run, tiny_demo

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

JOBCOMP_LOG = Path(os.environ.get("CFA_SLURM_STATE", "/var/lib/cfa-slurm")) / "log" / "jobcomp.log"
# Rules whose jobs the profile sends to a GPU: `train`/`evaluate`, or the per-model rules of today's
# workflow (train_<model>, evaluate_<model>).
GPU_RULE = re.compile(r"^(train|evaluate)(_|$)")
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")


def _slurm_unreachable_reason() -> str | None:
    if shutil.which("sinfo") is None:
        return "no Slurm client (sinfo) on PATH; `make test-cluster` installs and starts a test cluster"
    proc = subprocess.run(["sinfo", "-h"], capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        return f"no Slurm controller reachable (sinfo: {last}); run `make test-cluster`"
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "snakemake-executor-plugin-slurm is not installed in this environment"
    return None


@pytest.fixture(scope="module")
def slurm():
    reason = _slurm_unreachable_reason()
    if reason:
        pytest.skip(reason)
    gres = subprocess.run(["sinfo", "-h", "-o", "%G"], capture_output=True, text=True).stdout
    if "gpu" not in gres:
        pytest.skip(f"the cluster declares no GPU (sinfo %G: {gres.strip()!r}); the profile's train and "
                    "evaluate jobs request one (cluster/slurm-up.sh declares placeholder GPUs)")


def _job_records(job_ids: set[str]) -> dict[str, dict[str, str]]:
    """Slurm's own record of finished jobs: `scontrol show job` while the controller holds them
    (MinJobAge; an hour on cluster/slurm-up.sh's cluster), else the job-completion log."""
    found: dict[str, dict[str, str]] = {}
    for job_id in job_ids:
        out = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True).stdout
        fields = dict(f.split("=", 1) for f in out.split() if "=" in f)
        if fields.get("JobId") == job_id:
            found[job_id] = fields
    if JOBCOMP_LOG.exists():
        for line in JOBCOMP_LOG.read_text().splitlines():
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            if fields.get("JobId") in job_ids - set(found):
                found[fields["JobId"]] = fields
    return found


def _expected_limits(profile: Path, rule: str) -> tuple[str, str]:
    """(TimeLimit, MinMemoryNode) as `scontrol show job` prints them, from the profile's resources."""
    config = yaml.safe_load((profile / "config.yaml").read_text())
    resources = {**config["default-resources"], **config.get("set-resources", {}).get(rule, {})}
    days, minutes = divmod(int(resources["runtime"]), 24 * 60)
    limit = f"{minutes // 60:02d}:{minutes % 60:02d}:00"
    return (f"{days}-{limit}" if days else limit), f"{resources['mem_mb']}M"


def test_tiny_runs_as_slurm_jobs_through_the_slurm_profile(tmp_path, slurm):
    repo = make_copy(tmp_path, tiny_demo)
    planned = run(["snakemake", "table2", "-n", "--workflow-profile", "profiles/slurm"], repo).stdout
    # The target rule `table2` only gathers inputs (no command): Snakemake finishes it locally.
    total = int(re.search(r"^total\s+(\d+)$", planned, re.M).group(1)) - 1

    start = time.monotonic()
    # Only the first status check comes sooner than the profile's default (40 s): a test-run setting.
    proc = run(["snakemake", "table2", "--workflow-profile", "profiles/slurm",
                "--slurm-init-seconds-before-status-checks", "5"], repo, timeout=3000)
    wall = time.monotonic() - start
    log = proc.stdout + proc.stderr
    print(f"\ncluster: tiny Table 2 on Slurm, {total} jobs, wall {wall:.0f} s")

    results = repo / "results" / "demo"
    table = (results / "table2.md").read_text()
    assert "procedural" in table.lower() and "offline" in table.lower()
    for ext in ("csv", "tex", "json"):
        assert (results / f"table2.{ext}").stat().st_size > 0

    # Every job of the DAG went to Slurm (none ran on the submitting host) ...
    submitted = {slurm_id: Path(path) for _, slurm_id, path in SUBMITTED.findall(log)}
    assert len(submitted) == total, f"{len(submitted)} Slurm jobs for {total} planned jobs:\n{log[-3000:]}"
    rule_of = {}
    for slurm_id, path in submitted.items():
        path = path if path.is_absolute() else repo / path
        assert path.stat().st_size > 0, f"Slurm wrote no output for job {slurm_id} ({path})"
        rule_dir = next(p for p in path.relative_to(repo / ".snakemake" / "slurm_logs").parts)
        rule_of[slurm_id] = rule_dir.removeprefix("rule_")

    # ... and Slurm ran each to completion, with the profile's time limit and memory, the GPU rules'
    # jobs with a GPU requested (--gpus), the rendering jobs without.
    records = _job_records(set(submitted))
    assert set(records) == set(submitted), f"Slurm has no record of {set(submitted) - set(records)}"
    for slurm_id, record in records.items():
        rule = rule_of[slurm_id]
        assert record["JobState"] == "COMPLETED", (rule, record)
        if "JobName" in record:  # a full `scontrol show job` record (the completion log has no GPUs)
            assert (record["TimeLimit"], record["MinMemoryNode"]) == _expected_limits(
                repo / "profiles" / "slurm", rule), (rule, record)
            gpus = record.get("TresPerJob", "")
            if GPU_RULE.match(rule):
                assert "gres:gpu:" in gpus, (rule, record)
            if rule.startswith(("dataset", "table")):
                assert "gpu" not in gpus, (rule, record)
    assert any(GPU_RULE.match(r) for r in rule_of.values())

    again = run(["snakemake", "table2", "-n", "--workflow-profile", "profiles/slurm"], repo)
    assert "Nothing to be done" in again.stdout + again.stderr
