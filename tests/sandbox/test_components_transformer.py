"""The Decision Transformer: returns-to-go and windows by hand, the per-batch windows against all of them at
once, sizes refused before they are allocated, one step lowers the loss, save/load, and its policy acts on
CarDrive (a context per env, reset at episode ends)."""

from __future__ import annotations

import resource

import numpy as np
import pytest
import torch

from sandbox.cli import main
from sandbox.components.driving import TransformerPolicy, drive, load_driving_component
from sandbox.components.transformer import (
    DecisionTransformer,
    DTConfig,
    fit_memory,
    longest_episode,
    returns_to_go,
    steps,
    windows,
)
from tests.sandbox.components_data import tiny_arrays, tiny_file

SMALL = DTConfig(context=4, d_model=16, n_layers=1, batch_size=32, dropout=0.0)


def test_returns_to_go_restart_at_each_episode():
    rtg = returns_to_go(np.array([1.0, 2.0, 3.0, 10.0, 20.0]), np.array([0, 0, 0, 1, 1]))
    assert np.allclose(rtg, [6.0, 5.0, 3.0, 30.0, 20.0])


def test_windows_are_left_padded_within_their_episode():
    arrays = {"rays": np.arange(5, dtype=np.float32)[:, None], "action": np.array([0, 1, 2, 3, 4]),
              "reward": np.ones(5, np.float32), "episode": np.array([0, 0, 0, 1, 1])}
    w = windows(steps(arrays, "rays"), torch.arange(5), context=3)
    assert w["mask"][4].tolist() == [False, True, True]  # step 4 is episode 1's second step
    assert w["states"][4, :, 0].tolist() == [0.0, 3.0, 4.0] and w["actions"][2].tolist() == [0, 1, 2]
    assert w["timesteps"][4].tolist() == [0, 0, 1] and w["rtg"][3].tolist() == [0.0, 0.0, 2.0]


def all_windows(arrays: dict[str, np.ndarray], obs: str, context: int) -> dict[str, np.ndarray]:
    """The reference: every step's window at once, (T, K, ...), written out loop by loop."""
    episode, rtg = arrays["episode"], returns_to_go(arrays["reward"], arrays["episode"])
    T = len(episode)
    out = {"states": np.zeros((T, context) + arrays[obs].shape[1:], np.float32),
           "actions": np.zeros((T, context) + arrays["action"].shape[1:], arrays["action"].dtype),
           "rtg": np.zeros((T, context), np.float32), "timesteps": np.zeros((T, context), np.int64),
           "mask": np.zeros((T, context), bool)}
    for t in range(T):
        start = t
        while start > 0 and episode[start - 1] == episode[t]:
            start -= 1
        for k in range(context):
            s = t - context + 1 + k
            if s >= start:
                out["states"][t, k], out["actions"][t, k] = arrays[obs][s], arrays["action"][s]
                out["rtg"][t, k], out["timesteps"][t, k], out["mask"][t, k] = rtg[s], s - start, True
    return out


@pytest.fixture(scope="module")
def arrays_meta(tmp_path_factory):
    return tiny_arrays(tmp_path_factory.mktemp("data"), obs="rays", steps=256, noise=0.3)


@pytest.fixture(scope="module")
def dataset(arrays_meta):
    return DecisionTransformer.dataset(*arrays_meta, context=SMALL.context)


@pytest.mark.parametrize("context", [1, SMALL.context, "longest"])
def test_per_batch_windows_equal_all_windows_at_once(arrays_meta, context):
    arrays, meta = arrays_meta
    context = longest_episode(arrays["episode"]) if context == "longest" else context
    reference = all_windows(arrays, "rays", context)
    data = DecisionTransformer.dataset(arrays, meta, context=context)
    model = DecisionTransformer(DecisionTransformer.shapes_of(data), DTConfig(context=context, d_model=16))
    T = len(arrays["episode"])
    for rows in (torch.arange(T), torch.randperm(T, generator=torch.Generator().manual_seed(0))[:32]):
        batch = model.batch_of(data, rows)
        assert sorted(batch) == sorted(reference)
        for key, expected in reference.items():
            assert batch[key].numpy().dtype == expected.dtype, key
            assert np.array_equal(batch[key].numpy(), expected[rows.numpy()]), key


def test_a_context_longer_than_the_longest_episode_is_refused_before_any_window(arrays_meta, tmp_path, capsys):
    arrays, meta = arrays_meta
    longest = longest_episode(arrays["episode"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match=f"--context {longest + 1} .* longest episode .*{longest} steps"):
        DecisionTransformer.dataset(arrays, meta, context=longest + 1)
    data = tiny_file(tmp_path, obs="rays", steps=64)
    assert main(["fit", "transformer", "--data", str(data), "--context", "100000", "--run-dir",
                 str(tmp_path / "dt")]) == 2
    err = capsys.readouterr().err
    assert "--context 100000" in err and "longest episode" in err and err.count("\n") == 1
    assert not (tmp_path / "dt").exists()
    # all windows at once would be 64 x 100000 x 11 floats (282 MB) and as much again of indices
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 100_000  # kB


def test_a_step_needing_more_memory_than_the_machine_has_is_refused():
    T = 20_000  # one episode of 20,000 steps, so --context 20000 passes the episode check
    arrays = {"rays": np.zeros((T, 11), np.float32), "action": np.zeros(T, np.int64),
              "reward": np.ones(T, np.float32), "episode": np.zeros(T, np.int64)}
    data = DecisionTransformer.dataset(arrays, {}, context=T)
    config = DTConfig(context=T, d_model=16, batch_size=64, dropout=0.1)
    assert fit_memory(config, (11,), 5, 64) > 10 * 2**40  # attention over 60,000 tokens: terabytes
    model = DecisionTransformer(DecisionTransformer.shapes_of(data), config)
    with pytest.raises(ValueError, match=r"--context 20000.* needs about [\d,.]+ GB .* the [\d,.]+ GB this machine"):
        model.fit(data)
    assert fit_memory(SMALL, (11,), 5, SMALL.batch_size) < 50 * 2**20  # the tests' own: a few MB


def test_one_step_lowers_the_loss_and_shapes(dataset):
    model = DecisionTransformer(DecisionTransformer.shapes_of(dataset), SMALL).train()
    batch = model.batch_of(dataset, torch.arange(32))
    before = model.loss(batch).item()
    model.fit_step(batch)
    assert model.loss(batch).item() < before
    out = model(batch["rtg"], batch["states"], batch["actions"], batch["timesteps"], batch["mask"])
    assert out.shape == (32, 4, 5)
    assert model.best_return > 0


def test_causal_the_prediction_at_t_ignores_later_steps(dataset):
    model = DecisionTransformer(DecisionTransformer.shapes_of(dataset), SMALL).eval()
    b = model.batch_of(dataset, torch.arange(2))
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
    policy = load_driving_component(tmp_path / "dt.pt")
    assert isinstance(policy, TransformerPolicy) and policy.target == pytest.approx(float(model.best_return))
    obs = dataset["states"][:3].numpy()  # the last state of the windows ending at steps 0, 1, 2
    assert (policy.act(obs) == load_driving_component(tmp_path / "dt.pt").act(obs)).all()
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
    from sandbox.runs.evaluate import evaluate

    model = DecisionTransformer(DecisionTransformer.shapes_of(dataset), SMALL)
    model.save(tmp_path / "dt.pt")
    policy = load_driving_component(tmp_path / "dt.pt")
    result = evaluate(policy.act, "sandbox/CarDrive-v0", policy.env_kwargs, episodes=2, max_steps=20)
    assert result["episodes"] == 2
