"""What the workflows (Snakefile, dvc.yaml) need from the library: missing inputs, the keys and the
code each job depends on.

- `missing_raw_inputs`: checked before any job runs; one line per missing download.
- `job_overrides`: of the `--config` overrides, those that change what a job reads, so that a job
  gets (and reruns on) only its own keys.
- `command_code`: the project files a `cfa` subcommand imports, transitively, so that a job reruns
  when its code changes (Snakemake hashes them; dvc.yaml declares them, checked by a test).
"""

from __future__ import annotations

import ast
import hashlib
import re
from functools import lru_cache
from pathlib import Path

from cfa.datasets.catalog import raw_inputs_missing

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cfa", "pipeline")
_REGISTERED = re.compile(r"^(cfa|pipeline)(\.\w+)+(:\w+)?$")


def missing_raw_inputs(params: dict, datasets: list[str]) -> list[str]:
    """One line per missing input (what, where, how to obtain it); empty when all is there."""
    lines: list[str] = []
    for name in datasets:
        for line in raw_inputs_missing(params, name):
            if line not in lines:
                lines.append(line)
    return lines


def requested_tables(argv: list[str], tables: list[str]) -> list[str]:
    """The tables a Snakemake command line asks for (its targets), so that only their datasets must
    be present: `snakemake table2` needs no UTKFace. No target, `all`, `figures` or any other file
    target counts as every table."""
    import contextlib
    import io

    try:
        from snakemake.cli import get_argument_parser

        with contextlib.redirect_stderr(io.StringIO()):
            targets = list(get_argument_parser().parse_args(argv).targets or [])
    except (SystemExit, Exception):  # not a Snakemake command line: be safe, check everything
        return list(tables)
    chosen: list[str] = []
    for target in targets:
        hits = [t for t in tables if target == t or f"/{t}." in target or f"/{t}/" in target]
        if not hits:
            return list(tables)
        chosen += [t for t in hits if t not in chosen]
    return chosen or list(tables)


_WORKFLOW_LOCK: list[int] = []  # the fd of our workflow lock, held for the process's lifetime


def clear_stale_snakemake_locks(workdir: str | Path) -> bool:
    """Remove Snakemake's directory locks when no other Snakemake of this workflow is alive.

    Snakemake locks the working directory with plain files, which a killed Snakemake leaves behind;
    the next run then refuses to start until `--unlock`. This process takes an OS lock (released by
    the kernel however a process dies) on .snakemake/cfa-workflow.lock while it parses and runs the
    workflow: if it gets it, no other Snakemake of this workflow runs here, so any remaining
    Snakemake lock is stale and is removed, and the same command simply runs again after a kill.
    Returns True when stale locks were removed.
    """
    from cfa.locks import try_lock

    state = Path(workdir) / ".snakemake"
    state.mkdir(parents=True, exist_ok=True)
    if not _WORKFLOW_LOCK:
        fd = try_lock(state / "cfa-workflow.lock")
        if fd is None:
            return False  # another Snakemake of this workflow is running: its locks are real
        _WORKFLOW_LOCK.append(fd)
    stale = list((state / "locks").glob("*.lock")) if (state / "locks").is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return bool(stale)


def _override_key(override: str, profile: str) -> str | None:
    """The dotted key an override changes in the resolved params (None: a profile not in use)."""
    key = override.split("=", 1)[0]
    parts = key.split(".")
    if parts[0] == "profiles":
        if len(parts) < 3 or parts[1] != profile:
            return None
        return ".".join(parts[2:])
    return key


def job_overrides(overrides: list[str], keys: list[str], profile: str) -> list[str]:
    """The overrides that change one of `keys` (dotted; a key covers everything below it).

    `profile=...` always travels: it selects the values of every key.
    """
    selected = []
    for override in overrides:
        key = _override_key(override, profile)
        if key is None:
            continue
        if key == "profile" or any(key == k or key.startswith(k + ".") or k.startswith(key + ".") for k in keys):
            selected.append(override)
    return selected


# ---- the code a command runs ------------------------------------------------------------------

def _module_file(module: str, root: Path) -> Path | None:
    parts = module.split(".")
    if parts[0] not in PACKAGES:
        return None
    base = root.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _imports(path: Path, root: Path) -> set[str]:
    """Every module a file imports, at any depth of its code (imports inside functions count)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts)
    if path.name == "__init__.py":
        package = package.rsplit(".", 1)[0] if "." in package else package
        package += ".__init__"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: -node.level]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    # A module "a.b.c" also runs its packages' __init__ files.
    with_parents = set(found)
    for m in found:
        parts = m.split(".")
        with_parents.update(".".join(parts[:i]) for i in range(1, len(parts)))
    # Registries name their plug-ins as strings, "package.module" or "package.module:Class".
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _REGISTERED.match(node.value):
            with_parents.add(node.value.split(":", 1)[0])
    return with_parents


@lru_cache(maxsize=None)
def command_code(command: str, root: str | Path = ROOT) -> tuple[str, ...]:
    """Paths (relative to the repository `root`) of every project file `cfa <command>` may import."""
    root = Path(root).resolve()
    start = root / "pipeline" / "commands" / f"{command}.py"
    if not start.is_file():
        raise ValueError(f"no command module {start}")
    seen: set[Path] = set()
    todo = [start, root / "pipeline" / "cli.py"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in _imports(path, root):
            target = _module_file(module, root)
            if target is not None and target not in seen:
                todo.append(target)
    json_files = set((root / "cfa").glob("*.json"))  # the params schema travels with config.py
    return tuple(sorted(str(p.relative_to(root)) for p in seen | json_files))


def code_digest(command: str, root: str | Path = ROOT) -> str:
    """A digest of the files `cfa <command>` runs: a job's params carry it, so edits rerun it."""
    root = Path(root).resolve()
    h = hashlib.sha256()
    for rel in command_code(command, root):
        h.update(rel.encode())
        h.update((root / rel).read_bytes())
    return h.hexdigest()[:16]
