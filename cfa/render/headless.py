"""The one place that prepares headless OpenGL rendering; import it before pyrender.

Two things must happen before `pyrender` (and with it PyOpenGL) is first imported:

* PyOpenGL picks its platform at import time. Without a display it needs `PYOPENGL_PLATFORM=egl`
  (Mesa's EGL renders on the CPU through llvmpipe, and on a GPU when one is present). A user who
  sets another platform (e.g. `osmesa`) keeps it.
* pyrender 0.1.45 still uses `np.infty`, which NumPy 2 removed; we restore the alias.

`cfa/render/__init__.py` imports this module first, so `import cfa.render` is always safe.
"""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

if not hasattr(np, "infty"):
    np.infty = np.inf  # pyrender 0.1.45 mesh bounds; removed in NumPy 2.0


def platform() -> str:
    """The PyOpenGL platform in use (recorded in manifests)."""
    return os.environ["PYOPENGL_PLATFORM"]
