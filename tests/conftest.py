"""Shared test set-up: headless rendering, small thread counts, offline backbones only when asked."""

import os

# Must be set before anything imports pyrender / PyOpenGL.
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
# Tests run on 2-core machines next to each other: keep BLAS/OpenMP from oversubscribing.
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
