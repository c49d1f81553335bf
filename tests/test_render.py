"""The rotation-set renderer on tiny procedural, folder and fake-ShapeNet sources."""

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import h5py
import numpy as np
import pytest
import trimesh

from cfa.datasets.rotation import RotationPairs
from cfa.errors import UserError
from cfa.io import sha256_file
from cfa.render import parse_angles, procedural_object, render_rotation_set, split_codes
from cfa.render import renderer as renderer_module
from cfa.render.renderer import default_split

SIZE = 32
REPO = Path(__file__).resolve().parents[1]


def render_small(out, **kw):
    args = dict(source="procedural", category="car", models=2, angles="0:362.5:2.5", size=SIZE,
                split="grid:5", seed=0, progress=False)
    args.update(kw)
    return render_rotation_set(out, **args)


@pytest.fixture(scope="module")
def car_set(tmp_path_factory):
    return render_small(tmp_path_factory.mktemp("cars") / "cars.h5")


def read(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f.keys()}, dict(f.attrs)


def non_white(images):
    """(N,H,W) mask of pixels that are not (almost) background white."""
    return (images < 245).any(axis=1)


# ---- angles and splits ----------------------------------------------------------------------


def test_angles_are_exact_and_half_open():
    full = parse_angles("0:360:0.1")
    assert len(full) == 3600 and full[0] == 0 and full[-1] == Decimal("359.9")
    rc49 = parse_angles("0.1:90:0.1")
    assert len(rc49) == 899 and rc49[0] == Decimal("0.1") and rc49[-1] == Decimal("89.9")
    assert parse_angles("0:90:2.5")[-1] == Decimal("87.5")
    for bad in ("0:360", "a:b:c", "0:360:0", "10:5:1"):
        with pytest.raises(UserError, match="--angles"):
            parse_angles(bad)


def test_split_rules():
    angles = parse_angles("89.5:90.5:0.1")   # 89.5 ... 90.4
    codes = split_codes(angles, "parity")
    assert codes.tolist() == [0, 1, 0, 1, 0, 2, 2, 2, 2, 2]   # odd tenths train, even test, >= 90 unused
    codes = split_codes(parse_angles("0:100:2.5"), "grid:5")
    assert codes[:4].tolist() == [0, 1, 0, 1] and (codes[36:] == 2).all()   # 0 5 train, 2.5 7.5 test
    with pytest.raises(UserError, match="grid:STEP"):
        split_codes(angles, "every-other")
    with pytest.raises(UserError, match="0.1 deg grid"):
        split_codes(parse_angles("0:1:0.05"), "parity")


# ---- images ---------------------------------------------------------------------------------


def test_images_neither_blank_nor_saturated(car_set):
    data, _ = read(car_set.path)
    images = data["images"]
    coverage = non_white(images).mean(axis=(1, 2))
    assert coverage.min() > 0.05 and coverage.max() < 0.8
    assert (images == 255).mean() > 0.2                 # white background present
    assert (images == 0).mean() < 0.05                  # not a black / clipped frame
    assert images.reshape(len(images), -1).std(axis=1).min() > 20


