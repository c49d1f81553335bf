"""Helpers shared by the subcommands: the params options and their loading."""

from __future__ import annotations

import argparse
import os

from cfa.config import load_params


def add_params_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("configuration")
    g.add_argument("--params", default="params.yaml", metavar="FILE",
                   help="the params file (default: %(default)s)")
    g.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a params key (dotted, YAML value), e.g. --set profile=demo or "
                        "--set models.pix2pix.optim.lr=1e-4; repeatable")


def params_from_args(args: argparse.Namespace) -> dict:
    params = load_params(args.params, args.overrides)
    if os.environ.get("DVC_STAGE"):
        _check_dvc_sees_the_same_tables(args, params)
    return params


def _check_dvc_sees_the_same_tables(args: argparse.Namespace, params: dict) -> None:
    """Under `dvc repro`, the stages were expanded from the tables' lists as params.yaml writes them;
    a profile that changes those lists would make DVC run another DAG than the profile means."""
    from cfa.config import profile_table_overrides, read_yaml
    from cfa.errors import UserError

    changed = profile_table_overrides(read_yaml(args.params), params)
    if changed:
        sets = " ".join(f"-S '{c}'" for c in changed)
        raise UserError(f"profile {params['profile']!r} changes table lists ({', '.join(changed)}), but DVC "
                        f"built its stages from the lists written in {args.params}. Run this profile with "
                        f"Snakemake, or give DVC the lists: dvc exp run -S profile={params['profile']} {sets}")

