"""Autoencoders (plain, convolutional, variational) and the "latent" backbone: one step lowers the loss on a
fixed tiny batch, save/load round trip, shapes, and the backbone contract."""

from __future__ import annotations

import pytest
import torch

from sandbox.backbones import make_backbone
from sandbox.components import load_component
from sandbox.components.autoencoder import Autoencoder, AutoencoderConfig, kl_divergence
from tests.sandbox.components_data import tiny_arrays
from tests.sandbox.spaces import cardrive_space

SMALL = {"channels": (8, 16, 16), "latent_dim": 8, "batch_size": 8, "widths": (32,)}
CASES = {"conv": {}, "plain": {"backbone": "mlp", "learning_rate": 1e-4}, "vae": {"variational": True}}


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    arrays, _ = tiny_arrays(tmp_path_factory.mktemp("data"))
    return torch.as_tensor(arrays["pixels"][::16][:8])  # (8, 64, 64, 3): 8 frames apart in time


def make(case: str) -> Autoencoder:
    return Autoencoder({"pixels": (64, 64, 3)}, AutoencoderConfig(**SMALL, **CASES[case]))


@pytest.mark.parametrize("case", CASES)
def test_one_step_lowers_the_loss(case, frames):
    model = make(case).train()
    torch.manual_seed(1)
    before = model.loss(frames)["loss"].item()
    model.fit_step({"pixels": frames})
    torch.manual_seed(1)  # the same noise of the reparameterisation
    assert model.loss(frames)["loss"].item() < before


@pytest.mark.parametrize("case", CASES)
def test_shapes_and_save_load_round_trip(case, frames, tmp_path):
    model = make(case)
    model.fit({"pixels": frames}, epochs=1)
    assert model.encode(frames).shape == (8, 8)
    assert model.reconstruct(frames).shape == (8, 64, 64, 3)
    assert model.sample(3).shape == (3, 64, 64, 3)
    model.save(tmp_path / "ae.pt")
    other = load_component(tmp_path / "ae.pt")
    assert other.kind == ("vae" if case == "vae" else "autoencoder")
    assert torch.equal(model.encode(frames), other.encode(frames))
    assert 0.0 < model.reconstruction_error(frames) < 1.0


def test_kl_of_the_prior_is_zero_and_positive_elsewhere():
    assert torch.allclose(kl_divergence(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2))
    assert (kl_divergence(torch.ones(2, 3), torch.zeros(2, 3)) > 0).all()


@pytest.fixture(scope="module")
def vae_checkpoint(tmp_path_factory, frames):
    path = tmp_path_factory.mktemp("vae") / "vae.pt"
    model = make("vae")
    model.fit({"pixels": frames}, epochs=1)
    model.save(path)
    return path


@pytest.mark.parametrize("obs", ["pixels", "both"])
def test_latent_backbone_contract(obs, vae_checkpoint, frames, tmp_path):
    space = cardrive_space(obs)
    backbone = make_backbone("latent", space, checkpoint=vae_checkpoint)
    batch = frames if obs == "pixels" else {"pixels": frames, "rays": torch.rand(8, 11)}
    assert isinstance(backbone.out_dim, int) and backbone(batch).shape == (8, backbone.out_dim)
    one = frames[:1] if obs == "pixels" else {"pixels": frames[:1], "rays": torch.rand(1, 11)}
    assert backbone(one).shape == (1, backbone.out_dim)
    backbone.train()
    assert torch.equal(backbone(batch), backbone(batch))  # frozen: batch norm keeps its statistics
    assert not any(p.requires_grad for p in backbone.parameters()) and not backbone.trainable_by_gradient
    torch.save(backbone.state_dict(), tmp_path / "b.pt")
    other = make_backbone("latent", space, checkpoint=vae_checkpoint)
    other.load_state_dict(torch.load(tmp_path / "b.pt", weights_only=True))
    assert torch.equal(other(batch), backbone(batch))


