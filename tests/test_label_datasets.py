"""The Table 3 datasets as params.yaml makes them: seeded stratified splits, kinds from the spec,
label encodings, raw-data checks and the bad-input messages."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from cfa.config import load_params
from cfa.datasets import domains
from cfa.datasets.catalog import raw_inputs_missing
from cfa.datasets.kinds import kind_of, open_dataset
from cfa.datasets.makers import make_dataset
from cfa.datasets.splits import TEST, TRAIN, consecutive_blocks, stratified_split
from cfa.errors import UserError
from factories import REPO
from raw_fixtures import write_cacd, write_driving, write_utkface, write_waymo_v2


def params_with(**datasets) -> dict:
    params = load_params(REPO / "params.yaml")
    for name, changes in datasets.items():
        params["datasets"][name].update(changes)
    return params


# ---- splits --------------------------------------------------------------------------------------

def test_stratified_split_takes_the_fraction_of_each_domain_and_is_seeded():
    strata = np.array([0] * 20 + [1] * 200)
    split = stratified_split(strata, 0.1, seed=3)
    assert ((split == TEST) & (strata == 0)).sum() == 2 and ((split == TEST) & (strata == 1)).sum() == 20
    assert np.array_equal(split, stratified_split(strata, 0.1, seed=3))
    assert not np.array_equal(split, stratified_split(strata, 0.1, seed=4))
    # a domain of two keeps one image on each side; a domain of one stays in training
    tiny = stratified_split(np.array([0, 0, 1]), 0.01, seed=0)
    assert sorted(tiny[:2].tolist()) == [TRAIN, TEST] and tiny[2] == TRAIN


def test_grouped_split_keeps_each_group_on_one_side():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(30), 5)
    strata = rng.integers(0, 2, size=len(groups))
    split = stratified_split(strata, 0.2, seed=1, groups=groups)
    for g in range(30):
        assert len(set(split[groups == g].tolist())) == 1
    for s in (0, 1):
        share = ((split == TEST) & (strata == s)).sum() / (strata == s).sum()
        assert 0.1 < share < 0.4
    # blocks of consecutive frames never span two segments
    starts = np.array([1, 0, 0, 0, 0, 1, 0, 0], dtype=bool)
    blocks = consecutive_blocks(8, 2, starts)
    assert len(set(blocks[:5])) == 3 and not set(blocks[:5]) & set(blocks[5:])


# ---- makers and preparers --------------------------------------------------------------------

def test_cells_maker_writes_kind_split_encoding_and_source_images(tmp_path):
    params = params_with(**{"Cell-200": {"counts": [1, 6], "per_count": 2, "source_images": 8, "size": 16,
                                         "workers": 0, "test_fraction": 0.25, "split_seed": 1}})
    out = tmp_path / "cells.h5"
    manifest = make_dataset(params, "Cell-200", out, progress=False)
    assert kind_of(out) == "unpaired-with-label"
    with h5py.File(out) as f:
        counts, split, domain = f["CellCounts"][:], f["split"][:], f["domain"][:]
        assert f.attrs["source"] == "simulated" and "seed 1" in f.attrs["split_rule"]
        index = f["image_index"][:]
    assert (counts == 1).sum() == 8 and (counts == 6).sum() == 2 and len(counts) == 8 + 5 * 2
    assert index[counts == 1].tolist() == list(range(8))
    assert ((split == TEST) & (domain == 0)).sum() == 2 and ((split == TEST) & (domain == 1)).sum() == 2
    assert manifest["counts"]["split"]["test"] == {"source": 2, "target": 2, "unused": 0}
    reader = open_dataset(out, split="test")
    info = reader.info()
    assert info["label_unit"] == "cells" and info["label_encoding"]["range"] == [1.0, 6.0]
    assert info["figure_sweep"].startswith("1,") and info["figure_sweep"].endswith(",6")
    assert len(open_dataset(out, split="train")) == 8


def test_utkface_maker_honours_the_spec_kind_and_ages(tmp_path):
    root = write_utkface(tmp_path / "UTKFace", per_bin=3)
    unpaired = params_with(UTKFace={"root": str(root), "size": 16, "test_fraction": 0.34})
    make_dataset(unpaired, "UTKFace", tmp_path / "aging.h5", progress=False)
    assert kind_of(tmp_path / "aging.h5") == "unpaired-with-label"
    with h5py.File(tmp_path / "aging.h5") as f:
        assert f["labels"][:].max() > 60 and "split" in f
    # Table 4's entry (UTKFace-ages): the same maker from the same folder, kind labelled, ages 1..60,
    # no split, CcGAN's label scale (ages / 60) and race as the diversity attribute
    labelled = params_with(**{"UTKFace-ages": {"root": str(root), "size": 16}})
    assert labelled["datasets"]["UTKFace-ages"]["kind"] == "labelled"
    make_dataset(labelled, "UTKFace-ages", tmp_path / "ages.h5", progress=False)
    assert kind_of(tmp_path / "ages.h5") == "labelled"
    reader = open_dataset(tmp_path / "ages.h5")
    assert reader.raw_labels.max() == 60 and reader.raw_labels.min() == 13 and reader.labels.max() == 1.0
    assert reader.info()["label_range"] == [1.0, 60.0] and reader.attribute_key == "races"
    with h5py.File(tmp_path / "ages.h5") as f:
        assert "split" not in f


def test_cacd_split_keeps_people_apart(tmp_path):
    root = write_cacd(tmp_path / "CACD2000", people=6)
    params = params_with(CACD2000={"root": str(root), "size": 16, "test_fraction": 0.3})
    make_dataset(params, "CACD2000", tmp_path / "cacd.h5", progress=False)
    with h5py.File(tmp_path / "cacd.h5") as f:
        ids, split = f["identities"][:], f["split"][:]
        assert "whole identities" in f.attrs["split_rule"]
    for person in set(ids.tolist()):
        assert len(set(split[ids == person].tolist())) == 1
    assert (split == TEST).any() and (split == TRAIN).any()


def test_steering_and_waymo_makers(tmp_path):
    driving = write_driving(tmp_path / "driving_dataset")
    waymo = write_waymo_v2(tmp_path / "waymo_v2")
    params = params_with(SteeringAngle={"root": str(driving), "size": 16, "split_block": 1, "test_fraction": 0.3},
                         Waymo={"root": str(waymo), "size": 16, "every": 1, "split_block": 2, "test_fraction": 0.3})
    make_dataset(params, "SteeringAngle", tmp_path / "steer.h5", progress=False)
    steer = open_dataset(tmp_path / "steer.h5", split="test")
    assert steer.info()["label_unit"] == "deg" and steer.info()["figure_sweep"].startswith("-80,")
    make_dataset(params, "Waymo", tmp_path / "waymo.h5", progress=False)
    with h5py.File(tmp_path / "waymo.h5") as f:
        split, segments = f["split"][:], f["segments"][:]
    # blocks of 2 frames of one segment: test frames come in consecutive pairs
    for seg in set(segments.tolist()):
        s = split[segments == seg]
        assert (s == TEST).sum() % 2 == 0 and (s == TEST).any()
    assert open_dataset(tmp_path / "waymo.h5").info()["figure_sweep"] == "0,0.2,0.4,0.6,0.8,1"


# ---- bad input -----------------------------------------------------------------------------------

def test_a_domain_without_images_fails_naming_the_rule_and_counts(tmp_path):
    root = tmp_path / "UTKFace"
    write_utkface(root, per_bin=2)
    for teen in root.glob("1[3-9]_*"):
        teen.unlink()
    params = params_with(UTKFace={"root": str(root), "size": 16})
    with pytest.raises(UserError, match=r"no source images.*Domain rule: source = ages 13\.\.19.*"
                                        r"Counts found: source 0, target 8"):
        make_dataset(params, "UTKFace", tmp_path / "x.h5", progress=False)
    assert not (tmp_path / "x.h5").exists()


def test_too_few_images_for_a_split_fails_naming_the_counts(tmp_path):
    params = params_with(**{"Cell-200": {"counts": [1, 3], "per_count": 1, "size": 16, "workers": 0,
                                         "test_fraction": 0.2}})
    with pytest.raises(UserError, match=r"the test split has 0 source and 1 target images.*"
                                        r"Domain rule: source = count 1"):
        make_dataset(params, "Cell-200", tmp_path / "x.h5", progress=False)


def test_a_label_outside_the_encoding_fails_naming_the_value():
    t = domains.encode_labels(domains.STEERING_ENCODING, [-80, -72.5, -50, 70, 80])
    np.testing.assert_allclose(t, [0, 0, 0.14, 1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(domains.encode_labels(domains.AGING_ENCODING, [16, 40, 65, 90]),
                               [0, 0.375, 1, 1], atol=1e-6)
    np.testing.assert_allclose(domains.encode_labels(domains.cells_encoding(200), [1, 200]), [0, 1])
    with pytest.raises(UserError, match=r"target label 95 deg is outside the steering encoding's range \[-80, 80\]"):
        domains.encode_labels(domains.STEERING_ENCODING, [0, 95])
    with pytest.raises(UserError, match=r"target label 0 cells is outside"):
        domains.encode_labels(domains.cells_encoding(200), [0])
    # a bin's condition decodes to its centre
    assert domains.decode_conditions(domains.AGING_ENCODING, [0.5]) == pytest.approx([45.0])


def test_raw_checks_name_what_is_missing_and_the_official_page(tmp_path):
    params = params_with(UTKFace={"root": str(tmp_path / "UTKFace")},
                         SteeringAngle={"root": str(tmp_path / "driving_dataset")},
                         CACD2000={"root": str(tmp_path / "CACD2000")},
                         Waymo={"root": str(tmp_path / "waymo_v2")})
    assert raw_inputs_missing(params, "Cell-200") == []
    text = "\n".join(line for name in ("UTKFace", "SteeringAngle", "CACD2000", "Waymo")
                     for line in raw_inputs_missing(params, name))
    for expected in (f"UTKFace: needs the UTKFace face images in {tmp_path / 'UTKFace'}",
                     "https://susanqq.github.io/UTKFace/", "https://bcsiriuschen.github.io/CARC/",
                     "https://github.com/SullyChen/driving-datasets", "https://waymo.com/open/download/",
                     "the folder does not exist"):
        assert expected in text, expected
    (tmp_path / "driving_dataset").mkdir()
    assert "it has no data.txt" in raw_inputs_missing(params, "SteeringAngle")[0]
    write_waymo_v2(tmp_path / "waymo_v2")
    write_driving(tmp_path / "driving_dataset")
    assert raw_inputs_missing(params, "Waymo") == [] and raw_inputs_missing(params, "SteeringAngle") == []
