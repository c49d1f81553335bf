# Evaluation: real-data FID statistics once per dataset, then every trained run scored with its
# table's metrics, and a sweep of samples per run (the paper's qualitative figures).


rule fid_stats:
    input:
        data=lambda wc: data_file(wc.dataset),
    output:
        stats=f"{RESULTS}/fid_stats/{{dataset}}.npz",
    log:
        f"{LOGS}/fid_stats/{{dataset}}.log",
    params:
        cfg=params_json("profile", "evaluate", "metrics", "seed"),
        code=code_digest("stats", workflow.basedir),
        sets=set_flags("evaluate", "metrics", "seed"),
    resources:
        gpu=1,
    shell:
        "cfa stats --data {input.data} --out {output.stats}{params.sets} > {log} 2>&1"


rule evalnets:
    input:
        data=lambda wc: data_file(wc.dataset),
    output:
        directory(f"{RESULTS}/evalnets/{{dataset}}"),
    log:
        f"{LOGS}/evalnets/{{dataset}}.log",
    params:
        cfg=lambda wc: params_json("profile", "evalnets", "seed", f"tables.{TABLE_OF[wc.dataset]}.metrics"),
        code=code_digest("evalnet", workflow.basedir),
        sets=lambda wc: set_flags("evalnets", "seed", f"tables.{TABLE_OF[wc.dataset]}.metrics"),
    resources:
        gpu=1,
    shell:
        "cfa evalnet --data {input.data} --out {output}{params.sets} > {log} 2>&1"


rule evaluate:
    input:
        data=lambda wc: data_file(wc.dataset),
        stats=stats_input,
        evalnets=evalnets_input,
        checkpoint=f"{RUNS}/{{model}}/{{dataset}}/checkpoint.pt",
        info=f"{RUNS}/{{model}}/{{dataset}}/run.json",
    output:
        metrics=f"{RESULTS}/metrics/{{table}}/{{model}}/{{dataset}}.json",
        figure=report(f"{RESULTS}/figures/{{table}}/evaluation/{{model}}/{{dataset}}.png", category="Figures",
                      subcategory="Evaluation", labels={"model": "{model}", "dataset": "{dataset}"}),
    log:
        f"{LOGS}/evaluate/{{table}}/{{model}}/{{dataset}}.log",
    params:
        run=run_dir,
        stats=lambda wc, input: f" --fid-stats {input.stats[0]}" if input.stats else "",
        evalnets=lambda wc, input: f" --evalnets {input.evalnets[0]}" if input.evalnets else "",
        cfg=lambda wc: params_json("profile", "evaluate", "metrics", "seed", f"tables.{wc.table}.metrics"),
        code=code_digest("evaluate", workflow.basedir),
        sets=lambda wc: set_flags("evaluate", "metrics", "seed", f"tables.{wc.table}.metrics"),
    resources:
        gpu=1,
    shell:
        "cfa evaluate --run {params.run} --data {input.data}{params.stats}{params.evalnets} --out {output.metrics}"
        " --figure {output.figure}{params.sets} > {log} 2>&1"


rule sample:
    input:
        checkpoint=f"{RUNS}/{{model}}/{{dataset}}/checkpoint.pt",
        info=f"{RUNS}/{{model}}/{{dataset}}/run.json",
    output:
        directory(f"{RESULTS}/figures/{{table}}/samples/{{model}}/{{dataset}}"),
    log:
        f"{LOGS}/sample/{{table}}/{{model}}/{{dataset}}.log",
    params:
        run=run_dir,
        # The sweep of the table's figure (e.g. Figure 5: 0.1 to 89.9 deg), from its module.
        t=lambda wc: table_module(wc.table).sample_sweep(P),
        code=code_digest("sample", workflow.basedir),
    shell:
        # No --set: a sample reads everything it needs from the run's checkpoint.
        "cfa sample --checkpoint {params.run} --t {params.t} --out {output} > {log} 2>&1"