def test_latent_backbone_fine_tuned_gets_gradients(vae_checkpoint, frames):
    backbone = make_backbone("latent", cardrive_space("pixels"), checkpoint=vae_checkpoint, freeze=False)
    features = backbone(frames)
    (features * torch.randn_like(features)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in backbone.parameters())


def test_latent_backbone_refuses_what_it_cannot_read(vae_checkpoint):
    with pytest.raises(ValueError, match="checkpoint=PATH"):
        make_backbone("latent", cardrive_space("pixels"))
    with pytest.raises(ValueError, match="backbone 'latent' cannot read"):
        make_backbone("latent", cardrive_space("rays"), checkpoint=vae_checkpoint)
    with pytest.raises(FileNotFoundError):
        make_backbone("latent", cardrive_space("pixels"), checkpoint="missing.pt")


def test_an_agent_drives_from_the_latent(vae_checkpoint):
    from agents.a2c import A2CConfig, train

    config = A2CConfig(env_kwargs={"obs": "pixels"}, backbone="latent", num_envs=4, num_steps=4, total_timesteps=32,
                       backbone_options={"checkpoint": str(vae_checkpoint)})
    model, history = train(config)
    assert len(history["policy_loss"]) == 2


def test_the_auxiliary_loss_is_the_heads_squared_error_on_standardised_rays(tmp_path):
    arrays, meta = tiny_arrays(tmp_path, level="normal")
    data = Autoencoder.dataset(arrays, meta, aux_coef=2.0)
    rays = torch.as_tensor(arrays["rays"])
    by_hand = (rays - rays.mean(0)) / rays.std(0).clamp_min(1e-3)  # normal's constant traffic columns: 0
    assert torch.allclose(data["rays"], by_hand) and data["rays"].shape == (len(rays), 29)
    model = Autoencoder(Autoencoder.shapes_of(data), AutoencoderConfig(**SMALL, variational=True, aux_coef=2.0))
    frames, targets = data["pixels"][:8], data["rays"][:8]
    torch.manual_seed(3)
    plain = model.loss(frames)  # no rays given: reconstruction and KL only
    torch.manual_seed(3)
    losses = model.loss(frames, targets)
    aux = (model.aux_head(model.encode(frames)) - targets).pow(2).sum(1).mean()
    assert torch.allclose(losses["aux"], aux)
    assert torch.allclose(losses["loss"], plain["loss"] + 2.0 * aux)
    before = aux.item()
    for _ in range(5):
        model.fit_step({"pixels": frames, "rays": targets})
    assert model.loss(frames, targets)["aux"].item() < before


def test_the_auxiliary_loss_needs_rays_and_its_encoder_reads_pixels_alone(tmp_path):
    arrays, meta = tiny_arrays(tmp_path, level="normal")
    with pytest.raises(ValueError, match="'rays'.*--obs both"):
        Autoencoder.dataset({k: v for k, v in arrays.items() if k != "rays"}, meta, aux_coef=1.0)
    with pytest.raises(ValueError, match="aux_coef > 0 needs rays"):
        Autoencoder({"pixels": (64, 64, 3)}, AutoencoderConfig(**SMALL, aux_coef=1.0))
    with pytest.raises(ValueError, match="aux_coef must be >= 0"):
        AutoencoderConfig(aux_coef=-1.0)
    data = Autoencoder.dataset(arrays, meta, aux_coef=1.0)
    model = Autoencoder(Autoencoder.shapes_of(data), AutoencoderConfig(**SMALL, variational=True, aux_coef=1.0))
    model.fit({key: value[:16] for key, value in data.items()}, epochs=1)
    model.save(tmp_path / "vae.pt")
    backbone = make_backbone("latent", cardrive_space("pixels"), checkpoint=tmp_path / "vae.pt")
    frames = data["pixels"][:4]
    assert torch.equal(backbone(frames), model.encode(frames))
