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
    "pix2pix": "cfa.datasets.makers:pix2pix_from_params",
    "edges2objects": "cfa.datasets.makers:edges2objects_from_params",
    # An existing rotation-set HDF5 (CcGAN's RC-49 file as downloaded, or a render) copied in.
    "h5": "cfa.datasets.rotation_h5:make_from_h5",
    "cells": "cfa.datasets.label_sources:make_cells",
    "utkface": "cfa.datasets.label_sources:make_utkface",
    "cacd": "cfa.datasets.label_sources:make_cacd",
    "steering": "cfa.datasets.label_sources:make_steering",
    "waymo": "cfa.datasets.label_sources:make_waymo",
}


def render_from_params(name: str, spec: dict, params: dict, out: Path, progress: bool = True) -> dict:
    from cfa.datasets.labelled_render import labelled_render_attrs
    from cfa.render import render_rotation_set

    # The file records the entry's kind: a rendered set may be read as `labelled` (angle = label).
    return render_rotation_set(out, progress=progress, attrs=labelled_render_attrs(name, spec),
                               **render_options(params, name)).manifest


def pix2pix_from_params(name: str, spec: dict, params: dict, out: Path, progress: bool = True) -> dict:
    """A downloaded pix2pix set (datasets.<name>: name, size, direction, root) as paired images."""
    from cfa.datasets.catalog import pix2pix_root
    from cfa.datasets.pix2pix_sets import prepare_pix2pix

    return prepare_pix2pix(spec["name"], pix2pix_root(params, spec), out, size=int(spec["size"]),
                           direction=spec.get("direction"), progress=progress, dataset=name, kind=spec["kind"])


def edges2objects_from_params(name: str, spec: dict, params: dict, out: Path, progress: bool = True) -> dict:
    """The built-in line drawing -> render set; keys not given take `cfa prepare edges2objects`'s defaults."""
    from cfa.datasets import edges2objects

    options = {k: spec[k] for k in ("categories", "objects", "views", "size", "seed", "holdout", "workers")
               if spec.get(k) is not None}
    return edges2objects.prepare_edges2objects(out, progress=progress, dataset=name, kind=spec["kind"], **options)


def make_dataset(params: dict, name: str, out: str | Path, progress: bool = True) -> dict:
    """Make dataset `name` as params.yaml defines it into `out` (HDF5 + manifest); its manifest."""
    spec = spec_of(params, name)
    source = spec["source"]
    if source not in MAKERS:
        raise UserError(f"datasets.{name}.source = {source!r}: no maker for it (known: {', '.join(MAKERS)})")
    module, func = MAKERS[source].split(":")
    return getattr(importlib.import_module(module), func)(name, spec, params, Path(out), progress)
