"""`cfa table N`: assemble one of the paper's tables from `cfa evaluate` metrics files."""

from __future__ import annotations

from pathlib import Path

from pipeline.common import add_params_arguments, params_from_args

NAME = "table"
HELP = "assemble a paper table (Markdown, CSV, LaTeX, DVC JSON) from metrics files"
DESCRIPTION = """Assemble the paper's Table N from `cfa evaluate --run` metrics files, with the
paper's reported values in adjacent columns and every cell's provenance (data source, image
counts, pretrained or offline backbones) in the CSV/JSON and the footnotes. Datasets/models
without a metrics file are shown as missing, never filled in.

  cfa table 2 --metrics results/demo/metrics/*.json --out results/demo/table2
      -> table2.md, table2.csv, table2.tex, table2.json (the DVC metrics file)
  cfa table 2 --metrics M1.json M2.json --out-dir results/demo
  cfa table 2 --metrics-dir results/demo/metrics --out-dir results/demo
      -> reads DIR/<model>/<dataset>.json for the models and datasets of params.yaml
         `tables.table2` (what Snakemake and DVC run)
"""


def add_arguments(p) -> None:
    p.add_argument("number", type=int, help="the table number (implemented: 2)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--metrics", nargs="+", metavar="JSON",
                     help="metrics files written by `cfa evaluate --run`")
    src.add_argument("--metrics-dir", metavar="DIR",
                     help="read DIR/<model>/<dataset>.json for every model and dataset listed in "
                          "params.yaml tables.tableN")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--out", metavar="PREFIX",
                   help="write PREFIX.md, PREFIX.csv, PREFIX.tex and PREFIX.json")
    g.add_argument("--out-dir", metavar="DIR", help="write DIR/tableN.{md,csv,tex,json}")
    add_params_arguments(p)


def metrics_files_from_dir(directory: Path, params: dict, number: int) -> list[Path]:
    """The metrics files of a table as the workflow lays them out; a missing one is an error."""
    from cfa.errors import UserError

    key = f"table{number}"
    spec = params["tables"].get(key)
    if spec is None:
        raise UserError(f"params.yaml has no tables.{key} (known: {', '.join(params['tables'])})")
    files = [directory / model / f"{ds}.json" for model in spec["models"] for ds in spec["datasets"]]
    absent = [str(f) for f in files if not f.is_file()]
    if absent:
        raise UserError("metrics files missing (run `cfa evaluate --run ...` for them first): " + ", ".join(absent))
    return files


def run(args) -> int:
    from cfa.errors import UserError
    from cfa.tables.table2 import SPECS, assemble, load_metrics_files
    from cfa.tables.writers import write_all

    if args.number not in SPECS:
        raise UserError(f"table {args.number} is not implemented yet; available: "
                        f"{', '.join(map(str, sorted(SPECS)))}")
    spec = SPECS[args.number]
    if args.metrics_dir:
        files = metrics_files_from_dir(Path(args.metrics_dir), params_from_args(args), args.number)
    else:
        files = args.metrics
    table = assemble(spec, load_metrics_files(files))
    prefix = Path(args.out) if args.out else Path(args.out_dir) / f"table{args.number}"
    for path in write_all(spec, table, prefix):
        print(path)
    for w in table["caption_warnings"]:
        print(f"cfa table: WARNING: {w}")
    if table["missing"]:
        print("cfa table: missing (shown as n/a): "
              + ", ".join(f"{d} {m}" for d, m in table["missing"]))
    return 0
