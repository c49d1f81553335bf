# Rotation sets (Table 2): one render rule per dataset, each calling `cfa render`.
# In rules made in a loop, the shell command must take loop values from `params`: Snakemake
# evaluates the command when the job runs, after the loop variable has moved on.

for _ds in DATASETS:

    rule:
        name: f"render_{slug(_ds)}"
        output:
            h5=f"{DATA}/rotation/{_ds}.h5",
            manifest=f"{DATA}/rotation/{_ds}.json",
        params:
            dataset=_ds,
            cfg=params_json("profile", f"rotation_sets.{_ds}", "render"),
        shell:
            "cfa render --dataset {params.dataset} --out {output.h5}" + SET_FLAGS
