"""Backbone weights: downloaded into the torch.hub directory and hash-checked, or a clear error."""

import hashlib

import pytest

from cfa.errors import UserError
from cfa.metrics import backbones


def _source(tmp_path, payload=b"weights" * 1000):
    src = tmp_path / "src.bin"
    src.write_bytes(payload)
    return src, hashlib.sha256(payload).hexdigest()


def test_download_writes_the_file_when_its_hash_matches_the_name(tmp_path):
    src, digest = _source(tmp_path)
    dest = tmp_path / "hub" / f"net-{digest[:8]}.pth"
    backbones.download_weights(src.as_uri(), dest)
    assert dest.read_bytes() == src.read_bytes()


def test_download_with_a_wrong_hash_leaves_nothing(tmp_path):
    src, _ = _source(tmp_path)
    dest = tmp_path / "hub" / "net-deadbeef.pth"
    with pytest.raises(ValueError, match="deadbeef"):
        backbones.download_weights(src.as_uri(), dest)
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_missing_weights_that_cannot_be_downloaded_name_file_place_and_switch(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    unreachable = (tmp_path / "nowhere" / "weights.pth").as_uri()
    with pytest.raises(UserError) as err:
        backbones._weight_file(backbones.INCEPTION_FILE, "FID Inception", unreachable)
    msg = str(err.value)
    assert backbones.INCEPTION_FILE in msg and str(tmp_path / "torch" / "hub" / "checkpoints") in msg
    assert "metrics.pretrained_backbones=false" in msg and "OFFLINE=1" in msg


def test_weights_already_in_place_are_used_without_download(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    target = backbones.hub_checkpoint_dir() / backbones.ALEXNET_FILE
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x")
    assert backbones._weight_file(backbones.ALEXNET_FILE, "AlexNet", "http://unused.invalid/") == target
