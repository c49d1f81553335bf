# Training: one job per (model, dataset) pair of a table. GPU jobs declare gpu=1 and the workflow
# profile (profiles/default) caps gpu at 1, so two trainings never share a GPU.


rule train:
    input:
        data=lambda wc: data_file(wc.dataset),
    output:
        checkpoint=f"{RUNS}/{{model}}/{{dataset}}/checkpoint.pt",
        info=f"{RUNS}/{{model}}/{{dataset}}/run.json",
        curves=report(f"{RUNS}/{{model}}/{{dataset}}/curves.png", category="Training curves",
                      subcategory="{model}", labels={"model": "{model}", "dataset": "{dataset}"}),
    log:
        f"{LOGS}/train/{{model}}/{{dataset}}.log",
    params:
        run=lambda wc, output: os.path.dirname(output.checkpoint),
        # A dataset may carry its own training settings (datasets.<d>.train, over train.*).
        cfg=lambda wc: params_json("profile", f"models.{wc.model}", "train", f"datasets.{wc.dataset}"),
        code=code_digest("train", workflow.basedir),
        sets=lambda wc: set_flags(f"models.{wc.model}", "train", f"datasets.{wc.dataset}.train"),
    resources:
        gpu=1,
    threads: 2
    shell:
        "cfa train --model {wildcards.model} --data {input.data} --out {params.run}{params.sets} > {log} 2>&1"
