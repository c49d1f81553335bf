"""The one place that builds the metric backbones: FID's Inception and LPIPS's AlexNet.

Both packages download their weights on first use. Here the weight file is looked for in
`$TORCH_HOME/hub/checkpoints/` (where torch.hub keeps it) and, when absent, downloaded there with a
timeout and checked against the hash prefix in its name. A machine without internet gets an error
naming the file, where to put it and the offline switch, at once rather than a hung download. Random
weights are an explicit choice (`pretrained=False`, `metrics.pretrained_backbones: false`) that is
shouted on stderr and recorded in every output's provenance, never a silent fallback.
"""

from __future__ import annotations

import hashlib
import re
import sys
import unittest.mock
import urllib.error
import urllib.request
from pathlib import Path

import torch
from torch import nn

from cfa.errors import UserError
from cfa.io import atomic_output

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
OFFLINE_SEED = 0

OFFLINE_HINT = ("or run without pretrained weights (values then NOT comparable to the paper): "
                "`--set metrics.pretrained_backbones=false`, or `make demo OFFLINE=1`")


def hub_checkpoint_dir() -> Path:
    """Where torch.hub (and so pytorch-fid and torchvision) keeps downloaded weights."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _weight_file(name: str, what: str, url: str) -> Path:
    path = hub_checkpoint_dir() / name
    if path.is_file():
        return path
    try:
        download_weights(url, path)
    except (OSError, ValueError) as e:  # URLError and timeouts are OSErrors
        raise UserError(
            f"the {what} weights `{name}` are missing: no file {path}, and downloading {url} failed "
            f"({e}). Fetch that URL elsewhere and place the file at {path} (the directory follows "
            f"$TORCH_HOME, default ~/.cache/torch), {OFFLINE_HINT}") from None
    return path


def download_weights(url: str, path: Path, timeout: float = 60.0) -> None:
    """Download `url` to `path` atomically; verify the sha256 prefix torch.hub file names carry."""
    expected = re.search(r"-([0-9a-f]{8,})\.", path.name)
    print(f"cfa: downloading {url} -> {path}", file=sys.stderr)
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout) as response, atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                f.write(chunk)
        if expected and not digest.hexdigest().startswith(expected.group(1)):
            raise ValueError(f"sha256 {digest.hexdigest()[:12]}... does not match the expected prefix "
                             f"{expected.group(1)} of {path.name}")


def _warn_offline(what: str) -> None:
    bar = "!" * 78
    print(f"{bar}\n!! OFFLINE BACKBONE: {what} has RANDOM weights (seed {OFFLINE_SEED}).\n"
          f"!! Metric values are self-consistent but NOT comparable to the paper or to runs with\n"
          f"!! pretrained weights. Every output written records this.\n{bar}", file=sys.stderr)


def _init_random(module: nn.Module, seed: int) -> None:
    """Deterministic random weights that keep activations at a useful scale through deep nets.

    PyTorch's default conv init shrinks activations layer by layer (variance 1/(3 fan_in)), which
    after Inception's ~40 layers leaves features near zero; He-normal keeps them O(1).
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()
                m.reset_running_stats()


def _provenance(pretrained: bool, name: str, weights: str | None) -> dict:
    if pretrained:
        return {"pretrained": True, "backbone": name, "weights": weights,
                "note": f"pretrained {name} ({weights})"}
    return {"pretrained": False, "backbone": name, "weights": None, "seed": OFFLINE_SEED,
            "note": f"OFFLINE: randomly initialised {name} - values are NOT comparable to the paper"}


def fid_inception_architecture():
    """pytorch-fid's FID Inception (torchvision Inception-v3 with the FID-patched blocks), weights
    not loaded: the module whose state dict `pt_inception-2015-12-05-6726825d.pth` holds."""
    from pytorch_fid import inception as pfi

    net = pfi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = pfi.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pfi.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pfi.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pfi.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pfi.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pfi.FIDInceptionE_1(1280)
    net.Mixed_7c = pfi.FIDInceptionE_2(2048)
    return net


