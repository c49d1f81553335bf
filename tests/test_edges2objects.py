"""edges2objects: geometric line drawings (A) of procedural renders (B), split by object."""

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from cfa.datasets import edges2objects as e2o
from cfa.datasets.readers import PairedImages
from cfa.errors import UserError

REPO = Path(__file__).resolve().parents[1]
SMALL = dict(categories=["chair", "car"], objects=3, views=2, size=32, seed=0, progress=False)


def read(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f.keys()}, dict(f.attrs)


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("e2o") / "e2o.h5"
    manifest = e2o.prepare_edges2objects(out, **SMALL)
    return out, manifest


# ---- edges from geometry buffers -------------------------------------------------------------


def _buffers(h=24, w=24):
    normals = np.zeros((h, w, 3), np.uint8)
    depth = np.zeros((h, w), np.float32)
    return normals, depth


def _code(n):
    n = np.asarray(n, float) / np.linalg.norm(n)
    return np.round((n + 1) * 127.5).astype(np.uint8)


def test_silhouette_is_two_pixels_inside_the_object():
    normals, depth = _buffers()
    normals[4:20, 4:20] = _code([0, 0, 1])
    depth[4:20, 4:20] = 3.0
    edges = e2o.edge_mask(normals, depth)
    assert not edges[depth == 0].any()                 # never on the background
    ring = np.zeros_like(edges)
    ring[4:20, 4:20] = True
    ring[6:18, 6:18] = False
    np.testing.assert_array_equal(edges, ring)


def test_slanted_plane_has_no_lines_but_a_depth_step_does():
    normals, depth = _buffers(24, 40)
    normals[:] = _code([0.6, 0, 0.8])
    # A plane seen in perspective: inverse depth is affine in the pixel coordinates. Steep enough
    # that depth changes by up to 2.7 % per pixel, more than DEPTH_GAP: only the step may count.
    x = np.arange(40, dtype=np.float32)
    depth[:] = 1.0 / (0.5 - 0.007 * x)
    edges = e2o.edge_mask(normals, depth)
    inner = edges[2:-2, 2:-2]                          # the image border is a silhouette
    assert not inner.any()
    # A step: columns from 20 on are farther away (same normal). The line is on the near side.
    depth[:, 20:] += 0.5
    edges = e2o.edge_mask(normals, depth)[2:-2, 2:-2]
    cols = np.flatnonzero(edges.any(axis=0)) + 2
    assert cols.tolist() == [18, 19] and edges.all(axis=0)[cols - 2].all()


def test_crease_needs_more_than_crease_deg():
    normals, depth = _buffers(20, 30)
    depth[:] = 2.0
    normals[:, :15] = _code([0, 0, 1])
    normals[:, 15:] = _code([np.sin(np.radians(60)), 0, np.cos(np.radians(60))])
    cols = np.flatnonzero(e2o.edge_mask(normals, depth)[5:-5, 2:-2].any(axis=0)) + 2
    assert cols.tolist() == [14, 15]                   # both sides of the 60-deg crease
    normals[:, 15:] = _code([np.sin(np.radians(30)), 0, np.cos(np.radians(30))])
    assert not e2o.edge_mask(normals, depth)[2:-2, 2:-2].any()   # 30 deg < CREASE_DEG: a smooth bend


def test_specks_dropped_and_lines_dark_on_white():
    mask = np.zeros((16, 16), bool)
    mask[3, 3] = True                                  # a speck
    mask[8:10, 2:14] = True                            # a line
    kept = e2o.drop_specks(mask, 4)
    assert not kept[3, 3] and kept[8:10, 2:14].all()
    drawing = e2o.line_drawing(mask, factor=2)
    assert drawing.shape == (3, 8, 8) and drawing.dtype == np.uint8
    assert (drawing[:, 4, 1:7] == 0).all()             # the 2-px line covers whole 2x2 blocks
    assert (drawing[:, :4] == 255).all() and (drawing[:, 5:] == 255).all()
    bold = e2o.line_drawing(mask, factor=2, width=2)   # 256-px images: lines two pixels wide
    def ink(d):                                        # line width across column 3, in pixels
        return (255 - d[0, :, 3].astype(int)).sum() / 255

    assert ink(drawing) == 1 and ink(bold) == pytest.approx(2, abs=0.01)    # 128-grey rounding
    assert [e2o.line_width(s) for s in (32, 64, 128, 256, 512)] == [1, 1, 1, 2, 4]


# ---- objects, splits, views -----------------------------------------------------------------


def test_categories_match_the_procedural_meshes():
    from cfa.render.procedural import CATEGORIES

    assert e2o.CATEGORY_NAMES == CATEGORIES


def test_objects_not_views_are_split():
    assert e2o.object_splits(20, 0.15).tolist() == [0] * 14 + [1] * 3 + [2] * 3
    assert e2o.object_splits(3, 0.15).tolist() == [0, 1, 2]
    with pytest.raises(UserError, match="no object left for training"):
        e2o.object_splits(2, 0.15)
    plan = e2o.plan(["chair", "car"], 4, 3, seed=0, holdout=0.25)
    assert [(p.category, p.index, p.split) for p in plan][:4] == [("chair", 0, 0), ("chair", 1, 0),
                                                                   ("chair", 2, 1), ("chair", 3, 2)]
    yaws = np.array(plan[0].yaw_deg)
    assert np.allclose(np.diff(np.sort(yaws)), 120.0)  # evenly spaced around the object
    lo, hi = e2o.ELEVATION_RANGE_DEG
    assert all(lo <= e <= hi for p in plan for e in p.elevation_deg)
    # an object's views do not depend on how many objects or categories there are
    again = e2o.plan(["car"], 6, 3, seed=0, holdout=0.25)
    assert again[1].yaw_deg == plan[5].yaw_deg and again[1].elevation_deg == plan[5].elevation_deg
    assert e2o.plan(["car"], 6, 3, seed=1, holdout=0.25)[1].yaw_deg != plan[5].yaw_deg


