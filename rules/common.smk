# Shared set-up: resolve and validate params, paths per profile, wildcard constraints, the keys and
# code each job depends on, and the up-front check that every raw input exists (before any job runs).

import json
import os
import re
import shlex
import sys

from cfa.config import overrides_between, read_yaml, resolve
from cfa.datasets.catalog import data_path
from cfa.errors import UserError
from cfa.metrics.suite import evalnets_needed
from cfa.tables import table_module
from cfa.workflow import (clear_stale_snakemake_locks, code_digest, job_overrides, missing_raw_inputs,
                          requested_tables)

report: "../report/workflow.rst"

# Overrides given with --config, as `key=value` strings; each job gets those of the keys it reads.
OVERRIDES = overrides_between(read_yaml("params.yaml"), config)
try:
    P = resolve(read_yaml("params.yaml"), OVERRIDES, origin="params.yaml (+ --config)")
except UserError as e:
    sys.exit(f"cfa workflow: {e}")

PROFILE = P["profile"]
DATA = f"{P['paths']['data']}/{PROFILE}"
RUNS = f"{P['paths']['runs']}/{PROFILE}"
RESULTS = f"{P['paths']['results']}/{PROFILE}"
LOGS = f"logs/{PROFILE}"
TABLES = P["tables"]
TABLE_OF = {ds: t for t, spec in TABLES.items() for ds in spec["datasets"]}
DATASETS = list(TABLE_OF)
MODELS = sorted({m for spec in TABLES.values() for m in spec["models"]})


def data_file(dataset):
    return str(data_path(P, dataset))


def params_json(*keys):
    """The resolved values a job reads, as a string: Snakemake reruns the job when it changes."""
    out = {}
    for key in keys:
        node = P
        for k in key.split("."):
            node = node[k]
        out[key] = node
    return json.dumps(out, sort_keys=True)


def set_flags(*keys):
    """` --set key=value` for each --config override that changes one of `keys` (or the profile)."""
    return "".join(f" --set {shlex.quote(s)}" for s in job_overrides(OVERRIDES, list(keys), PROFILE))


def run_dir(wildcards, input):
    return os.path.dirname(input.checkpoint)


def table_outputs(table):
    return [f"{RESULTS}/{table}.{ext}" for ext in ("md", "csv", "tex", "json", "details.json")]


def table_figures(table):
    spec = TABLES[table]
    return (expand(f"{RESULTS}/figures/{table}/samples/{{model}}/{{dataset}}", model=spec["models"],
                   dataset=spec["datasets"])
            + expand(f"{RESULTS}/figures/{table}/evaluation/{{model}}/{{dataset}}.png", model=spec["models"],
                     dataset=spec["datasets"]))


def stats_input(wildcards):
    """The real images' FID statistics, for tables that report FID."""
    return [f"{RESULTS}/fid_stats/{wildcards.dataset}.npz"] if "fid" in TABLES[wildcards.table]["metrics"] else []


def evalnets_input(wildcards):
    """The dataset's evaluation networks, for tables whose metrics read them."""
    return [f"{RESULTS}/evalnets/{wildcards.dataset}"] if evalnets_needed(TABLES[wildcards.table]["metrics"]) else []


def table_metrics_inputs(wildcards):
    spec = TABLES[wildcards.table]
    return expand(f"{RESULTS}/metrics/{wildcards.table}/{{model}}/{{dataset}}.json", model=spec["models"],
                  dataset=spec["datasets"])


wildcard_constraints:
    dataset="|".join(re.escape(d) for d in DATASETS),
    model="|".join(re.escape(m) for m in MODELS),
    table="|".join(TABLES),
    folder="rotation|paired|unpaired|labelled",


# A Snakemake killed earlier (SIGKILL, power loss) left its directory locks: with no other Snakemake
# of this workflow alive they are stale, and the same command runs again (its killed trainings
# resume from their run directories' resume state).
if clear_stale_snakemake_locks(os.getcwd()):
    print("cfa workflow: removed the directory locks a killed Snakemake left behind", file=sys.stderr)

# Only the tables this command line asks for must have their raw data.
_wanted = requested_tables(sys.argv[1:], list(TABLES))
_missing = missing_raw_inputs(P, [ds for t in _wanted for ds in TABLES[t]["datasets"]])
if _missing:
    sys.exit("cfa workflow: input data is missing for %s (profile: %s); nothing was run.\n%s\n"
             "Or run the built-in demo: snakemake all --cores 8 --config profile=demo"
             % (", ".join(_wanted), PROFILE, "\n".join(f"  - {m}" for m in _missing)))


onsuccess:
    made = [f"{RESULTS}/{t}.md" for t in TABLES if os.path.exists(f"{RESULTS}/{t}.md")]
    if made:
        print("\ncfa: " + ", ".join(made) + f" (.csv .tex .json beside each); figures -> {RESULTS}/figures/")
    if os.path.exists(f"{RESULTS}/index.md"):
        print(f"cfa: every table and figure: open {RESULTS}/index.md")
