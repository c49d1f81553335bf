"""UTKFace and CACD2000 preparation on small folders in the real naming schemes."""

import json

import h5py
import numpy as np
import pytest
from PIL import Image

from cfa.datasets.cacd import prepare_cacd
from cfa.datasets.utkface import parse_utkface_name, prepare_utkface
from cfa.errors import UserError
from cfa.io import sha256_file
from pipeline.cli import main


def _face(path, value, size=(40, 50)):
    Image.new("RGB", size, (value, value // 2, 255 - value)).save(path, quality=98)


UTK_GOOD = {  # name -> (age, race); the grey value encodes the age so rows can be matched
    "15_0_2_20170104020000000.jpg.chip.jpg": (15, 2),
    "19_1_0_20170104020000001.jpg.chip.jpg": (19, 0),
    "25_0_3_20170104020000002.jpg.chip.jpg": (25, 3),
    "35_1_1_20170104020000003.jpg.chip.jpg": (35, 1),
    "45_0_4_20170104020000004.jpg": (45, 4),
    "59_1_0_20170104020000005.jpg.chip.jpg": (59, 0),
    "60_0_2_20170104020000006.jpg.chip.jpg": (60, 2),
}


@pytest.fixture
def utk_root(tmp_path):
    root = tmp_path / "UTKFace"
    root.mkdir()
    for name, (age, _) in UTK_GOOD.items():
        _face(root / name, age * 4)
    _face(root / "75_0_0_20170104020000007.jpg.chip.jpg", 200)        # outside 1..60
    _face(root / "39_1_20170116174525125.jpg.chip.jpg", 100)          # a real malformed name
    _face(root / "30_2_0_20170104020000008.jpg.chip.jpg", 100)        # gender 2 does not exist
    (root / "20_0_1_20170104020000009.jpg.chip.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (root / "21_0_1_20170104020000010.jpg.chip.jpg").write_bytes(b"")
    return root


def test_parse_utkface_name():
    assert parse_utkface_name("23_0_2_20170116174525125.jpg.chip.jpg") == {"age": 23, "gender": 0, "race": 2}
    assert parse_utkface_name("23_1_4_20170116174525125.jpg") == {"age": 23, "gender": 1, "race": 4}
    assert "3 fields" in parse_utkface_name("39_1_20170116174525125.jpg.chip.jpg")


def test_prepare_utkface_values_labels_domains_and_skips(utk_root, tmp_path):
    out = tmp_path / "utk.h5"
    manifest = prepare_utkface(utk_root, out, size=16, progress=False)
    with h5py.File(out) as f:
        images, ages, races = f["images"][:], f["labels"][:], f["races"][:]
        names = [n.decode() for n in f["names"][:]]
        domain, condition = f["domain"][:], f["condition"][:]
        assert f["images"].chunks == (1, 3, 16, 16) and f["images"].compression == "gzip"
    assert images.shape == (7, 3, 16, 16) and images.dtype == np.uint8
    assert sorted(names) == sorted(UTK_GOOD)
    for i, name in enumerate(names):
        age, race = UTK_GOOD[name]
        assert ages[i] == age and races[i] == race
        assert abs(int(images[i, 0].mean()) - age * 4) <= 3        # red channel = the encoded value
    by_age = {int(a): (int(d), float(c)) for a, d, c in zip(ages, domain, condition)}
    assert by_age[15] == (0, 0.0) and by_age[19] == (0, 0.0)        # teenagers: source
    assert by_age[25][0] == -1 and np.isnan(by_age[25][1])          # 20..29 unused
    assert by_age[35] == (1, 0.25) and by_age[45] == (1, 0.5)
    assert by_age[59] == (1, 0.75) and by_age[60] == (1, 1.0)
    reasons = {s["path"]: s["reason"] for s in manifest["skipped"]}
    assert set(reasons) == {"39_1_20170116174525125.jpg.chip.jpg", "30_2_0_20170104020000008.jpg.chip.jpg",
                            "20_0_1_20170104020000009.jpg.chip.jpg", "21_0_1_20170104020000010.jpg.chip.jpg"}
    assert reasons["39_1_20170116174525125.jpg.chip.jpg"].startswith("malformed name")
    assert reasons["20_0_1_20170104020000009.jpg.chip.jpg"].startswith("unreadable image")
    assert manifest["counts"]["excluded_by_age"] == 1
    assert manifest["counts"]["domains"]["source"] == 2 and manifest["counts"]["domains"]["target"] == 4
    on_disk = json.loads(out.with_suffix(".json").read_text())
    assert on_disk["sha256"] == sha256_file(out) and on_disk["params"]["size"] == 16


def test_utkface_age_range_option(utk_root, tmp_path):
    manifest = prepare_utkface(utk_root, tmp_path / "all.h5", size=8, ages=(1, 116), progress=False)
    with h5py.File(tmp_path / "all.h5") as f:
        assert 75 in f["labels"][:]
    assert manifest["counts"]["excluded_by_age"] == 0


def test_cacd_ages_identities_domains(tmp_path):
    root = tmp_path / "CACD2000"
    root.mkdir()
    files = {"14_Aaron_Johnson_0001.jpg": 14, "53_Robert_Downey_Jr._0003.jpg": 53,
             "62_Jane_Fonda_0002.jpg": 62, "33_Emma_Stone_0007.jpg": 33}
    for name, age in files.items():
        _face(root / name, age * 3, size=(25, 25))
    _face(root / "Aaron_Johnson_0001.jpg", 10)
    out = tmp_path / "cacd.h5"
    manifest = prepare_cacd(root, out, size=8, progress=False)
    with h5py.File(out) as f:
        names = [n.decode() for n in f["names"][:]]
        ids = [n.decode() for n in f["identities"][:]]
        got = dict(zip(names, zip(f["labels"][:], ids, f["domain"][:], f["condition"][:])))
    assert got["53_Robert_Downey_Jr._0003.jpg"][:2] == (53, "Robert_Downey_Jr.")
    assert got["14_Aaron_Johnson_0001.jpg"][2:] == (0, 0.0)
    assert got["62_Jane_Fonda_0002.jpg"][2:] == (1, 1.0)
    assert got["33_Emma_Stone_0007.jpg"][2:] == (1, 0.25)
    assert manifest["skipped"] == [{"path": "Aaron_Johnson_0001.jpg",
                                    "reason": "malformed name: expected <age>_<First>_<Last>_<nnnn>.jpg"}]


def test_missing_and_empty_folders_name_path_and_url(tmp_path, capsys):
    with pytest.raises(UserError, match=r"susanqq.github.io/UTKFace"):
        prepare_utkface(tmp_path / "nowhere", tmp_path / "x.h5", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"empty has no \*\.jpg files.*bcsiriuschen"):
        prepare_cacd(tmp_path / "empty", tmp_path / "x.h5", progress=False)
    rc = main(["prepare", "utkface", "--root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.h5")])
    err = capsys.readouterr().err
    assert rc == 2 and "nowhere" in err and "https://susanqq.github.io/UTKFace/" in err
    assert "Traceback" not in err
    assert not list(tmp_path.glob("*.h5")) and not list(tmp_path.glob(".*tmp*"))


def test_cli_prepares_utkface(utk_root, tmp_path, capsys):
    out = tmp_path / "cli.h5"
    rc = main(["prepare", "utkface", "--root", str(utk_root), "--out", str(out), "--size", "8", "--no-progress"])
    assert rc == 0 and out.is_file() and out.with_suffix(".json").is_file()
    assert "7 images, 4 skipped" in capsys.readouterr().out


def test_cli_rejects_reversed_age_range(utk_root, tmp_path, capsys):
    out = tmp_path / "rev.h5"
    with pytest.raises(SystemExit) as exit_info:
        main(["prepare", "utkface", "--root", str(utk_root), "--out", str(out), "--ages", "60:1"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "'60:1'" in err and "MIN <= MAX" in err
    assert not out.exists()
