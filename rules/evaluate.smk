# Evaluation: real-data FID statistics once per dataset, then one evaluate rule per model.


rule fid_stats:
    input:
        data=f"{DATA}/rotation/{{dataset}}.h5",
    output:
        stats=f"{RESULTS}/fid_stats/{{dataset}}.npz",
    params:
        cfg=params_json("profile", "evaluate", "metrics"),
    resources:
        gpu=1,
    shell:
        "cfa evaluate --data {input.data} --fid-stats {output.stats}" + SET_FLAGS


for _model in MODELS:

    rule:
        name: f"evaluate_{slug(_model)}"
        input:
            data=f"{DATA}/rotation/{{dataset}}.h5",
            stats=f"{RESULTS}/fid_stats/{{dataset}}.npz",
            checkpoint=f"{RUNS}/{_model}/{{dataset}}/checkpoint.pt",
            info=f"{RUNS}/{_model}/{{dataset}}/run.json",
        output:
            metrics=f"{RESULTS}/metrics/{_model}/{{dataset}}.json",
            figure=report(f"{RESULTS}/figures/interpolation/{_model}/{{dataset}}.png",
                          category="Figures", subcategory="Unseen-angle interpolation (Figure 3)"),
        params:
            run=lambda wc, model=_model: f"{RUNS}/{model}/{wc.dataset}",
            cfg=params_json("profile", "evaluate", "metrics"),
        resources:
            gpu=1,
        shell:
            "cfa evaluate --run {params.run} --data {input.data}"
            " --fid-stats {input.stats} --out {output.metrics} --figure {output.figure}" + SET_FLAGS

    rule:
        name: f"figure_{slug(_model)}"
        input:
            checkpoint=f"{RUNS}/{_model}/{{dataset}}/checkpoint.pt",
            info=f"{RUNS}/{_model}/{{dataset}}/run.json",
        output:
            directory(f"{RESULTS}/figures/rotation/{_model}/{{dataset}}"),
        params:
            run=lambda wc, model=_model: f"{RUNS}/{model}/{wc.dataset}",
            t=f"0.1:90:{P['evaluate']['figure_step_deg']}",
            cfg=params_json("profile", "evaluate.figure_step_deg"),
        shell:
            # No --set: a sample reads everything it needs from the run's checkpoint.
            "cfa sample --checkpoint {params.run} --t {params.t} --out {output}"
