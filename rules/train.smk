# Training: one job per (model, dataset) pair of a table. A training declares train.gpus_per_job GPUs
# (its data-parallel processes) and the workflow profile caps the machine's GPUs, so two trainings
# never share one; on a multi-GPU box, CFA_GPU_SLOTS hands each job its own (docs/scale-out.md).


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
        nproc=P["train"]["gpus_per_job"],
    resources:
        gpu=P["train"]["gpus_per_job"],
    threads: 2
    shell:
        "cfa train --model {wildcards.model} --data {input.data} --out {params.run}"
        " --nproc-per-node {params.nproc}{params.sets} > {log} 2>&1"
