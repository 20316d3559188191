"""World Models' M, the MDN-RNN: its NLL against a hand-computed mixture likelihood, chunks that never cross an
episode's end, fitting lowers the loss on a task with a known answer, one batched step equals stepping car by
car, the dataset from a trajectory file through a VAE checkpoint, `sandbox fit mdn_rnn` (and --resume), save/load."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sandbox.components import load_component
from sandbox.components.autoencoder import Autoencoder, AutoencoderConfig
from sandbox.components.mdn_rnn import MDNRNN, MDNRNNConfig, mdn_nll, sequences
from sandbox.runs.checkpoints import load_checkpoint
from tests.sandbox.components_data import tiny_file

SMALL = MDNRNNConfig(hidden=8, mixtures=2, sequence_length=6, batch_size=4, learning_rate=1e-2)


def test_nll_is_the_mixture_likelihood_by_hand():
    # one step, two latent dimensions, K = 2
    pi = torch.tensor([[0.3, 0.7], [0.5, 0.5]])
    mu = torch.tensor([[0.0, 1.0], [-1.0, 2.0]])
    sigma = torch.tensor([[1.0, 0.5], [2.0, 1.0]])
    y = torch.tensor([0.5, 0.0])

    def normal(x, m, s):
        return math.exp(-((x - m) ** 2) / (2 * s * s)) / (s * math.sqrt(2 * math.pi))

    by_hand = -sum(math.log(sum(pi[j, k].item() * normal(y[j].item(), mu[j, k].item(), sigma[j, k].item())
                                for k in range(2))) for j in range(2)) / 2  # a mean over the 2 dimensions
    nll = mdn_nll(pi.log(), mu, sigma.log(), y)
    assert nll.item() == pytest.approx(by_hand, rel=1e-6)
    # a masked step does not count
    two = mdn_nll(torch.stack([pi.log(), pi.log()]), torch.stack([mu, mu + 5]), torch.stack([sigma.log()] * 2),
                  torch.stack([y, y]), mask=torch.tensor([1.0, 0.0]))
    assert two.item() == pytest.approx(by_hand, rel=1e-6)


def test_chunks_stay_inside_episodes():
    z = torch.arange(10, dtype=torch.float32).unsqueeze(1)  # z_t = t
    actions = torch.zeros(10, 2)
    episode = np.array([0] * 7 + [1] * 3)  # 6 transitions, then 2
    data = sequences(z, actions, episode, length=4)
    assert data["z"].shape == (3, 5, 1) and data["action"].shape == (3, 4, 2)
    assert data["mask"].sum(dim=1).tolist() == [4, 2, 2]
    assert data["z"][0, :, 0].tolist() == [0, 1, 2, 3, 4]
    assert data["z"][1, :3, 0].tolist() == [4, 5, 6]  # ends at episode 0's last step, never at 7
    assert data["z"][2, :3, 0].tolist() == [7, 8, 9]


def synthetic(n: int = 32, length: int = 7) -> dict[str, torch.Tensor]:
    """z_{t+1} = z_t + a_t (a in {-0.5, +0.5}), the first z uniform: M must learn the step from (z, a)."""
    g = torch.Generator().manual_seed(0)
    actions = (torch.randint(0, 2, (n, length - 1, 2), generator=g).float() - 0.5)
    z = torch.empty(n, length, 2)
    z[:, 0] = torch.rand(n, 2, generator=g) * 2 - 1
    for t in range(1, length):
        z[:, t] = z[:, t - 1] + actions[:, t - 1]
    return {"z": z, "action": actions, "mask": torch.ones(n, length - 1)}


def test_fitting_a_known_dynamics_lowers_the_loss():
    data = synthetic()
    model = MDNRNN({"latent": 2, "action": 2}, SMALL)
    history = model.fit(data, epochs=30)
    assert history["loss"][-1] < history["loss"][0] - 1.0 and history["mse"][-1] < 0.1 * history["mse"][0]
    predicted = model.predict(data["z"][:, :-1], data["action"])
    assert (predicted - data["z"][:, 1:]).pow(2).mean() < 0.05


def test_a_batched_step_equals_car_by_car_and_the_sequence_forward():
    model = MDNRNN({"latent": 3, "action": 2}, SMALL)
    torch.manual_seed(1)
    z, a = torch.randn(5, 4, 3), torch.randn(5, 4, 2)
    state = model.initial_state(5)
    for t in range(4):
        one_by_one = [model.step(z[i:i + 1, t], a[i:i + 1, t], (state[0][i:i + 1], state[1][i:i + 1]))
                      for i in range(5)]
        state = model.step(z[:, t], a[:, t], state)
        assert torch.allclose(state[0], torch.cat([s[0] for s in one_by_one]), atol=1e-6)
    _, (h, c) = model(z, a)
    assert torch.allclose(h, state[0], atol=1e-6) and torch.allclose(c, state[1], atol=1e-6)


@pytest.fixture(scope="module")
def data_and_vae(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mdn")
    path = folder / "pixels.npz"
    from sandbox.commands.collect import collect

    collect("expert", "easy", 96, path, obs="pixels", num_envs=4, continuous=True, noise=0.2,
            max_episode_steps=20, progress=False)
    vae = Autoencoder({"pixels": (64, 64, 3)}, AutoencoderConfig(variational=True, channels=(4, 8), latent_dim=4))
    vae.save(folder / "vae.pt")
    return path, folder / "vae.pt"


def test_dataset_from_a_trajectory_file_and_save_load(data_and_vae, tmp_path):
    from sandbox.runs.trajectories import load_trajectories

    path, vae = data_and_vae
    arrays, meta = load_trajectories(path)
    data = MDNRNN.dataset(arrays, meta, vae=str(vae), sequence_length=6)
    assert MDNRNN.shapes_of(data) == {"latent": 4, "action": 2}
    assert int(data["mask"].sum()) == len(arrays["episode"]) - len(np.unique(arrays["episode"]))
    assert torch.equal(MDNRNN.dataset(arrays, meta, vae=load_component(vae), sequence_length=6)["z"], data["z"])
    model = MDNRNN(MDNRNN.shapes_of(data), SMALL)
    model.fit(data, epochs=1)
    model.save(tmp_path / "m.pt")
    other = load_component(tmp_path / "m.pt")
    assert other.kind == "mdn_rnn" and other.config == model.config
    z, a = data["z"][:2, :-1], data["action"][:2]
    assert torch.equal(model.predict(z, a), other.predict(z, a))


def test_dataset_refuses_discrete_actions_and_a_missing_vae(tmp_path):
    from sandbox.runs.trajectories import load_trajectories

    arrays, meta = load_trajectories(tiny_file(tmp_path, obs="pixels", steps=32))  # Discrete actions
    with pytest.raises(ValueError, match="--continuous"):
        MDNRNN.dataset(arrays, meta, vae="vae.pt")
    arrays["action"] = np.zeros((len(arrays["action"]), 2), np.float32)
    with pytest.raises(ValueError, match="--vae"):
        MDNRNN.dataset(arrays, meta)


def test_cli_fit_mdn_rnn(data_and_vae, tmp_path):
    from sandbox.cli import main

    path, vae = data_and_vae
    assert main(["fit", "mdn_rnn", "--data", str(path), "--vae", str(vae), "--epochs", "1", "--batch-size", "2",
                 "--run-dir", str(tmp_path / "m")]) == 0
    assert load_component(tmp_path / "m" / "checkpoint.pt").config.vae == str(vae)
    # --resume rebuilds the dataset through the run's own VAE
    assert main(["fit", "mdn_rnn", "--data", str(path), "--epochs", "2", "--run-dir", str(tmp_path / "m"),
                 "--resume"]) == 0
    assert load_checkpoint(tmp_path / "m" / "checkpoint.pt")["epoch"] == 2
