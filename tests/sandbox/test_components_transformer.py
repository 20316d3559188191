"""The Decision Transformer: returns-to-go and windows by hand, one step lowers the loss, save/load, and its
policy acts on CarDrive (a context per env, reset at episode ends)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sandbox.components.policy import TransformerPolicy, drive, load_policy
from sandbox.components.transformer import DecisionTransformer, DTConfig, returns_to_go, windows
from tests.sandbox.components_data import tiny_arrays

SMALL = DTConfig(context=4, d_model=16, n_layers=1, batch_size=32, dropout=0.0)


def test_returns_to_go_restart_at_each_episode():
    rtg = returns_to_go(np.array([1.0, 2.0, 3.0, 10.0, 20.0]), np.array([0, 0, 0, 1, 1]))
    assert np.allclose(rtg, [6.0, 5.0, 3.0, 30.0, 20.0])


def test_windows_are_left_padded_within_their_episode():
    arrays = {"rays": np.arange(5, dtype=np.float32)[:, None], "action": np.array([0, 1, 2, 3, 4]),
              "reward": np.ones(5, np.float32), "episode": np.array([0, 0, 0, 1, 1])}
    w = windows(arrays, "rays", context=3)
    assert w["mask"][4].tolist() == [False, True, True]  # step 4 is episode 1's second step
    assert w["states"][4, :, 0].tolist() == [0.0, 3.0, 4.0] and w["actions"][2].tolist() == [0, 1, 2]
    assert w["timesteps"][4].tolist() == [0, 0, 1] and w["rtg"][3].tolist() == [0.0, 0.0, 2.0]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    arrays, meta = tiny_arrays(tmp_path_factory.mktemp("data"), obs="rays", steps=256, noise=0.3)
    return DecisionTransformer.dataset(arrays, meta, context=SMALL.context)


def test_one_step_lowers_the_loss_and_shapes(dataset):
    model = DecisionTransformer(DecisionTransformer.shapes_of(dataset), SMALL).train()
    batch = {key: value[:32] for key, value in dataset.items()}
    before = model.loss(batch).item()
    model.fit_step(batch)
    assert model.loss(batch).item() < before
    out = model(batch["rtg"], batch["states"], batch["actions"], batch["timesteps"], batch["mask"])
    assert out.shape == (32, 4, 5)
    assert model.best_return > 0


def test_causal_the_prediction_at_t_ignores_later_steps(dataset):
    model = DecisionTransformer(DecisionTransformer.shapes_of(dataset), SMALL).eval()
    b = {key: value[:2].clone() for key, value in dataset.items()}
    first = model(b["rtg"], b["states"], b["actions"], b["timesteps"], b["mask"])[:, :2]
    b["states"][:, 2:] += 1.0
    b["actions"][:, 1:] = (b["actions"][:, 1:] + 1) % 5
    second = model(b["rtg"], b["states"], b["actions"], b["timesteps"], b["mask"])[:, :2]
    assert torch.allclose(first, second, atol=1e-6)


def test_save_load_and_the_policy_acts_on_cardrive(dataset, tmp_path):
    model = DecisionTransformer(DecisionTransformer.shapes_of(dataset), SMALL)
    model.fit(dataset, epochs=1)
    model.save(tmp_path / "dt.pt")
    payload = torch.load(tmp_path / "dt.pt", weights_only=True)
    assert payload["policy"] == "transformer" and payload["env_kwargs"]["obs"] == "rays"
    policy = load_policy(tmp_path / "dt.pt")
    assert isinstance(policy, TransformerPolicy) and policy.target == pytest.approx(float(model.best_return))
    obs = dataset["states"][:3, -1].numpy()
    assert (policy.act(obs) == load_policy(tmp_path / "dt.pt").act(obs)).all()
    result = drive(policy, policy.env_kwargs, episodes=3, max_steps=30)
    assert result["episodes"] == 3 and np.isfinite(result["mean_return"])
    policy.reset(3)
    policy.act(obs)
    to_go = policy.to_go.clone()
    policy.observe(np.ones(3), np.array([True, False, False]), np.zeros(3, bool))
    assert not policy.mask[0].any() and policy.mask[1].any() and policy.skip[0] and not policy.skip[1]
    assert policy.to_go[1] == to_go[1] - 1.0 and policy.to_go[0] == policy.target
    policy.act(obs)  # env 0's autoreset step: no token
    assert not policy.mask[0].any() and policy.mask[1].sum() == 2


def test_the_policy_works_in_a_plain_evaluation_loop(dataset, tmp_path):
    from sandbox.evaluate import evaluate

    model = DecisionTransformer(DecisionTransformer.shapes_of(dataset), SMALL)
    model.save(tmp_path / "dt.pt")
    policy = load_policy(tmp_path / "dt.pt")
    result = evaluate(policy.act, "sandbox/CarDrive-v0", policy.env_kwargs, episodes=2, max_steps=20)
    assert result["episodes"] == 2
