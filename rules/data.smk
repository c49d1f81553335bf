# Datasets: `cfa prepare --dataset NAME` makes any dataset params.yaml defines (renders rotation
# sets, simulates cells, converts downloads) into data/<profile>/<kind folder>/NAME.h5 + manifest.


rule dataset:
    output:
        h5=f"{DATA}/{{folder}}/{{dataset}}.h5",
        manifest=f"{DATA}/{{folder}}/{{dataset}}.json",
    log:
        f"{LOGS}/dataset/{{folder}}/{{dataset}}.log",
    params:
        cfg=lambda wc: params_json("profile", f"datasets.{wc.dataset}", "render", "paths.shapenet"),
        code=code_digest("prepare", workflow.basedir),
        sets=lambda wc: set_flags(f"datasets.{wc.dataset}", "render", "paths"),
    shell:
        "cfa prepare --dataset {wildcards.dataset} --out {output.h5}{params.sets} > {log} 2>&1"
