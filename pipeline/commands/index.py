"""`cfa index`: one Markdown page with every table and figure of a profile's results."""

from __future__ import annotations

from pipeline.common import add_params_arguments

NAME = "index"
HELP = "write results/<profile>/index.md: every table and figure of the run, linked"
DESCRIPTION = """Write one page that shows every table of params.yaml `tables` (each table's Markdown
inlined, its CSV/LaTeX/JSON linked) and every figure made for it (evaluation figures, sample sweeps,
training curves), with paths relative to the page. Tables or figures not produced yet are listed as
missing. `snakemake all` and `dvc repro` end with it; `make demo` prints its path.

  cfa index --set profile=demo                     -> results/demo/index.md
  cfa index --tables table2 --out /tmp/t2.md
"""


def add_arguments(p) -> None:
    p.add_argument("--out", metavar="INDEX.md", help="where to write it (default: <paths.results>/<profile>/index.md)")
    p.add_argument("--tables", metavar="NAMES", help="comma-separated tables (default: every table of params)")
    add_params_arguments(p)


def run(args) -> int:
    from pathlib import Path

    from cfa.errors import UserError
    from cfa.results_index import write_index
    from pipeline.common import params_from_args

    params = params_from_args(args)
    tables = [t.strip() for t in args.tables.split(",")] if args.tables else None
    unknown = [t for t in tables or [] if t not in params["tables"]]
    if unknown:
        raise UserError(f"--tables: {', '.join(unknown)} not in params.yaml tables "
                        f"(known: {', '.join(params['tables'])})")
    out = Path(args.out) if args.out else Path(params["paths"]["results"]) / params["profile"] / "index.md"
    result = write_index(params, out, tables)
    if result["missing"]:
        print(f"cfa index: not produced yet (listed in the index): {', '.join(result['missing'])}")
    print(f"cfa index: open {out}")
    return 0
