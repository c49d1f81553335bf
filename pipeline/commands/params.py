"""`cfa params`: validate and show the resolved configuration."""

from __future__ import annotations

import json

import yaml

from cfa.config import get_key
from pipeline.common import add_params_arguments, params_from_args

NAME = "params"
HELP = "validate params.yaml and print the resolved configuration"
DESCRIPTION = """Validate params.yaml against the schema (cfa/params.schema.json), apply the
selected profile and any --set overrides, and print the result.

  cfa params                         # the resolved paper-scale configuration
  cfa params --set profile=demo      # what the demo runs with
  cfa params --key models.pix2pix-cfa.atoms --json
"""


def add_arguments(p) -> None:
    p.add_argument("--key", help="print only this dotted key")
    p.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    add_params_arguments(p)


def run(args) -> int:
    params = params_from_args(args)
    value = get_key(params, args.key) if args.key else params
    if args.json:
        print(json.dumps(value, indent=2))
    else:
        print(yaml.safe_dump(value, sort_keys=False).rstrip())
    return 0
