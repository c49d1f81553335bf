"""One module per `cfa` subcommand (see pipeline/cli.py for the protocol)."""
