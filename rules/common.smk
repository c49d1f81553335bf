# Shared set-up: resolve and validate params, paths per profile, wildcard constraints, and the
# up-front check that every raw input exists (before any job runs).

import json
import re
import shlex
import sys
from pathlib import Path

from cfa.config import overrides_between, read_yaml, resolve
from cfa.errors import UserError
from cfa.workflow import missing_raw_inputs

report: "../report/workflow.rst"

# Overrides given with --config travel to every cfa command as --set; none when running params.yaml
# as it is, which keeps the commands identical to dvc.yaml's.
OVERRIDES = overrides_between(read_yaml("params.yaml"), config)
# Braces are doubled because Snakemake formats shell commands.
SET_FLAGS = "".join(f" --set {shlex.quote(s)}" for s in OVERRIDES).replace("{", "{{").replace("}", "}}")
try:
    P = resolve(read_yaml("params.yaml"), OVERRIDES, origin="params.yaml (+ --config)")
except UserError as e:
    sys.exit(f"cfa workflow: {e}")

PROFILE = P["profile"]
DATA = f"{P['paths']['data']}/{PROFILE}"
RUNS = f"{P['paths']['runs']}/{PROFILE}"
RESULTS = f"{P['paths']['results']}/{PROFILE}"
T2 = P["tables"]["table2"]
DATASETS = T2["datasets"]
MODELS = T2["models"]


def slug(name):
    """Rule names must be identifiers: 'pix2pix-cfa' -> 'pix2pix_cfa'."""
    return re.sub(r"\W", "_", name)


def params_json(*keys):
    """The params a job reads, as a string: Snakemake reruns the job when it changes."""
    out = {}
    for key in keys:
        node = P
        for k in key.split("."):
            node = node[k]
        out[key] = node
    return json.dumps(out, sort_keys=True)


wildcard_constraints:
    dataset="|".join(re.escape(d) for d in DATASETS),


_missing = missing_raw_inputs(P, DATASETS)
if _missing:
    sys.exit("cfa workflow: input data is missing (profile: %s); nothing was run.\n%s\n"
             "Or run the built-in demo on procedural meshes: snakemake table2 --cores 8 --config profile=demo"
             % (PROFILE, "\n".join(f"  - {m}" for m in _missing)))


onsuccess:
    table = Path(RESULTS) / "table2.md"
    if table.exists():
        print(f"\ncfa: Table 2 -> {table} (.csv .tex .json beside it); figures -> {RESULTS}/figures/")
