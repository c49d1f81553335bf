# Training: one rule per model, the dataset a (constrained) wildcard. GPU jobs declare gpu=1 and the
# workflow profile (profiles/default) caps gpu at 1, so two trainings never share a GPU.

for _model in MODELS:

    rule:
        name: f"train_{slug(_model)}"
        input:
            data=f"{DATA}/rotation/{{dataset}}.h5",
        output:
            checkpoint=f"{RUNS}/{_model}/{{dataset}}/checkpoint.pt",
            info=f"{RUNS}/{_model}/{{dataset}}/run.json",
            curves=report(f"{RUNS}/{_model}/{{dataset}}/curves.png", category="Training curves",
                          subcategory=_model, labels={"model": _model, "dataset": "{dataset}"}),
        params:
            model=_model,
            run=lambda wc, model=_model: f"{RUNS}/{model}/{wc.dataset}",
            cfg=params_json("profile", "seed", f"models.{_model}", "train"),
        resources:
            gpu=1,
        threads: 2
        shell:
            "cfa train --model {params.model} --data {input.data} --out {params.run}" + SET_FLAGS
