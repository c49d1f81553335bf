"""Atomic outputs: nothing half-written is ever visible, and finished files are readable by others."""

import os
import stat

import pytest

from cfa.io import atomic_output, sha256_file, write_json_atomic, write_manifest


def test_finished_output_has_umask_permissions_not_mkstemp_0600(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_output(tmp_path / "out.bin") as tmp:
            tmp.write_bytes(b"data")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.bin").stat().st_mode) == 0o644


def test_failure_leaves_neither_the_output_nor_the_temporary(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_output(tmp_path / "out.h5") as tmp:
            assert tmp.suffix == ".h5" and tmp.name.startswith(".out.h5.")
            tmp.write_bytes(b"partial")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_manifest_records_the_sha256_of_the_data_file(tmp_path):
    data = tmp_path / "set.h5"
    data.write_bytes(b"0123456789")
    manifest = write_manifest(data, dataset="x", source="procedural", params={"a": 1}, counts={"n": 1})
    assert manifest["sha256"] == sha256_file(data)
    assert (tmp_path / "set.json").is_file()
    write_json_atomic(tmp_path / "plain.json", {"v": 1})
    assert (tmp_path / "plain.json").read_text().strip().startswith("{")