def test_object_centred_and_inside_the_frame(car_set):
    images = read(car_set.path)[0]["images"]
    mask = non_white(images)
    border = np.concatenate([mask[:, 0, :], mask[:, -1, :], mask[:, :, 0], mask[:, :, -1]], axis=1)
    assert not border.any(), "object touches the image border"
    ys, xs = np.nonzero(mask.any(axis=0))
    bbox_centre = np.array([(ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2])
    assert np.abs(bbox_centre - (SIZE - 1) / 2).max() <= 0.1 * SIZE
    for m in mask[::10]:
        ys, xs = np.nonzero(m)
        assert abs((xs.min() + xs.max()) / 2 - (SIZE - 1) / 2) <= 0.2 * SIZE


def test_angles_differ_and_360_equals_0(car_set):
    data, _ = read(car_set.path)
    images, labels, types = data["images"].astype(int), data["labels"], data["types"]
    for obj in (0, 1):
        rows = np.flatnonzero(types == obj)
        frames = images[rows]
        diffs = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
        assert diffs[:-1].min() > 0, "two consecutive angles gave the same image"
        at = {float(a): r for a, r in zip(labels[rows], rows)}
        assert np.abs(images[at[0.0]] - images[at[90.0]]).mean() > 5
        assert np.array_equal(images[at[0.0]], images[at[360.0]])
    assert np.abs(images[types == 0][0] - images[types == 1][0]).mean() > 1, "objects identical"


def test_same_seed_same_bytes_other_seed_other_shapes(car_set, tmp_path):
    again = render_small(tmp_path / "again.h5")
    assert sha256_file(again.path) == sha256_file(car_set.path)
    other = render_small(tmp_path / "other.h5", seed=1, angles="0:10:5")
    assert not np.array_equal(read(other.path)[0]["images"][0], read(car_set.path)[0]["images"][0])


def test_colour_only_readback_matches_pyrender_at_odd_size():
    from cfa.render import RotationRenderer

    r = RotationRenderer(30)                             # 30*3 bytes per row: not 4-aligned
    r.set_object(procedural_object("laptop", 0))
    fast = r.render(33.0)
    del r.renderer._renderer._read_main_framebuffer      # back to pyrender's own RGBA + depth readback
    colour, depth = r.renderer.render(r.scene, flags=r.flags)
    r.close()
    assert depth is not None and fast.shape == (3, 30, 30)
    assert np.array_equal(fast, colour[:, :, :3].transpose(2, 0, 1))


# ---- file layout and manifest ---------------------------------------------------------------


def test_hdf5_layout_grid_split(car_set):
    data, attrs = read(car_set.path)
    n_ang = 145
    assert data["images"].dtype == np.uint8 and data["images"].shape == (2 * n_ang, 3, SIZE, SIZE)
    assert data["labels"].dtype == np.float32 and data["types"].dtype == np.int32
    assert data["split"].dtype == np.uint8 and data["indx_train"].dtype == np.int64
    assert data["types"].tolist() == [0] * n_ang + [1] * n_ang          # object-major
    np.testing.assert_allclose(data["labels"][:n_ang], np.arange(n_ang) * 2.5)
    assert [s.decode() for s in data["object_ids"]] == ["procedural-car-0", "procedural-car-1"]
    labels, split = data["labels"], data["split"]
    on_grid = np.isclose(labels % 5, 0)
    assert (split[(labels < 90) & on_grid] == 0).all() and (split[(labels < 90) & ~on_grid] == 1).all()
    assert (split[labels >= 90] == 2).all()
    assert data["indx_train"].tolist() == np.flatnonzero(split == 0).tolist()
    assert attrs["source"] == "procedural" and attrs["category"] == "car" and attrs["size"] == SIZE
    assert attrs["angles"] == "0:362.5:2.5" and attrs["split_rule"] == "grid:5"
    with h5py.File(car_set.path, "r") as f:
        assert f["images"].chunks == (1, 3, SIZE, SIZE) and f["images"].compression == "gzip"


def test_manifest(car_set):
    m = json.loads(car_set.path.with_suffix(".json").read_text())
    assert m == car_set.manifest
    assert m["dataset"] == "cars" and m["source"] == "procedural" and m["file"] == "cars.h5"
    assert m["sha256"] == sha256_file(car_set.path)
    assert m["counts"] == {"objects": 2, "angles": 145, "images": 290, "train": 36, "test": 36, "unused": 218}
    assert m["object_ids"] == ["procedural-car-0", "procedural-car-1"] and m["skipped"] == []
    assert m["params"]["angles"] == "0:362.5:2.5" and m["params"]["seed"] == 0
    assert m["seconds"] > 0 and m["created"]


def test_parity_split_file(tmp_path):
    result = render_rotation_set(tmp_path / "rc.h5", source="procedural", category="chair", models=2,
                                 angles="89.5:90.5:0.1", size=16, split="parity", progress=False)
    data, attrs = read(result.path)
    assert data["split"].tolist() == [0, 1, 0, 1, 0, 2, 2, 2, 2, 2] * 2
    assert data["indx_train"].tolist() == [0, 2, 4, 10, 12, 14]
    assert attrs["split_rule"] == "parity" and result.manifest["counts"]["train"] == 6


@pytest.mark.parametrize("angles,rule", [
    ("0.1:90:0.1", "parity"),   # RC-49: odd last decimal = train
    ("0:90:2.5", "parity"),     # 2.5, 7.5, ... odd; 0, 5, ... even
    ("0:90:0.5", "parity"),
    ("0:90:5", "grid:10"),      # every angle has an even last decimal: parity would train on nothing
    ("0:360:1", "grid:2"),
    ("0:360:45", "grid:90"),
    ("0:90:0.2", "grid:0.4"),
    ("0:90:0.05", "grid:0.1"),  # off the 0.1 grid
])
def test_default_split_is_chosen_from_the_angle_grid(angles, rule):
    values = parse_angles(angles)
    assert default_split(values) == rule
    codes = split_codes(values, rule)
    assert (codes == 0).any() and (codes == 1).any()


def test_default_split_fails_with_the_fix_where_no_rule_fits():
    # Odd whole degrees: parity sees only even last decimals, grid:4 no multiple of 4.
    with pytest.raises(UserError, match=r"--split grid:STEP.*--angles 0:90:2 with --split grid:4"):
        default_split(parse_angles("1:90:2"))
    with pytest.raises(UserError, match="at least two"):
        default_split(parse_angles("90:180:5"))


def test_explicit_split_without_train_angles_fails_before_rendering(tmp_path):
    # 0 and 45 deg have an even last decimal: parity puts every angle below 90 in test.
    with pytest.raises(UserError, match=r"--split parity leaves no train angles in --angles 0:360:45.*"
                                        r"Use --split grid:90"):
        render_rotation_set(tmp_path / "t.h5", source="procedural", category="car", models=1,
                            angles="0:360:45", size=16, split="parity", progress=False)
    with pytest.raises(UserError, match="--split grid:4 leaves no train angles"):
        render_rotation_set(tmp_path / "t.h5", source="procedural", category="car", models=1,
                            angles="1:90:2", size=16, split="grid:4", progress=False)
    assert not (tmp_path / "t.h5").exists() and not (tmp_path / "t.json").exists()


def test_default_split_render_has_train_rows_and_records_its_rule(tmp_path):
    # The natural first command (issue 12): 5-deg angles, no --split. cfa train needs train rows.
    result = render_rotation_set(tmp_path / "x.h5", source="procedural", category="chair", models=2,
                                 angles="0:90:5", size=16, progress=False)
    data, attrs = read(result.path)
    assert attrs["split_rule"] == "grid:10" and attrs["kind"] == "rotation"
    assert result.manifest["params"]["split"] == "grid:10" and result.manifest["params"]["split_auto"] is True
    assert result.manifest["counts"]["train"] == 18 and result.manifest["counts"]["test"] == 18
    train_angles = sorted({float(a) for a in data["labels"][data["split"] == 0]})
    assert train_angles == [float(a) for a in range(0, 90, 10)]
    pairs = RotationPairs(result.path, split="train")
    assert len(pairs) == 18
    explicit = render_rotation_set(tmp_path / "p.h5", source="procedural", category="chair", models=1,
                                   angles="0:10:2.5", size=16, split="grid:5", progress=False)
    assert explicit.manifest["params"]["split_auto"] is False


# ---- mesh sources ---------------------------------------------------------------------------


def write_two_material_obj(model_dir: Path) -> Path:
    """A red box beside a blue box in one OBJ with an MTL: loads as a multi-material Scene."""
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "model_normalized.mtl").write_text(
        "newmtl red\nKd 0.9 0.1 0.1\n\nnewmtl blue\nKd 0.1 0.1 0.9\n")
    lines = ["mtllib model_normalized.mtl"]
    for k, (material, x0) in enumerate([("red", -1.0), ("blue", 0.2)]):
        box = trimesh.creation.box(extents=[0.8, 1.0, 0.8])
        box.apply_translation([x0 + 0.4, 0, 0])
        lines += [f"v {x:.4f} {y:.4f} {z:.4f}" for x, y, z in box.vertices]
        lines += [f"usemtl {material}"]
        lines += [f"f {a + 1 + 8 * k} {b + 1 + 8 * k} {c + 1 + 8 * k}" for a, b, c in box.faces]
    path = model_dir / "model_normalized.obj"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_folder_source_skips_corrupt_and_degenerate_meshes(tmp_path):
    meshes = tmp_path / "meshes"
    meshes.mkdir()
    (meshes / "a_corrupt.obj").write_bytes(b"\x00\x01 this is not an obj \xff\xfe" * 50)
    procedural_object("table", 0).export(meshes / "b_table.glb")
    (meshes / "c_empty.stl").write_bytes(b"")
    trimesh.Trimesh(vertices=[[0, 0, 0]] * 3, faces=[[0, 1, 2]], process=False).export(meshes / "d_point.ply")
    procedural_object("laptop", 1).export(meshes / "e_laptop.glb")
    result = render_rotation_set(tmp_path / "mine.h5", source="folder", root=meshes, models=2,
                                 angles="0:90:45", size=SIZE, split="grid:45", progress=False)
    m = result.manifest
    assert m["object_ids"] == ["b_table", "e_laptop"]
    skipped = {Path(s["path"]).name: s["reason"] for s in m["skipped"]}
    assert set(skipped) == {"a_corrupt.obj", "c_empty.stl", "d_point.ply"}
    assert all(reason for reason in skipped.values())
    assert "degenerate" in skipped["d_point.ply"]
    images = read(result.path)[0]["images"]
    assert non_white(images).mean(axis=(1, 2)).min() > 0.05
    with pytest.raises(UserError, match=r"only 2 usable meshes of 5 found, 3 asked"):
        render_rotation_set(tmp_path / "more.h5", source="folder", root=meshes, models=3, angles="0:90:45",
                            size=SIZE, progress=False)
    assert not (tmp_path / "more.h5").exists()


