"""`cfa table N`: assemble one of the paper's tables from `cfa evaluate` metrics files."""

from __future__ import annotations

from pathlib import Path

from pipeline.common import add_params_arguments, params_from_args

NAME = "table"
HELP = "assemble a paper table (Markdown, CSV, LaTeX, DVC JSON) from metrics files"
DESCRIPTION = """Assemble the paper's Table N from `cfa evaluate` metrics files, with the paper's
reported values beside ours and every cell's provenance (data source, image counts, pretrained or
offline backbones) in the CSV/JSON and the footnotes. Its datasets, models and metrics are params.yaml
`tables.tableN`; a dataset or model the paper does not have appears marked as not in the paper.
Datasets/models without a metrics file are shown as missing, never filled in.

  cfa table 2 --metrics-dir results/demo/metrics --out-dir results/demo --set profile=demo
      -> reads DIR/<model>/<dataset>.json for every model and dataset of tables.table2,
         writes results/demo/table2.{md,csv,tex,json} (the .json is the DVC metrics file)
  cfa table 2 --metrics M1.json M2.json --out results/demo/table2
"""


def add_arguments(p) -> None:
    p.add_argument("number", help="the table: 1, 2, ... (or table1, table2, ...)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--metrics", nargs="+", metavar="JSON", help="metrics files written by `cfa evaluate`")
    src.add_argument("--metrics-dir", metavar="DIR",
                     help="read DIR/<model>/<dataset>.json for every model and dataset of tables.tableN")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--out", metavar="PREFIX", help="write PREFIX.md, PREFIX.csv, PREFIX.tex and PREFIX.json")
    g.add_argument("--out-dir", metavar="DIR", help="write DIR/tableN.{md,csv,tex,json}")
    add_params_arguments(p)


def run(args) -> int:
    from cfa.errors import UserError
    from cfa.tables import table_key, table_module
    from cfa.tables.spec import assemble, build_spec, load_metrics_files
    from cfa.tables.writers import write_all

    key = table_key(args.number)
    module = table_module(key)
    params = params_from_args(args)
    if key not in params["tables"]:
        raise UserError(f"params.yaml has no tables.{key} (known: {', '.join(params['tables'])})")
    entry = params["tables"][key]
    spec = build_spec(module, entry)
    if args.metrics_dir:
        files = [Path(args.metrics_dir) / m / f"{d}.json" for m in entry["models"] for d in entry["datasets"]]
        absent = [str(f) for f in files if not f.is_file()]
        if absent:
            raise UserError("metrics files missing (run `cfa evaluate` for them first): " + ", ".join(absent))
    else:
        files = args.metrics
    table = assemble(spec, load_metrics_files(files))
    prefix = Path(args.out) if args.out else Path(args.out_dir) / key
    for path in write_all(spec, table, prefix):
        print(path)
    for w in table["caption_warnings"]:
        print(f"cfa table: WARNING: {w}")
    if table["missing"]:
        print("cfa table: missing (shown as n/a): " + ", ".join(f"{d} {m}" for d, m in table["missing"]))
    return 0
