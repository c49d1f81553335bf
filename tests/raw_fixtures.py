"""Small raw downloads in their real published formats, for the Table 3 preparers and workflow.

    write_utkface(root, per_bin=4)      UTKFace `[age]_[gender]_[race]_[datetime].jpg.chip.jpg`
    write_cacd(root, people=3)          CACD2000 `<age>_<First>_<Last>_<nnnn>.jpg`
    write_driving(root)                 SteeringAngle `data.txt` (both line formats) + frames
    write_waymo_v2(root, segments)      Waymo v2 `<root>/training/{camera_image,stats}/<segment>.parquet`

Image content varies with the label (brightness with age, a bar's position with the angle) so a
model has something to learn; every file is tiny.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
from PIL import Image

# one age per aging domain: teenagers (source), then each target bin, plus an unused age
UTK_BIN_AGES = {"teen": (13, 19), "30s": (30, 39), "40s": (40, 49), "50s": (50, 59), "60+": (60, 80)}


def _face(path: Path, age: int, k: int, size=(40, 48)) -> None:
    rng = np.random.default_rng(age * 100 + k)
    base = np.clip(230 - 2 * age, 40, 230)
    img = np.clip(base + rng.normal(0, 12, size=(size[1], size[0], 3)), 0, 255).astype(np.uint8)
    Image.fromarray(img).save(path, quality=95)


def write_utkface(root: Path, per_bin: int = 4) -> Path:
    """`per_bin` faces in each aging bin (real UTKFace names), one 25-year-old (unused domain)."""
    root.mkdir(parents=True, exist_ok=True)
    stamp = 20170104020000000
    n = 0
    for lo, hi in UTK_BIN_AGES.values():
        for k in range(per_bin):
            age = lo + (k * (hi - lo)) // max(per_bin - 1, 1)
            _face(root / f"{age}_{k % 2}_{k % 5}_{stamp + n}.jpg.chip.jpg", age, k)
            n += 1
    _face(root / f"25_0_1_{stamp + n}.jpg.chip.jpg", 25, 0)
    return root


def write_cacd(root: Path, people: int = 3) -> Path:
    """Each person photographed as a teenager and at 30..60 (real CACD2000 names)."""
    root.mkdir(parents=True, exist_ok=True)
    for p in range(people):
        for j, age in enumerate((15 + p, 18, 32 + p, 45, 52, 61)):
            _face(root / f"{age}_First{p}_Last{p}_{j + 1:04d}.jpg", age, p)
    return root


def write_driving(root: Path, angles=(-79.0, -75.5, -70.0, -66.0, -50.0, -31.0, -12.0, 5.0, 25.0, 44.0,
                                     58.0, 75.0)) -> Path:
    """Frames and a data.txt in both published line formats (2016 and 2018, with a date)."""
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for k, angle in enumerate(angles):
        img = np.full((30, 54, 3), 90, np.uint8)
        col = int((angle + 80) / 160 * 50)
        img[:, col:col + 4] = 240
        Image.fromarray(img).save(root / f"{k}.jpg", quality=95)
        lines.append(f"{k}.jpg {angle:.6f}" if k % 2 else f"{k}.jpg {angle:.6f},2018-07-01 17:09:44:{k:03d}")
    (root / "data.txt").write_text("\n".join(lines) + "\n")
    return root


def _jpeg(value: int, k: int, size=(48, 32)) -> bytes:
    img = np.full((size[1], size[0], 3), value, np.uint8)
    img[:, (3 * k) % size[0]] = 255 - value
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _micros(hour_utc: int, second: int) -> int:
    return int(dt.datetime(2019, 5, 20, hour_utc, 0, second, tzinfo=dt.timezone.utc).timestamp() * 1e6)


# segment -> (Waymo time_of_day, location, UTC hour, grey value): 13:00 UTC in SF is dawn
WAYMO_SEGMENTS = {"10017090168044687777_6380_000_6400_000": ("Dawn/Dusk", "location_sf", 13, 60),
                  "10023947602400723454_1120_000_1140_000": ("Day", "location_sf", 20, 190)}


def write_waymo_v2(root: Path, segments: dict = WAYMO_SEGMENTS, frames: int = 6, split: str = "training") -> Path:
    """A v2 root: <root>/<split>/camera_image/<segment>.parquet (FRONT and FRONT_LEFT JPEGs) and
    <root>/<split>/stats/<segment>.parquet, with the real column names."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = root / split
    (folder / "camera_image").mkdir(parents=True, exist_ok=True)
    (folder / "stats").mkdir(parents=True, exist_ok=True)
    for segment, (tod, location, hour, value) in segments.items():
        stamps = [_micros(hour, s) for s in range(frames)]
        cam = {"key.segment_context_name": [], "key.frame_timestamp_micros": [], "key.camera_name": [],
               "[CameraImageComponent].image": []}
        for k, stamp in enumerate(stamps):
            for camera in (1, 2):
                cam["key.segment_context_name"].append(segment)
                cam["key.frame_timestamp_micros"].append(stamp)
                cam["key.camera_name"].append(camera)
                cam["[CameraImageComponent].image"].append(_jpeg(value if camera == 1 else 255 - value, k))
        pq.write_table(pa.table(cam), folder / "camera_image" / f"{segment}.parquet")
        stats = {"key.segment_context_name": [segment] * frames, "key.frame_timestamp_micros": stamps,
                 "[StatsComponent].time_of_day": [tod] * frames, "[StatsComponent].location": [location] * frames,
                 "[StatsComponent].weather": ["sunny"] * frames}
        pq.write_table(pa.table(stats), folder / "stats" / f"{segment}.parquet")
    return root