def test_shapenet_tree_keeps_material_colours_and_counts_models(tmp_path):
    root = tmp_path / "ShapeNetCore.v2"
    for model_id in ("b2", "a1"):
        write_two_material_obj(root / "03001627" / model_id / "models")
    (root / "03001627" / "c3").mkdir()          # a model folder without its OBJ
    result = render_rotation_set(tmp_path / "rc.h5", source="shapenet", root=root, category="chair",
                                 models=2, angles="0:10:5", size=SIZE, progress=False)
    m = result.manifest
    assert sorted(m["object_ids"]) == ["a1", "b2"]
    assert [Path(s["path"]).parts[-3] for s in m["skipped"]] == ["c3"]
    assert m["params"]["synset"] == "03001627" and "default_rng(0)" in m["selection"]["rule"]
    image = read(result.path)[0]["images"][0].astype(int)
    red = (image[0] > image[2] + 60).sum()
    blue = (image[2] > image[0] + 60).sum()
    assert red > 20 and blue > 20, "material colours were lost"
    with pytest.raises(UserError, match=r"found 2 models .* 3 asked"):
        render_rotation_set(tmp_path / "x.h5", source="shapenet", root=root, synset="03001627", models=3,
                            angles="0:10:5", size=SIZE, progress=False)


def test_missing_roots_are_user_errors(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(UserError, match=str(missing)):
        render_rotation_set(tmp_path / "x.h5", source="shapenet", root=missing, synset="02691156", models=2,
                            angles="0:10:5", size=SIZE, progress=False)
    missing.mkdir()
    with pytest.raises(UserError, match=r"02691156 does not exist \(0 models found\)"):
        render_rotation_set(tmp_path / "x.h5", source="shapenet", root=missing, synset="02691156", models=2,
                            angles="0:10:5", size=SIZE, progress=False)
    with pytest.raises(UserError, match="does not exist"):
        render_rotation_set(tmp_path / "x.h5", source="folder", root=tmp_path / "nofolder", models=1,
                            angles="0:10:5", size=SIZE, progress=False)
    with pytest.raises(UserError, match="needs --root"):
        render_rotation_set(tmp_path / "x.h5", source="shapenet", category="car", models=1,
                            angles="0:10:5", size=SIZE, progress=False)


def test_interrupted_render_leaves_no_file_and_rerun_succeeds(tmp_path, monkeypatch):
    out = tmp_path / "set.h5"
    render_small(out, angles="0:10:5")
    stale_manifest = out.with_suffix(".json").read_text()
    real = renderer_module._render_object_blocks

    def crash_on_second_object(renderer, spec, angles):
        if spec.index == 1:
            raise KeyboardInterrupt
        yield from real(renderer, spec, angles)

    monkeypatch.setattr(renderer_module, "_render_object_blocks", crash_on_second_object)
    with pytest.raises(KeyboardInterrupt):
        render_small(out, angles="0:20:5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set.h5", "set.json"]   # no temp files
    assert out.with_suffix(".json").read_text() == stale_manifest    # the old, complete pair
    assert read(out)[0]["images"].shape[0] == 4
    monkeypatch.setattr(renderer_module, "_render_object_blocks", real)
    result = render_small(out, angles="0:20:5")
    assert read(out)[0]["images"].shape[0] == 8 and result.manifest["sha256"] == sha256_file(out)


# ---- the command line -----------------------------------------------------------------------


def test_cli_end_to_end_with_two_workers(tmp_path):
    cfa = REPO / ".venv" / "bin" / "cfa"
    out = tmp_path / "demo" / "RA.h5"
    cmd = [str(cfa), "render", "--source", "procedural", "--category", "airplane", "--models", "2",
           "--angles", "0:90:15", "--size", "24", "--workers", "2", "--seed", "3", "--elevation", "30",
           "--split", "grid:30", "--name", "RA-demo", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and "img/s" in proc.stderr     # tqdm bar reports images/s
    m = json.loads(out.with_suffix(".json").read_text())
    assert m["dataset"] == "RA-demo" and m["params"]["workers"] == 2 and m["params"]["elevation_deg"] == 30
    data, attrs = read(out)
    assert data["images"].shape == (12, 3, 24, 24) and attrs["split_rule"] == "grid:30"
    # Worker processes render exactly what the in-process renderer renders.
    local = render_rotation_set(tmp_path / "local.h5", source="procedural", category="airplane", models=2,
                                angles="0:90:15", size=24, seed=3, elevation_deg=30, split="grid:30",
                                progress=False)
    assert np.array_equal(read(local.path)[0]["images"], data["images"])

    bad = subprocess.run([str(cfa), "render", "--source", "shapenet", "--root", str(tmp_path / "none"),
                          "--synset", "03001627", "--models", "2", "--angles", "0:90:1", "--size", "64",
                          "--out", str(tmp_path / "x.h5")], capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and str(tmp_path / "none") in bad.stderr and "Traceback" not in bad.stderr


def test_cli_dataset_takes_params_and_flags_override(tmp_path, capsys):
    from pipeline.cli import main

    out = tmp_path / "RA-20.h5"
    rc = main(["render", "--dataset", "RA-20", "--params", str(REPO / "params.yaml"), "--set", "profile=demo",
               "--models", "2", "--angles", "0:30:7.5", "--size", "16", "--no-progress", "--out", str(out)])
    assert rc == 0
    m = json.loads(out.with_suffix(".json").read_text())
    assert m["dataset"] == "RA-20" and m["object_ids"] == ["procedural-airplane-0", "procedural-airplane-1"]
    assert m["params"]["split"] == "grid:5" and m["params"]["synset"] == "02691156"   # from params.yaml
    assert m["params"]["size"] == 16 and m["counts"]["images"] == 8                     # from the flags
    # The paper profile asks for ShapeNet: without it there is an error, never procedural meshes.
    rc = main(["render", "--dataset", "RA-20", "--params", str(REPO / "params.yaml"),
               "--set", f"paths.shapenet={tmp_path / 'no-shapenet'}", "--out", str(tmp_path / "paper.h5")])
    assert rc == 2 and "no-shapenet does not exist" in capsys.readouterr().err
    assert not (tmp_path / "paper.h5").exists()
    assert main(["render", "--models", "2", "--out", str(tmp_path / "x.h5")]) == 2
    assert "missing --source, --angles, --size" in capsys.readouterr().err


def test_help_documents_every_option():
    from pipeline.cli import build_parser

    help_text = build_parser()._subparsers._group_actions[0].choices["render"].format_help()
    for option in ("--source", "--root", "--synset", "--category", "--models", "--angles", "--size",
                   "--workers", "--seed", "--elevation", "--split", "--name", "--out", "--dataset",
                   "--params", "--set", "Examples"):
        assert option in help_text
