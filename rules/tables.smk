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
        cfg=params_json("profile", "tables.table2"),
    shell:
        f"cfa table 2 --metrics-dir {RESULTS}/metrics --out-dir {RESULTS}{SET_FLAGS}"


rule figures:
    input:
        expand(f"{RESULTS}/figures/rotation/{{model}}/{{dataset}}", model=MODELS, dataset=DATASETS),
        expand(f"{RESULTS}/figures/interpolation/{{model}}/{{dataset}}.png", model=MODELS, dataset=DATASETS),
