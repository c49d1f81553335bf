"""Helpers shared by the subcommands: the params options and their loading."""

from __future__ import annotations

import argparse

from cfa.config import load_params


def add_params_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("configuration")
    g.add_argument("--params", default="params.yaml", metavar="FILE",
                   help="the params file (default: %(default)s)")
    g.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a params key (dotted, YAML value), e.g. --set profile=demo or "
                        "--set models.pix2pix.optim.lr=1e-4; repeatable")


def params_from_args(args: argparse.Namespace) -> dict:
    return load_params(args.params, args.overrides)
