"""Waymo Open Dataset v2 (parquet): camera frames with time-of-day domains, no TensorFlow.

The v2 download is a root with one folder per split, `training/`, `validation/` and `testing/`;
ROOT may be that root (pick the split with `split`, default training) or one split folder. Layout
of one split: `camera_image/<segment>.parquet` with the frames of the five cameras as JPEG bytes,
and `stats/<segment>.parquet` with per-frame statistics. The two are joined
on `key.segment_context_name`. Segments are processed one at a time and, within a segment, the
camera file is read in record batches, so memory stays at one batch of JPEGs whatever the split.

Waymo labels the time of day `Day`, `Dawn/Dusk` or `Night`. Dawn and dusk are told apart by the
local *solar* hour of the frame: UTC time from `key.frame_timestamp_micros` plus the location's
longitude / 15 h. A `Dawn/Dusk` frame before solar noon is dawn, after it dusk. Solar time needs
no time-zone or daylight-saving tables; the longitudes per `[StatsComponent].location` are in
LOCATION_LONGITUDE (extend or override with `--longitude LOCATION=DEG`).
"""

from __future__ import annotations

import io
import time
from collections import Counter
from pathlib import Path

import numpy as np

from cfa.datasets import domains
from cfa.datasets.h5writer import UNREADABLE, StreamingH5, decode_image
from cfa.errors import UserError
from cfa.io import atomic_output, write_manifest

URL = "https://waymo.com/open/download/"
SPLITS = ("training", "validation", "testing")
LAYOUT = ("ROOT is the v2 root holding training/, validation/ and/or testing/ (choose with --split, "
          "default training), or one split folder itself; a split folder holds "
          "camera_image/<segment>.parquet and stats/<segment>.parquet, e.g. data/raw/waymo_v2/training/"
          "camera_image/10017090168044687777_6380_000_6400_000.parquet (gsutil cp -r "
          "gs://waymo_open_dataset_v_2_0_1/training/{camera_image,stats} data/raw/waymo_v2/training/)")

SEGMENT = "key.segment_context_name"
TIMESTAMP = "key.frame_timestamp_micros"
CAMERA = "key.camera_name"
IMAGE = "[CameraImageComponent].image"
TIME_OF_DAY = "[StatsComponent].time_of_day"
LOCATION = "[StatsComponent].location"
CAMERA_COLUMNS = (SEGMENT, TIMESTAMP, CAMERA, IMAGE)
STATS_COLUMNS = (SEGMENT, TIME_OF_DAY, LOCATION)

CAMERAS = {"FRONT": 1, "FRONT_LEFT": 2, "FRONT_RIGHT": 3, "SIDE_LEFT": 4, "SIDE_RIGHT": 5}
# Degrees east. `location_other` is Waymo's catch-all; most of it was driven around Mountain View,
# which we assume (override with --longitude location_other=DEG).
LOCATION_LONGITUDE = {
    "location_sf": -122.42, "location_phx": -112.07, "location_mtv": -122.08, "location_la": -118.24,
    "location_det": -83.05, "location_sea": -122.33, "location_other": -122.08,
}
RAW_TIME_OF_DAY = {"Day": "day", "Night": "night", "Dawn/Dusk": None}
TIME_CODES = {name: i for i, name in enumerate(domains.TIME_OF_DAY)}


def solar_hour(timestamp_micros, longitude_deg: float) -> np.ndarray:
    """Local mean solar hour in [0, 24) of UTC microsecond timestamps at a longitude."""
    utc_hours = (np.asarray(timestamp_micros, dtype=np.int64) % 86_400_000_000) / 3_600_000_000
    return np.mod(utc_hours + longitude_deg / 15.0, 24.0)


