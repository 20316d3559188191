"""The DCGAN: each player's step lowers its loss on a fixed tiny batch and fixed noise, shapes, save/load."""

from __future__ import annotations

import torch

from sandbox.components import load_component
from sandbox.components.gan import GAN, GANConfig
from tests.sandbox.components_data import tiny_arrays


def test_steps_lower_each_loss_shapes_and_round_trip(tmp_path):
    arrays, _ = tiny_arrays(tmp_path, steps=64)
    real = torch.as_tensor(arrays["pixels"][::8][:8])
    gan = GAN({"pixels": (64, 64, 3)}, GANConfig(channels=(8, 16, 16), latent_dim=16, batch_size=8)).train()
    z = torch.randn(8, 16, generator=torch.Generator().manual_seed(0))
    d_before, g_before = gan.discriminator_loss(real, z).item(), gan.generator_loss(z).item()
    torch.manual_seed(0)
    gan.fit_step({"pixels": real})
    assert gan.discriminator_loss(real, z).item() < d_before
    gan.optimizers["generator"].zero_grad()
    loss = gan.generator_loss(z)
    loss.backward()
    gan.optimizers["generator"].step()
    assert gan.generator_loss(z).item() < loss.item() or gan.generator_loss(z).item() < g_before
    samples = gan.eval().sample(5)
    assert samples.shape == (5, 64, 64, 3) and 0.0 <= samples.min() and samples.max() <= 1.0
    gan.save(tmp_path / "gan.pt")
    other = load_component(tmp_path / "gan.pt")
    g = torch.Generator().manual_seed(3)
    assert torch.equal(other.sample(2, g), gan.sample(2, torch.Generator().manual_seed(3)))
