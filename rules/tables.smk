# Tables and the targets: `snakemake table2` builds Table 2 and its figures; `figures` every figure.


rule table:
    input:
        metrics=table_metrics_inputs,
    output:
        md=report(f"{RESULTS}/{{table}}.md", category="Tables"),
        csv=f"{RESULTS}/{{table}}.csv",
        tex=f"{RESULTS}/{{table}}.tex",
        json=f"{RESULTS}/{{table}}.json",
        details=f"{RESULTS}/{{table}}.details.json",
    log:
        f"{LOGS}/{{table}}.log",
    params:
        metrics_dir=lambda wc, input: os.path.dirname(os.path.dirname(input.metrics[0])),
        out_dir=lambda wc, output: os.path.dirname(output.md),
        cfg=lambda wc: params_json("profile", f"tables.{wc.table}"),
        code=code_digest("table", workflow.basedir),
        sets=lambda wc: set_flags(f"tables.{wc.table}"),
    shell:
        "cfa table {wildcards.table} --metrics-dir {params.metrics_dir} --out-dir {params.out_dir}{params.sets}"
        " > {log} 2>&1"


# One target per table of params.yaml: its four files and every figure of its runs.
for _table in TABLES:

    rule:
        name: _table
        input:
            table_outputs(_table),
            table_figures(_table),


# The page that shows every table and figure (what `make demo` tells a reader to open).
rule index:
    input:
        [table_outputs(t) + table_figures(t) for t in TABLES],
    output:
        report(f"{RESULTS}/index.md", category="Index"),
    log:
        f"{LOGS}/index.log",
    params:
        cfg=lambda wc: params_json("profile", "paths", "tables"),
        code=code_digest("index", workflow.basedir),
        sets=lambda wc: set_flags("tables"),
    shell:
        "cfa index --out {output}{params.sets} > {log} 2>&1"


rule figures:
    input:
        [table_figures(t) for t in TABLES],
