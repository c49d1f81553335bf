"""Waymo v2: a camera_image/stats parquet pair per segment with the real column names."""

import datetime as dt
import io

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from cfa.datasets.waymo import prepare_waymo, solar_hour
from cfa.errors import UserError
from pipeline.cli import main


def _jpeg(value, size=(48, 32)):
    buf = io.BytesIO()
    Image.new("RGB", size, (value, value, value)).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _micros(hour_utc, second=0):
    return int(dt.datetime(2019, 5, 20, hour_utc, 0, second, tzinfo=dt.timezone.utc).timestamp() * 1e6)


# segment -> (time_of_day, location, UTC hour, grey value of its FRONT frames)
SEGMENTS = {
    "seg_morning": ("Dawn/Dusk", "location_sf", 13, 40),    # 13:00 UTC in SF = 04:50 solar -> dawn
    "seg_evening": ("Dawn/Dusk", "location_phx", 2, 80),    # 02:00 UTC in Phoenix = 18:30 solar -> dusk
    "seg_noon": ("Day", "location_sf", 20, 160),
    "seg_night": ("Night", "location_other", 6, 220),
}


def _write_segment(root, segment, tod, location, hour, value, frames=4, corrupt_last=False,
                   drop_column=None):
    stamps = [_micros(hour, s) for s in range(frames)]
    cam_rows = {"key.segment_context_name": [], "key.frame_timestamp_micros": [], "key.camera_name": [],
                "[CameraImageComponent].image": [], "[CameraImageComponent].pose.transform": []}
    for k, stamp in enumerate(stamps):
        for camera, v in ((1, value), (2, 255 - value)):        # FRONT and FRONT_LEFT differ
            jpeg = _jpeg(v + k if camera == 1 else v)
            if corrupt_last and camera == 1 and k == frames - 1:
                jpeg = jpeg[:40]
            cam_rows["key.segment_context_name"].append(segment)
            cam_rows["key.frame_timestamp_micros"].append(stamp)
            cam_rows["key.camera_name"].append(camera)
            cam_rows["[CameraImageComponent].image"].append(jpeg)
            cam_rows["[CameraImageComponent].pose.transform"].append([1.0] * 16)
    if drop_column:
        cam_rows.pop(drop_column)
    stats_rows = {"key.segment_context_name": [segment] * frames, "key.frame_timestamp_micros": stamps,
                  "[StatsComponent].time_of_day": [tod] * frames, "[StatsComponent].location": [location] * frames,
                  "[StatsComponent].weather": ["sunny"] * frames}
    (root / "camera_image").mkdir(parents=True, exist_ok=True)
    (root / "stats").mkdir(parents=True, exist_ok=True)
    # Reversed row order: the preparer must sort frames by timestamp itself.
    table = pa.table({k: v[::-1] for k, v in cam_rows.items()})
    pq.write_table(table, root / "camera_image" / f"{segment}.parquet", row_group_size=3)
    pq.write_table(pa.table(stats_rows), root / "stats" / f"{segment}.parquet")


@pytest.fixture
def waymo_root(tmp_path):
    root = tmp_path / "training"
    for segment, (tod, loc, hour, value) in SEGMENTS.items():
        _write_segment(root, segment, tod, loc, hour, value, corrupt_last=segment == "seg_noon")
    # a camera file without stats: skipped, reported
    _write_segment(root, "seg_orphan", "Day", "location_sf", 20, 10)
    (root / "stats" / "seg_orphan.parquet").unlink()
    return root


def test_solar_hour():
    assert solar_hour([_micros(12)], 0.0)[0] == pytest.approx(12.0)
    assert solar_hour([_micros(13)], -122.42)[0] == pytest.approx(13 - 122.42 / 15)
    assert solar_hour([_micros(2)], -112.07)[0] == pytest.approx(24 + 2 - 112.07 / 15)


