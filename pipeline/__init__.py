"""Stage entry points of the cfa workflow: one module per `cfa` subcommand in `pipeline.commands`."""
