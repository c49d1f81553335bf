# Rotation sets (Table 2): one render rule per dataset, each calling `cfa render`.

for _ds in DATASETS:

    rule:
        name: f"render_{slug(_ds)}"
        output:
            h5=f"{DATA}/rotation/{_ds}.h5",
            manifest=f"{DATA}/rotation/{_ds}.json",
        params:
            cfg=params_json("profile", f"rotation_sets.{_ds}", "render"),
        shell:
            f"cfa render --dataset {_ds} --out {{output.h5}}{SET_FLAGS}"
