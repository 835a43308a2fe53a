"""The pix2pix networks (Isola et al. 2017): U-Net and PatchGAN shapes, layer recipe, parameter count, receptive field."""
import pytest
import torch
from torch import nn

from tomau.models.patchgan import PatchGANConfig, PatchGANDiscriminator, receptive_field
from tomau.models.unet import UNetConfig, UNetGenerator


def test_unet_256_is_the_pix2pix_network():
    g = UNetGenerator(UNetConfig())  # ngf=64, num_downs=8: pix2pix unet_256
    convs = [m for m in g.downs.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 512, 512, 512, 512]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in convs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in g.downs[0].modules())  # no norm on the first layer
    assert all(m.negative_slope == 0.2 for m in g.downs.modules() if isinstance(m, nn.LeakyReLU))
    dropouts = [i for i, up in enumerate(g.ups) if any(isinstance(m, nn.Dropout) for m in up.modules())]
    assert dropouts == [0, 1, 2]  # the first three decoder blocks
    assert all(m.p == 0.5 for m in g.modules() if isinstance(m, nn.Dropout))
    assert isinstance(g.ups[-1][-1], nn.Tanh)
    assert sum(p.numel() for p in g.parameters()) == pytest.approx(54.41e6, rel=1e-3)


def test_unet_shapes_range_and_size_check():
    g = UNetGenerator(UNetConfig(ngf=8, num_downs=6)).eval()
    out = g(torch.randn(2, 1, 64, 128))
    assert out.shape == (2, 2, 64, 128)
    assert out.abs().max() < 1
    with pytest.raises(ValueError, match="multiples of 64"):
        g(torch.randn(1, 1, 60, 64))


def test_unet_dropout_is_the_noise_in_training_mode_only():
    g = UNetGenerator(UNetConfig(ngf=8, num_downs=5))
    x = torch.randn(2, 1, 32, 32)
    g.train()
    assert not torch.equal(g(x), g(x))
    g.eval()
    assert torch.equal(g(x), g(x))


def test_patchgan_output_30x30_and_receptive_field_70():
    d = PatchGANDiscriminator(PatchGANConfig())
    assert d(torch.zeros(1, 3, 256, 256)).shape == (1, 1, 30, 30)
    assert receptive_field(d) == 70


def test_patchgan_receptive_field_measured_by_gradient():
    d = PatchGANDiscriminator(PatchGANConfig(ndf=8)).eval()
    for m in d.modules():  # positive weights: no gradient cancels by chance inside the field
        if isinstance(m, nn.Conv2d):
            nn.init.constant_(m.weight, 0.01)
    x = torch.zeros(1, 3, 256, 256, requires_grad=True)
    out = d(x)
    out[0, 0, 15, 15].backward()
    rows = x.grad[0].abs().sum(dim=(0, 2)).nonzero()
    cols = x.grad[0].abs().sum(dim=(0, 1)).nonzero()
    assert rows.max() - rows.min() + 1 == 70
    assert cols.max() - cols.min() + 1 == 70


def test_config_validation():
    with pytest.raises(ValueError):
        UNetConfig(num_downs=1).validate()
    with pytest.raises(ValueError):
        UNetConfig(n_dropout=9).validate()
