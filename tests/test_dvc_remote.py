"""A DVC remote round trip (docs/scale-out.md): after a tiny workflow, `dvc push` to a local-directory
remote, delete the cache and the outputs, `dvc pull`: everything comes back bit-identical, `dvc status`
is clean, and what stays in git (cache: false: metrics, tables, DVCLive plots) never went to the remote.

To stay fast the workflow runs up to the outputs a team shares through the remote (a rotation set,
a checkpoint, FID statistics); evaluation and the table, which stay in git, are checked in dvc.yaml."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from test_workflow import make_copy, run, tiny_demo


def one_model_one_dataset(params):
    """The smallest whole DAG: tiny_demo on RA-20 with pix2pix-cfa only."""
    tiny_demo(params)
    params["tables"]["table2"].update(datasets=["RA-20"], models=["pix2pix-cfa"])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_under(repo: Path, outs: list[str]) -> dict[str, str]:
    """Relative path -> sha256 of every file in the given outputs (files or directories)."""
    found = {}
    for out in outs:
        path = repo / out
        for f in ([path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())):
            found[str(f.relative_to(repo))] = sha256(f)
    return found


def lock_outs(repo: Path) -> tuple[list[str], list[str]]:
    """(DVC-cached outputs, git-tracked outputs) from dvc.lock and dvc.yaml's cache flags."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    uncached = set()
    for stage in yaml.safe_load((repo / "dvc.yaml").read_text())["stages"].values():
        for key in ("outs", "metrics", "plots"):
            for out in stage.get("do", stage).get(key, []):
                if isinstance(out, dict) and not next(iter(out.values())).get("cache", True):
                    uncached.add(next(iter(out)))
    cached, in_git = [], []
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            # dvc.yaml holds templates (${...}); match on the resolved path's file name and folder.
            is_git = any(_template_matches(t, out["path"]) for t in uncached)
            (in_git if is_git else cached).append(out["path"])
    return cached, in_git


def _template_matches(template: str, path: str) -> bool:
    pattern = re.escape(template)
    pattern = re.sub(r"\\\$\\\{[^}]*\\\}", "[^/]+", pattern)
    return re.fullmatch(pattern, path) is not None


def shared_stages(repo: Path) -> list[str]:
    """The stages that make what the remote carries: the checkpoint (train, after render: the
    dataset) and the FID statistics. One of each in the one-model, one-dataset DAG."""
    names = run(["dvc", "stage", "list", "--name-only"], repo).stdout.split()
    return [next(n for n in names if n.startswith(prefix)) for prefix in ("train", "fid_stats")]


def test_metrics_and_tables_stay_in_git():
    stages = yaml.safe_load((Path(__file__).resolve().parents[1] / "dvc.yaml").read_text())["stages"]
    declared = [out for name in stages if name.startswith(("evaluate", "table"))
                for out in stages[name].get("metrics", [])]
    declared += [out for name in stages if name.startswith("table") for out in stages[name].get("outs", [])]
    assert declared
    for out in declared:
        assert isinstance(out, dict) and next(iter(out.values())).get("cache") is False, (
            f"{out} would be pushed to the DVC remote; metrics and tables belong in git (cache: false)")


@pytest.mark.slow
def test_dvc_push_then_pull_into_an_empty_cache_restores_outputs_bit_identical(tmp_path):
    repo = make_copy(tmp_path, one_model_one_dataset)
    stages = shared_stages(repo)
    run(["dvc", "repro", *stages], repo)
    # Evaluation networks travel as docs/scale-out.md says: the torch hub folder under the repository
    # (TORCH_HOME=weights), `dvc add`ed. A stand-in file: the tests never download real weights.
    stand_in = repo / "weights" / "hub" / "checkpoints" / "stand-in-weights.pth"
    stand_in.parent.mkdir(parents=True)
    stand_in.write_bytes(hashlib.sha256(b"not a network").digest() * 64)
    run(["dvc", "add", "weights"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "tiny results"], repo)

    cached, in_git = lock_outs(repo)
    cached.append("weights")
    kinds = " ".join(cached)
    for what in ("rotation/RA-20.h5", "checkpoint.pt", "fid_stats/RA-20.npz"):
        assert what in kinds, (what, cached)  # datasets, checkpoints, FID statistics are DVC-cached
    assert any(p.endswith("/live/plots") for p in in_git)
    before = files_under(repo, cached)
    git_before = files_under(repo, in_git)

    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "-d", "shared", str(remote)], repo)
    run(["dvc", "push"], repo)

    # The remote holds every DVC-cached file; what stays in git is nowhere in it.
    remote_files = {p.name for p in remote.rglob("*") if p.is_file()}
    for rel in before:
        assert hashlib.md5((repo / rel).read_bytes()).hexdigest()[2:] in remote_files, f"{rel} not pushed"
    for rel in git_before:
        md5 = hashlib.md5((repo / rel).read_bytes()).hexdigest()
        assert md5[2:] not in remote_files, f"{rel} was pushed to the remote"

    # A fresh machine: no cache, no outputs.
    shutil.rmtree(repo / ".dvc" / "cache")
    for out in cached:
        path = repo / out
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    status = ["dvc", "status", "--json", "--with-deps", *stages, "weights.dvc"]
    assert json.loads(run(status, repo).stdout), "dvc status did not notice the deleted outputs"

    # (Targets: the stages that ran. Without them DVC would also look for outputs of stages never run.)
    run(["dvc", "pull", "--with-deps", *stages, "weights.dvc"], repo)
    assert files_under(repo, cached) == before
    assert files_under(repo, in_git) == git_before
    assert json.loads(run(status, repo).stdout or "{}") == {}
