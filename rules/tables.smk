# Tables and figure targets.


rule table2:
    input:
        metrics=expand(f"{RESULTS}/metrics/{{model}}/{{dataset}}.json", model=MODELS, dataset=DATASETS),
    output:
        md=report(f"{RESULTS}/table2.md", category="Table 2"),
        csv=f"{RESULTS}/table2.csv",
        tex=f"{RESULTS}/table2.tex",
        json=f"{RESULTS}/table2.json",
    params:
        metrics_dir=f"{RESULTS}/metrics",
        out_dir=RESULTS,
        cfg=params_json("profile", "tables.table2"),
    shell:
        "cfa table 2 --metrics-dir {params.metrics_dir} --out-dir {params.out_dir}" + SET_FLAGS


rule figures:
    input:
        expand(f"{RESULTS}/figures/rotation/{{model}}/{{dataset}}", model=MODELS, dataset=DATASETS),
        expand(f"{RESULTS}/figures/interpolation/{{model}}/{{dataset}}.png", model=MODELS, dataset=DATASETS),
