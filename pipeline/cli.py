"""The `cfa` console script.

Each module in `pipeline/commands/` is one subcommand: it defines NAME, HELP, DESCRIPTION,
`add_arguments(parser)` and `run(args) -> int | None`. Heavy imports (torch, pyrender) belong
inside `run`, so that `cfa --help` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from cfa.errors import UserError

import pipeline.commands as _commands


def _command_modules():
    for info in sorted(pkgutil.iter_modules(_commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"pipeline.commands.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cfa",
        description="Image generation with continuous filter atoms: render and prepare datasets, "
                    "train, sample, evaluate and build the paper's tables. Every command reads "
                    "params.yaml (see `cfa params`).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Headless rendering must be chosen before anything imports pyrender / PyOpenGL.
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args._argv = argv  # for commands that re-run themselves (cfa train --nproc-per-node)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    try:
        rc = args._run(args)
    except UserError as e:
        print(f"cfa {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cfa {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
