# The cfa workflow: every table of the paper from raw data (or the built-in procedural default).
#
#   snakemake table2 --cores 8                        paper scale (ShapeNet under data/raw)
#   snakemake table2 --cores 8 --config profile=demo  the built-in demo (what `make demo` runs)
#   snakemake -n table2                               what would run, and what input data is missing
#   snakemake table2 --report report.html             HTML report: tables, figures, training curves
#
# params.yaml is the configuration (validated against cfa/params.schema.json). The tables' lists
# (tables.<t>: datasets, models, metrics) decide what is built: one wildcard rule per step
# (dataset, train, fid_stats, evaluate, sample, table), each job with a log under logs/<profile>/.
# A `--config key=value` override reaches, as `--set`, only the jobs that read that key, and every
# job reruns when its code changes. dvc.yaml describes the same DAG with the same commands
# (tests/test_workflow.py checks that they agree).

from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/tables.smk"


rule all:
    default_target: True
    input:
        rules.index.output,
