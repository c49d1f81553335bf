"""AtomConv2d / AtomConvTranspose2d against the einsum + per-sample F.conv2d reference."""

import pytest
import torch
import torch.nn.functional as F

from cfa.layers import (CONV_IMPLS, CONV_TRANSPOSE_IMPLS, AtomConv2d, AtomConvTranspose2d, compose_filters)


def _reference(layer: AtomConv2d, x, atoms):
    outs = []
    for b in range(x.shape[0]):
        weight = torch.einsum("cvm,mkl->cvkl", layer.coefficients, atoms[b])
        xb = x[b:b + 1]
        pad = layer.padding
        if layer.padding_mode != "zeros":
            xb = F.pad(xb, (pad[1], pad[1], pad[0], pad[0]), mode=layer.padding_mode)
            pad = (0, 0)
        outs.append(F.conv2d(xb, weight, layer.bias, layer.stride, pad))
    return torch.cat(outs)


@pytest.mark.parametrize("impl", CONV_IMPLS + ("auto",))
@pytest.mark.parametrize("stride,padding,mode,k", [(1, 0, "zeros", 3), (1, 1, "zeros", 3), (2, 1, "zeros", 3),
                                                   (1, 1, "reflect", 3), (2, 2, "reflect", 5), (1, 0, "zeros", 1)])
def test_atom_conv_matches_reference(impl, stride, padding, mode, k):
    torch.manual_seed(0)
    layer = AtomConv2d(5, 7, k, n_atoms=4, stride=stride, padding=padding, padding_mode=mode, impl=impl)
    torch.nn.init.normal_(layer.bias)
    x = torch.randn(3, 5, 11, 10)
    atoms = torch.randn(3, 4, k, k)
    torch.testing.assert_close(layer(x, atoms), _reference(layer, x, atoms), rtol=1e-4, atol=1e-4)


def test_atom_conv_differs_per_sample():
    torch.manual_seed(0)
    layer = AtomConv2d(2, 3, 3, n_atoms=2, padding=1)
    x = torch.randn(1, 2, 6, 6).expand(2, -1, -1, -1)
    atoms = torch.randn(2, 2, 3, 3)
    y = layer(x, atoms)
    assert (y[0] - y[1]).abs().max() > 1e-3


@pytest.mark.parametrize("impl", CONV_IMPLS)
def test_gradients_match_reference(impl):
    torch.manual_seed(1)
    layer = AtomConv2d(4, 3, 3, n_atoms=2, padding=1, impl=impl)
    x = torch.randn(2, 4, 6, 6, requires_grad=True)
    atoms = torch.randn(2, 2, 3, 3, requires_grad=True)
    layer(x, atoms).pow(2).sum().backward()
    got = [x.grad.clone(), atoms.grad.clone(), layer.coefficients.grad.clone()]
    x.grad = atoms.grad = layer.coefficients.grad = None
    _reference(layer, x, atoms).pow(2).sum().backward()
    for g, r in zip(got, [x.grad, atoms.grad, layer.coefficients.grad]):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("impl", CONV_TRANSPOSE_IMPLS)
def test_atom_conv_transpose_matches_reference(impl):
    torch.manual_seed(0)
    layer = AtomConvTranspose2d(5, 4, 3, n_atoms=3, stride=2, padding=1, output_padding=1, impl=impl)
    torch.nn.init.normal_(layer.bias)
    x = torch.randn(2, 5, 6, 7)
    atoms = torch.randn(2, 3, 3, 3)
    ref = torch.cat([F.conv_transpose2d(x[b:b + 1], torch.einsum("iom,mkl->iokl", layer.coefficients, atoms[b]),
                                        layer.bias, 2, 1, 1) for b in range(2)])
    out = layer(x, atoms)
    assert out.shape == (2, 4, 12, 14)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_coefficient_init_scale_and_shape_checks():
    torch.manual_seed(0)
    layer = AtomConv2d(256, 64, 3, n_atoms=8)
    assert layer.coefficients.shape == (64, 256, 8)
    assert abs(layer.coefficients.std().item() - 1 / 16) < 0.005
    assert compose_filters(layer.coefficients, torch.randn(2, 8, 3, 3)).shape == (2, 64, 256, 3, 3)
    with pytest.raises(ValueError, match="atoms of shape"):
        layer(torch.randn(2, 256, 5, 5), torch.randn(3, 8, 3, 3))