def time_of_day_names(raw_label: str, hours: np.ndarray) -> np.ndarray:
    """dawn/day/dusk/night per frame from Waymo's label and the solar hour."""
    fixed = RAW_TIME_OF_DAY[raw_label]
    if fixed is not None:
        return np.full(len(hours), fixed, dtype=object)
    return np.where(np.asarray(hours) < 12.0, "dawn", "dusk").astype(object)



def _open_parquet(path: Path, root: Path, skipped: list[dict]):
    """The ParquetFile, or None with the reason recorded in `skipped`.

    A truncated or interrupted download is not a parquet file: its segment is skipped, not fatal.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        skipped.append({"path": str(path.relative_to(root)),
                        "reason": f"unreadable parquet: {type(e).__name__}: {e}"})
        return None

def _has_columns(path: Path, parquet, required: tuple[str, ...], component: str, root: Path,
                 skipped: list[dict]) -> bool:
    """True when the file has every required column; else the reason is recorded in `skipped`."""
    missing = [c for c in required if c not in parquet.schema_arrow.names]
    if missing:
        skipped.append({"path": str(path.relative_to(root)),
                        "reason": f"missing column {missing[0]!r} (all missing: {missing}); a Waymo v2 "
                                  f"{component} parquet file has {list(required)}"})
    return not missing


def _is_split_folder(folder: Path) -> bool:
    return (folder / "camera_image").is_dir() or (folder / "stats").is_dir()


def resolve_split_folder(root: str | Path, split: str | None = None) -> tuple[Path, str]:
    """(the split folder to read, its split name) from a v2 root or a split folder.

    A folder with camera_image/ or stats/ is a split folder and is read as it is; otherwise
    ROOT/<split> (default training) is.
    """
    root = Path(root)
    how = f"Download the Waymo Open Dataset v2 from {URL}; expected layout: {LAYOUT}"
    if split is not None and split not in SPLITS:
        raise UserError(f"unknown Waymo split {split!r}; choose one of {list(SPLITS)}")
    if not root.is_dir():
        raise UserError(f"Waymo raw folder not found: {root}. {how}")
    if _is_split_folder(root):
        if split is not None and root.name in SPLITS and root.name != split:
            raise UserError(f"--root {root} is the {root.name} split folder but --split is {split}: give the "
                            f"v2 root ({root.parent}) with --split {split}, or drop --split")
        return root, root.name
    split = split or "training"
    if (root / split).is_dir():
        return root / split, split
    present = [s for s in SPLITS if (root / s).is_dir()]
    if present:
        raise UserError(f"Waymo v2 root {root} has no {split}/ folder (it has {', '.join(p + '/' for p in present)}); "
                        f"choose one with --split, or download {split}. {how}")
    raise UserError(f"Waymo raw folder {root} is neither a v2 root (no {'/, '.join(SPLITS)}/ folders) nor a "
                    f"split folder (no camera_image/ or stats/). {how}")


def _require_layout(root: Path) -> list[Path]:
    how = f"Download the Waymo Open Dataset v2 from {URL}; expected layout: {LAYOUT}"
    for sub in ("camera_image", "stats"):
        if not (root / sub).is_dir():
            raise UserError(f"Waymo raw folder {root} has no {sub}/ folder. {how}")
    files = sorted((root / "camera_image").glob("*.parquet"))
    if not files:
        raise UserError(f"Waymo raw folder {root / 'camera_image'} has no .parquet files. {how}")
    return files


def _centre_square(width: int, height: int) -> tuple[int, int, int, int]:
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def prepare_waymo(root: str | Path, out: str | Path, size: int = 64, camera: str = "FRONT",
                  every: int = 1, longitudes: dict[str, float] | None = None, split: str | None = None,
                  batch_rows: int = 32, progress: bool = True, test_fraction: float = 0.0,
                  split_seed: int = 0, split_block: int = 20) -> dict:
    """-> HDF5 `images` (N,3,S,S), `time_of_day` (int8: 0 dawn, 1 day, 2 dusk, 3 night), `domain`,
    `condition`, `segments`, `timestamps`, `locations`, `solar_hour`; returns the manifest.

    `root` is the v2 root (read `root/<split>`, split default training) or one split folder.
    `test_fraction` > 0 adds a seeded `split` array (our train/test within the chosen Waymo split):
    blocks of `split_block` consecutive kept frames of one segment go to one side."""
    from PIL import Image
    from tqdm import tqdm

    from cfa.datasets.splits import consecutive_blocks, finish_label_file

    t0 = time.perf_counter()
    given_root = Path(root)
    root, split = resolve_split_folder(given_root, split)
    if camera not in CAMERAS:
        raise UserError(f"unknown Waymo camera {camera!r}; choose one of {list(CAMERAS)}")
    if every < 1:
        raise UserError(f"--every must be >= 1, got {every}")
    camera_id = CAMERAS[camera]
    lon_table = {**LOCATION_LONGITUDE, **(longitudes or {})}
    files = _require_layout(root)
    skipped: list[dict] = []
    tod_counter: Counter = Counter()
    raw_counter: Counter = Counter()
    loc_counter: Counter = Counter()
    segments_done = 0

    with atomic_output(out) as tmp:
        with StreamingH5(tmp) as writer:
            for cam_path in tqdm(files, desc="prepare waymo", unit="segment", disable=not progress):
                stats_path = root / "stats" / cam_path.name
                if not stats_path.is_file():
                    skipped.append({"path": str(cam_path.relative_to(root)),
                                    "reason": f"no stats file {stats_path.relative_to(root)}"})
                    continue
                stats_file = _open_parquet(stats_path, root, skipped)
                if stats_file is None:
                    continue
                if not _has_columns(stats_path, stats_file, STATS_COLUMNS, "stats", root, skipped):
                    continue
                cam_file = _open_parquet(cam_path, root, skipped)
                if cam_file is None:
                    continue
                if not _has_columns(cam_path, cam_file, CAMERA_COLUMNS, "camera_image", root, skipped):
                    continue

                stats = stats_file.read(columns=list(STATS_COLUMNS)).to_pandas()
                keys = cam_file.read(columns=[SEGMENT, TIMESTAMP, CAMERA]).to_pandas()
                mine = keys[keys[CAMERA] == camera_id]
                if mine.empty:
                    skipped.append({"path": str(cam_path.relative_to(root)),
                                    "reason": f"no frames of camera {camera}"})
                    continue
                segment = str(mine[SEGMENT].iloc[0])
                seg_stats = stats[stats[SEGMENT] == segment]
                if seg_stats.empty:
                    skipped.append({"path": str(stats_path.relative_to(root)),
                                    "reason": f"no stats rows for segment {segment}"})
                    continue
                # Time of day and location are per segment; take the most frequent value.
                raw_label = str(seg_stats[TIME_OF_DAY].mode().iloc[0])
                location = str(seg_stats[LOCATION].mode().iloc[0])
                if raw_label not in RAW_TIME_OF_DAY:
                    skipped.append({"path": str(cam_path.relative_to(root)),
                                    "reason": f"unknown time_of_day {raw_label!r}"})
                    continue
                if raw_label == "Dawn/Dusk" and location not in lon_table:
                    skipped.append({"path": str(cam_path.relative_to(root)),
                                    "reason": f"Dawn/Dusk segment at unknown location {location!r}: "
                                              f"give --longitude {location}=DEG"})
                    continue
                wanted = set(np.sort(mine[TIMESTAMP].to_numpy())[::every].tolist())

                rows: dict[str, list] = {"images": [], "timestamps": []}
                for record in cam_file.iter_batches(batch_size=batch_rows, columns=list(CAMERA_COLUMNS)):
                    cams = record.column(CAMERA).to_numpy()
                    stamps = record.column(TIMESTAMP).to_numpy()
                    images = record.column(IMAGE)
                    for i in np.nonzero(cams == camera_id)[0]:
                        stamp = int(stamps[i])
                        if stamp not in wanted:
                            continue
                        jpeg = images[int(i)].as_py()
                        try:
                            with Image.open(io.BytesIO(jpeg)) as probe:
                                crop = _centre_square(*probe.size)
                            image = decode_image(jpeg, size, crop=crop)
                        except UNREADABLE as e:
                            skipped.append({"path": f"{cam_path.relative_to(root)}@{stamp}",
                                            "reason": f"undecodable JPEG: {type(e).__name__}: {e}"})
                            continue
                        rows["images"].append(image)
                        rows["timestamps"].append(stamp)
                if not rows["images"]:
                    continue
                order = np.argsort(rows["timestamps"], kind="stable")
                stamps = np.array(rows["timestamps"], dtype=np.int64)[order]
                hours = solar_hour(stamps, lon_table.get(location, np.nan))
                names = time_of_day_names(raw_label, hours)
                domain, condition = domains.waymo_domains(names)
                n = len(stamps)
                writer.append(images=np.stack(rows["images"])[order],
                              time_of_day=np.array([TIME_CODES[t] for t in names], dtype=np.int8),
                              domain=domain, condition=condition,
                              segments=[segment] * n, timestamps=stamps,
                              locations=[location] * n, solar_hour=hours.astype(np.float32))
                tod_counter.update(names.tolist())
                raw_counter[raw_label] += n
                loc_counter[location] += n
                segments_done += 1
            if writer.rows == 0:
                reasons = "; ".join(f"{s['path']}: {s['reason']}" for s in skipped[:3])
                raise UserError(f"Waymo: no frames of camera {camera} could be read under {root} "
                                f"({len(skipped)} files skipped{', e.g. ' + reasons if reasons else ''}). "
                                f"Is it a v2 split folder (not v1 TFRecords)? See {URL}")
            segments = writer.file["segments"][:]
            starts = np.ones(len(segments), dtype=bool)
            starts[1:] = segments[1:] != segments[:-1]
            split_record = finish_label_file(
                writer, dataset="waymo", kind="unpaired-with-label", rule=domains.DESCRIPTIONS["waymo"],
                encoding=domains.WAYMO_ENCODING, test_fraction=test_fraction, split_seed=split_seed,
                where=f"under {root} (camera {camera})", groups=consecutive_blocks(len(segments), split_block, starts),
                group_rule=f"blocks of {split_block} consecutive kept frames of one segment")
            writer.set_attrs(
                dataset="waymo",
                source="waymo",
                kind="unpaired-with-label",
                split=split,
                image_key="images",
                label_key="time_of_day",
                label_name="time of day (0 dawn, 1 day, 2 dusk, 3 night)",
                size=size,
                camera=camera,
                domain_rule=domains.DESCRIPTIONS["waymo"],
            )
            writer.set_attr("dawn_dusk_rule", "Dawn/Dusk frame with local solar hour "
                                              "(UTC + longitude/15) < 12 -> dawn, else dusk")
    names_all = [n for n, c in tod_counter.items() for _ in range(c)]
    domain, condition = domains.waymo_domains(names_all)
    counts = {"images": sum(tod_counter.values()), "segments": segments_done, "skipped": len(skipped),
              "time_of_day": dict(sorted(tod_counter.items())), "waymo_label": dict(raw_counter),
              "locations": dict(loc_counter), "domains": domains.domain_counts(domain, condition)}
    if split_record is not None:
        counts["split"] = split_record
    return write_manifest(out, dataset="waymo", source=str(root),
                          params={"root": str(given_root), "split": split, "size": size, "camera": camera,
                                  "every": every, "test_fraction": test_fraction, "split_seed": split_seed,
                                  "split_block": split_block,
                                  "crop": "centre square", "longitudes": lon_table},
                          counts=counts, skipped=skipped, seconds=time.perf_counter() - t0)
