"""Headless rendering of rotation datasets (issue 4).

`cfa.render.headless` is imported first: it selects EGL and patches NumPy for pyrender before
anything imports pyrender.
"""

from cfa.render import headless  # noqa: F401  (must stay the first import)
from cfa.render.meshes import MeshError, load_mesh, normalise
from cfa.render.procedural import CATEGORIES, procedural_object
from cfa.render.renderer import (RenderResult, RotationRenderer, parse_angles, render_rotation_set,
                                 split_codes)
from cfa.render.sources import SYNSETS, ObjectSpec, Selection, select_objects

__all__ = ["CATEGORIES", "SYNSETS", "MeshError", "ObjectSpec", "RenderResult", "RotationRenderer", "Selection",
           "load_mesh", "normalise", "parse_angles", "procedural_object", "render_rotation_set",
           "select_objects", "split_codes"]
