"""Shared test set-up: headless rendering, small thread counts, offline backbones only when asked."""

import os
from pathlib import Path

import pytest

# Must be set before anything imports pyrender / PyOpenGL.
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
# Tests run on 2-core machines next to each other: keep BLAS/OpenMP from oversubscribing.
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

# torch.optim loads torch._dynamo (and triton) on first use; importing triton after pyrender has set up
# EGL in the same process segfaults, so load it before any test renders, whatever the test order.
import torch._dynamo  # noqa: E402,F401


@pytest.fixture(scope="module")
def rotation_set(tmp_path_factory) -> Path:
    """A tiny real rotation set: 2 procedural chairs, 0..80 deg every 10 deg, 32x32, grid:20 split."""
    from cfa.render import render_rotation_set

    out = tmp_path_factory.mktemp("data") / "tiny.h5"
    render_rotation_set(out, source="procedural", category="chair", models=2, angles="0:90:10",
                        size=32, split="grid:20", progress=False)
    return out


@pytest.fixture(autouse=True)
def _no_weight_downloads(request, monkeypatch):
    """Tests never download backbone weights, so a networked machine behaves like offline CI.

    tests/test_backbones.py exercises the real download code against local file:// URLs.
    """
    if request.module.__name__.endswith("test_backbones"):
        return
    from cfa.metrics import backbones

    def refuse(url, path, timeout=60.0):
        raise OSError(f"downloads are disabled in the tests ({url})")

    monkeypatch.setattr(backbones, "download_weights", refuse)