def test_prepare_waymo_domains_and_frames(waymo_root, tmp_path):
    out = tmp_path / "front.h5"
    manifest = prepare_waymo(waymo_root, out, size=8, progress=False, batch_rows=5)
    with h5py.File(out) as f:
        segs = [s.decode() for s in f["segments"][:]]
        tod, domain, cond = f["time_of_day"][:], f["domain"][:], f["condition"][:]
        images, stamps = f["images"][:], f["timestamps"][:]
        assert f.attrs["camera"] == "FRONT"
    # segments in file-name order
    assert segs == ["seg_evening"] * 4 + ["seg_morning"] * 4 + ["seg_night"] * 4 + ["seg_noon"] * 3
    assert tod.tolist() == [2] * 4 + [0] * 4 + [3] * 4 + [1] * 3
    assert domain.tolist() == [1] * 4 + [0] * 4 + [1] * 7
    np.testing.assert_allclose(cond, [2 / 3] * 4 + [0.0] * 4 + [1.0] * 4 + [1 / 3] * 3, atol=1e-6)
    assert (np.diff(stamps[4:8]) > 0).all()
    # FRONT frames only, in timestamp order (grey value + frame number), not FRONT_LEFT's
    np.testing.assert_allclose(images[4:8, 0, 4, 4], [40, 41, 42, 43], atol=2)
    np.testing.assert_allclose(images[8:12, 0, 4, 4], [220, 221, 222, 223], atol=2)
    reasons = {s["path"]: s["reason"] for s in manifest["skipped"]}
    assert any(p.startswith("camera_image/seg_noon.parquet@") and "JPEG" in r for p, r in reasons.items())
    assert "no stats file" in reasons["camera_image/seg_orphan.parquet"]
    assert manifest["counts"]["time_of_day"] == {"dawn": 4, "day": 3, "dusk": 4, "night": 4}
    assert manifest["counts"]["domains"]["source"] == 4


def test_camera_and_every(waymo_root, tmp_path):
    out = tmp_path / "left.h5"
    prepare_waymo(waymo_root, out, size=8, camera="FRONT_LEFT", every=2, progress=False)
    with h5py.File(out) as f:
        assert len(f["images"]) == 2 * 4          # 4 segments with stats, frames 0 and 2
        np.testing.assert_allclose(f["images"][2:4, 0, 4, 4], [255 - 40] * 2, atol=2)


def test_file_without_the_image_column_is_skipped_and_reported(tmp_path, capsys):
    root = tmp_path / "training"
    _write_segment(root, "seg_a", "Night", "location_sf", 6, 200)
    _write_segment(root, "seg_b", "Day", "location_sf", 20, 100, drop_column="[CameraImageComponent].image")
    manifest = prepare_waymo(root, tmp_path / "x.h5", size=8, progress=False)
    reasons = {s["path"]: s["reason"] for s in manifest["skipped"]}
    assert reasons["camera_image/seg_b.parquet"].startswith("missing column '[CameraImageComponent].image'")
    with h5py.File(tmp_path / "x.h5") as f:
        assert {s.decode() for s in f["segments"][:]} == {"seg_a"}
    # When no file has it, the run fails and says why.
    bad = tmp_path / "bad"
    _write_segment(bad, "seg", "Day", "location_sf", 20, 10, drop_column="[CameraImageComponent].image")
    with pytest.raises(UserError, match=r"no frames.*missing column '\[CameraImageComponent\]\.image'"):
        prepare_waymo(bad, tmp_path / "y.h5", progress=False)
    assert not (tmp_path / "y.h5").exists()
    rc = main(["prepare", "waymo", "--root", str(tmp_path / "nope"), "--out", str(tmp_path / "x.h5")])
    err = capsys.readouterr().err
    assert rc == 2 and "waymo.com/open" in err and "Traceback" not in err


