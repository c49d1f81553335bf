"""Making the datasets params.yaml names: one maker per `source`, registered in `MAKERS`.

A new source is one function (here or in its own module) plus its params schema entry and, if it
needs a download, a check in `cfa.datasets.catalog.RAW_CHECKS`; nothing else changes.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from cfa.datasets.catalog import render_options, spec_of
from cfa.errors import UserError

# source -> "module:function(name, spec, params, out, progress) -> manifest"
MAKERS = {
    "shapenet": "cfa.datasets.makers:render_from_params",
    "folder": "cfa.datasets.makers:render_from_params",
    "procedural": "cfa.datasets.makers:render_from_params",
    "cells": "cfa.datasets.label_sources:make_cells",
    "utkface": "cfa.datasets.label_sources:make_utkface",
    "cacd": "cfa.datasets.label_sources:make_cacd",
    "steering": "cfa.datasets.label_sources:make_steering",
    "waymo": "cfa.datasets.label_sources:make_waymo",
}


def render_from_params(name: str, spec: dict, params: dict, out: Path, progress: bool = True) -> dict:
    from cfa.render import render_rotation_set

    return render_rotation_set(out, progress=progress, **render_options(params, name)).manifest


def make_dataset(params: dict, name: str, out: str | Path, progress: bool = True) -> dict:
    """Make dataset `name` as params.yaml defines it into `out` (HDF5 + manifest); its manifest."""
    spec = spec_of(params, name)
    source = spec["source"]
    if source not in MAKERS:
        raise UserError(f"datasets.{name}.source = {source!r}: no maker for it (known: {', '.join(MAKERS)})")
    module, func = MAKERS[source].split(":")
    return getattr(importlib.import_module(module), func)(name, spec, params, Path(out), progress)