# ---- the rendered set -----------------------------------------------------------------------


def test_layout_attrs_and_manifest(small_set):
    out, manifest = small_set
    data, attrs = read(out)
    assert data["images_A"].shape == data["images_B"].shape == (12, 3, 32, 32)
    assert data["images_A"].dtype == np.uint8
    assert attrs["kind"] == "paired-images" and attrs["direction"] == "AtoB"
    assert attrs["dataset"] == "edges2objects" and attrs["size"] == 32
    assert data["split"].tolist() == [0, 0, 1, 1, 2, 2] * 2
    names = [n.decode() for n in data["names"]]
    assert names[:3] == ["chair/0000/view00", "chair/0000/view01", "chair/0001/view00"]
    # every object sits in one split only, and each split has both categories
    objects = [n.rsplit("/", 1)[0] for n in names]
    for obj in set(objects):
        assert len({s for o, s in zip(objects, data["split"]) if o == obj}) == 1
    cats = np.array([c.decode() for c in data["categories"]])
    for code in (0, 1, 2):
        assert set(cats[data["split"] == code]) == {"chair", "car"}
    assert manifest["counts"]["splits"] == {"train": 4, "val": 4, "test": 4}
    assert manifest["counts"]["objects"] == {"train": 2, "val": 2, "test": 2}
    assert manifest["params"]["views"] == 2 and "creases" in manifest["edge_rule"]

    pairs = PairedImages(out, split="test")
    x, y = pairs[0]["source"], pairs[0]["target"]
    assert len(pairs) == 4 and x.shape == y.shape == (3, 32, 32) and x.dtype == torch.float32


def test_drawings_outline_the_rendered_object(small_set):
    data, _ = read(small_set[0])
    a, b = data["images_A"].astype(int), data["images_B"].astype(int)
    assert (a[:, 0] == a[:, 1]).all() and (a[:, 0] == a[:, 2]).all()     # grey lines
    for i in range(len(a)):
        lines = a[i, 0] < 128
        thing = (b[i] < 245).any(axis=0)          # non-white render pixels: the object
        assert 0.02 < lines.mean() < 0.5          # a drawing, not blank or filled
        assert (a[i, 0][~thing] > 200).mean() > 0.95     # white wherever the render is white
        ys, xs = np.nonzero(thing)
        ly, lx = np.nonzero(lines)
        # the outline spans the object: same bounding box within a pixel
        assert abs(ys.min() - ly.min()) <= 1 and abs(ys.max() - ly.max()) <= 1
        assert abs(xs.min() - lx.min()) <= 1 and abs(xs.max() - lx.max()) <= 1
    assert not np.array_equal(a[0], a[1])         # two views of one object differ


def test_seeded_and_stable_when_the_set_grows(small_set, tmp_path):
    data, _ = read(small_set[0])
    e2o.prepare_edges2objects(tmp_path / "again.h5", **SMALL)
    again, _ = read(tmp_path / "again.h5")
    for key in ("images_A", "images_B", "yaw_deg", "elevation_deg"):
        np.testing.assert_array_equal(again[key], data[key])
    bigger = e2o.prepare_edges2objects(tmp_path / "big.h5", **{**SMALL, "categories": ["car"], "objects": 4})
    big, _ = read(tmp_path / "big.h5")
    # car objects 0..2 keep their pairs (the splits move: the last objects are held out)
    np.testing.assert_array_equal(big["images_B"][:6], data["images_B"][6:])
    np.testing.assert_array_equal(big["images_A"][:6], data["images_A"][6:])
    assert bigger["counts"]["images"] == 8
    e2o.prepare_edges2objects(tmp_path / "other.h5", **{**SMALL, "seed": 1})
    other, _ = read(tmp_path / "other.h5")
    assert not np.array_equal(other["images_B"][0], data["images_B"][0])
    assert not np.array_equal(other["images_A"][0], data["images_A"][0])


def test_bad_arguments(tmp_path):
    for kwargs, message in (({"categories": ["sofa"]}, "--categories sofa"),
                            ({"views": 0}, "--views 0"), ({"size": 4}, "--size 4"),
                            ({"holdout": 0.5}, "--holdout 0.5"), ({"objects": 2}, "--objects 2"),
                            ({"workers": 0}, "--workers 0")):
        with pytest.raises(UserError, match=message):
            e2o.prepare_edges2objects(tmp_path / "x.h5", **{**SMALL, **kwargs})
    assert not (tmp_path / "x.h5").exists()


def test_cli_with_two_workers_matches_in_process(small_set, tmp_path):
    out = tmp_path / "cli.h5"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # `python -m pipeline.cli` is what an installed `cfa` script runs: the spawned workers import
    # the CLI module without running it.
    cfa = [sys.executable, "-m", "pipeline.cli"]
    proc = subprocess.run([*cfa, "prepare", "edges2objects", "--categories",
                           "chair,car", "--objects", "3", "--views", "2", "--size", "32", "--workers", "2",
                           "--out", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and "img/s" in proc.stderr
    cli, _ = read(out)
    local, _ = read(small_set[0])
    for key in ("images_A", "images_B", "split", "yaw_deg", "elevation_deg"):
        np.testing.assert_array_equal(cli[key], local[key])
    assert json.loads(out.with_suffix(".json").read_text())["params"]["workers"] == 2
    bad = subprocess.run([*cfa, "prepare", "edges2objects", "--categories", "sofa",
                          "--out", str(tmp_path / "y.h5")], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "sofa" in bad.stderr and "Traceback" not in bad.stderr