@pytest.fixture
def v2_root(tmp_path):
    """The download's own layout: <root>/{training,validation,testing}/{camera_image,stats}/."""
    root = tmp_path / "waymo_v2"
    _write_segment(root / "training", "seg_train_night", "Night", "location_sf", 6, 200)
    _write_segment(root / "training", "seg_train_day", "Day", "location_phx", 20, 100)
    _write_segment(root / "validation", "seg_val_dawn", "Dawn/Dusk", "location_sf", 13, 40)
    _write_segment(root / "testing", "seg_test_day", "Day", "location_sf", 20, 120, frames=2)
    return root


def _segments(path):
    with h5py.File(path) as f:
        return [s.decode() for s in f["segments"][:]], dict(f.attrs)


def test_v2_root_reads_the_chosen_split(v2_root, tmp_path):
    manifest = prepare_waymo(v2_root, tmp_path / "train.h5", size=8, progress=False)
    segments, attrs = _segments(tmp_path / "train.h5")
    assert segments == ["seg_train_day"] * 4 + ["seg_train_night"] * 4
    assert attrs["kind"] == "unpaired-with-label" and attrs["split"] == "training"
    assert manifest["params"]["split"] == "training" and manifest["source"] == str(v2_root / "training")
    assert manifest["counts"]["segments"] == 2

    prepare_waymo(v2_root, tmp_path / "val.h5", split="validation", size=8, progress=False)
    segments, attrs = _segments(tmp_path / "val.h5")
    assert segments == ["seg_val_dawn"] * 4 and attrs["split"] == "validation"

    # a split folder given as the root still works, and is the same data as root + split
    prepare_waymo(v2_root / "training", tmp_path / "same.h5", size=8, progress=False)
    with h5py.File(tmp_path / "train.h5") as a, h5py.File(tmp_path / "same.h5") as b:
        np.testing.assert_array_equal(a["images"][:], b["images"][:])
        assert b.attrs["split"] == "training"


def test_v2_root_bad_splits(v2_root, tmp_path):
    import shutil

    with pytest.raises(UserError, match=r"training split folder but --split is testing"):
        prepare_waymo(v2_root / "training", tmp_path / "x.h5", split="testing", progress=False)
    with pytest.raises(UserError, match="unknown Waymo split 'train'"):
        prepare_waymo(v2_root, tmp_path / "x.h5", split="train", progress=False)
    shutil.rmtree(v2_root / "training")
    with pytest.raises(UserError, match=r"has no training/ folder \(it has validation/, testing/\)"):
        prepare_waymo(v2_root, tmp_path / "x.h5", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="neither a v2 root"):
        prepare_waymo(tmp_path / "empty", tmp_path / "x.h5", progress=False)


def test_cli_v2_root_with_split(v2_root, tmp_path):
    out = tmp_path / "cli.h5"
    assert main(["prepare", "waymo", "--root", str(v2_root), "--split", "testing", "--size", "8",
                 "--no-progress", "--out", str(out)]) == 0
    segments, attrs = _segments(out)
    assert segments == ["seg_test_day"] * 2 and attrs["split"] == "testing"


def test_truncated_parquet_download_is_skipped_and_reported(tmp_path):
    root = tmp_path / "training"
    _write_segment(root, "seg_a", "Night", "location_sf", 6, 200)
    _write_segment(root, "seg_b", "Day", "location_sf", 20, 100)
    _write_segment(root, "seg_c", "Day", "location_sf", 20, 50)
    # An interrupted download: the file exists but has no parquet footer.
    cut = root / "camera_image" / "seg_b.parquet"
    cut.write_bytes(cut.read_bytes()[:100])
    (root / "stats" / "seg_c.parquet").write_bytes(b"not a parquet file")
    manifest = prepare_waymo(root, tmp_path / "x.h5", size=8, progress=False)
    reasons = {s["path"]: s["reason"] for s in manifest["skipped"]}
    assert reasons["camera_image/seg_b.parquet"].startswith("unreadable parquet")
    assert reasons["stats/seg_c.parquet"].startswith("unreadable parquet")
    with h5py.File(tmp_path / "x.h5") as f:
        assert {s.decode() for s in f["segments"][:]} == {"seg_a"}