def inception_v3_fid(pretrained: bool, device: str | torch.device = "cpu"):
    """pytorch-fid's InceptionV3 returning pool3 (2048-d) features, in eval mode.

    Returns (model, provenance). With `pretrained`, the FID weights are read from the hub checkpoint
    directory; a missing file raises UserError before any download is attempted.
    """
    from pytorch_fid import inception as pfi

    if pretrained:
        path = _weight_file(INCEPTION_FILE, "FID Inception", pfi.FID_WEIGHTS_URL)

        def load_local(url, *args, **kwargs):
            return torch.load(path, map_location="cpu", weights_only=True)
    else:
        _warn_offline("FID Inception-v3")

    # pytorch-fid's builder fetches the weights by URL; route that fetch to the local file so its
    # architecture code (the FID-patched Inception blocks) is used unchanged.
    if pretrained:
        with unittest.mock.patch.object(pfi, "load_state_dict_from_url", load_local):
            model = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
    else:
        with unittest.mock.patch.object(pfi, "fid_inception_v3", fid_inception_architecture):
            model = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
        _init_random(model, OFFLINE_SEED)
    model = model.eval().to(device)
    return model, _provenance(pretrained, "Inception-v3 (pytorch-fid, pool3 2048-d)",
                              INCEPTION_FILE if pretrained else None)


# lpips' AlexNet wrapper splits torchvision's `features` into slices that keep the original
# indices as module names: features.<i> lives in slice<k>.<i>.
_ALEX_SLICE_OF_INDEX = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}


LPIPS_VERSIONS = ("0.1", "0.0")


def lpips_alex(pretrained: bool, device: str | torch.device = "cpu", version: str = "0.1"):
    """lpips' LPIPS metric with the AlexNet trunk, in eval mode. Returns (model, provenance).

    The linear heads always come from the lpips wheel, which ships two sets: v0.1 (the default) and
    v0.0, the first release, whose trunk sees the [-1, 1] input without lpips' ImageNet shift and
    scale; BicycleGAN's diversity protocol (and so Table 1) uses v0.0. The trunk comes from
    torchvision's ImageNet AlexNet file in the hub checkpoint directory (pretrained) or from a
    seeded random init.
    """
    import warnings

    import lpips

    version = str(version)
    if version not in LPIPS_VERSIONS:
        raise UserError(f"LPIPS version {version!r}: the lpips package ships {', '.join(LPIPS_VERSIONS)}")

    if pretrained:
        from torchvision.models import AlexNet_Weights
        path = _weight_file(ALEXNET_FILE, "LPIPS AlexNet trunk", AlexNet_Weights.IMAGENET1K_V1.url)
    else:
        _warn_offline("LPIPS AlexNet trunk")
    with warnings.catch_warnings():
        # lpips still passes torchvision's deprecated `pretrained=` flag.
        warnings.simplefilter("ignore", UserWarning)
        # pnet_rand=True: lpips builds the trunk without downloading; we fill it in below.
        model = lpips.LPIPS(net="alex", version=version, pretrained=True, pnet_rand=True, verbose=False)
    if pretrained:
        state = torch.load(path, map_location="cpu", weights_only=True)
        trunk = {}
        for key, value in state.items():
            parts = key.split(".")
            if parts[0] == "features" and int(parts[1]) in _ALEX_SLICE_OF_INDEX:
                trunk[f"slice{_ALEX_SLICE_OF_INDEX[int(parts[1])]}.{parts[1]}.{parts[2]}"] = value
        model.net.load_state_dict(trunk, strict=True)
    else:
        _init_random(model.net, OFFLINE_SEED)
    model = model.eval().to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    provenance = _provenance(pretrained, f"AlexNet (lpips v{version} linear heads)",
                             ALEXNET_FILE if pretrained else None)
    return model, {**provenance, "lpips_version": version}


def combined_provenance(*provenances: dict) -> dict:
    """One summary for an output that used several backbones: pretrained only if all were."""
    pretrained = all(p["pretrained"] for p in provenances)
    notes = "; ".join(p["note"] for p in provenances)
    return {"pretrained": pretrained, "backbones": list(provenances),
            "note": notes if pretrained else "OFFLINE (random-weight backbones): " + notes}
