"""Behaviour cloning and GAIL: one step lowers the loss, save/load round trip, shapes; after a short fit the
GAIL reward is higher on demonstration pairs than on random ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sandbox.components import load_component
from sandbox.components.bc import BCConfig, BehaviourCloning
from sandbox.components.driving import load_driving_component
from sandbox.components.gail import GAIL, DiscriminatorReward, GAILConfig
from tests.sandbox.components_data import tiny_arrays


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    arrays, meta = tiny_arrays(tmp_path_factory.mktemp("data"), obs="rays", steps=512)
    return BehaviourCloning.dataset(arrays, meta)


def test_bc_step_lowers_the_loss_and_round_trips(demos, tmp_path):
    model = BehaviourCloning(BehaviourCloning.shapes_of(demos), BCConfig(batch_size=64))
    batch = {key: value[:64] for key, value in demos.items()}
    before = model.loss(batch["obs"], batch["action"]).item()
    model.fit_step(batch)
    assert model.loss(batch["obs"], batch["action"]).item() < before
    model.fit(demos, epochs=3)
    actions = model.act(demos["obs"][:5].numpy())
    assert actions.shape == (5,) and actions.dtype.kind == "i"
    model.save(tmp_path / "bc.pt")
    policy = load_driving_component(tmp_path / "bc.pt")
    assert (policy.act(demos["obs"].numpy()) == model.act(demos["obs"].numpy())).all()
    assert policy.env_kwargs["obs"] == "rays"


def test_bc_continuous_actions():
    model = BehaviourCloning({"obs": (11,), "action": (2,)})
    batch = {"obs": torch.rand(16, 11), "action": torch.rand(16, 2) * 2 - 1}
    before = model.loss(batch["obs"], batch["action"]).item()
    model.fit_step(batch)
    assert model.loss(batch["obs"], batch["action"]).item() < before
    assert model.act(batch["obs"]).shape == (16, 2)


def test_discriminator_step_lowers_its_loss(demos):
    gail = GAIL(GAIL.shapes_of(demos))
    batch = {"obs": demos["obs"][:64], "action": demos["action"][:64], "agent_obs": demos["obs"][64:128],
             "agent_action": torch.randint(0, 5, (64,))}
    before = gail.discriminator_loss(batch).item()
    gail.fit_step(batch)
    assert gail.discriminator_loss(batch).item() < before
    assert gail.reward(demos["obs"][:7], demos["action"][:7]).shape == (7,)
    assert (gail.reward(demos["obs"][:7], demos["action"][:7]) > 0).all()  # -log(1 - D) > 0


def test_wrapper_replaces_the_reward_and_keeps_real_transitions(demos):
    from envs import CarDriveVectorEnv

    gail = GAIL(GAIL.shapes_of(demos))
    env = DiscriminatorReward(CarDriveVectorEnv(3, max_episode_steps=5), gail)
    obs, _ = env.reset(seed=0)
    for _ in range(7):  # an episode of 5 steps, its autoreset step, one more
        before = obs
        obs, reward, *_ = env.step(np.full(3, 3))
    assert np.allclose(reward, gail.reward(before, np.full(3, 3)))
    assert sum(len(o) for o, _ in env.pairs) == 3 * 6  # the autoreset step's pairs are left out


def test_gail_reward_prefers_demonstrations_after_a_short_fit(demos, tmp_path):
    config = GAILConfig(steps_per_epoch=2048, num_envs=16, num_steps=16, max_episode_steps=64, batch_size=256,
                        warm_start=False)  # a random policy: its actions are what D learns to tell apart
    gail = GAIL(GAIL.shapes_of(demos), config)
    history = gail.fit(demos, epochs=1)
    assert history["global_step"] == [2048.0]
    random_actions = (demos["action"] + torch.randint(1, 5, demos["action"].shape)) % 5  # never the expert's
    assert gail.reward(demos["obs"], demos["action"]).mean() > gail.reward(demos["obs"], random_actions).mean()
    gail.save(tmp_path / "gail.pt")
    other = load_component(tmp_path / "gail.pt")
    assert (other.act(demos["obs"][:9]) == gail.act(demos["obs"][:9])).all()
    assert other.fit(demos, epochs=1)["global_step"] == [4096.0]  # resumes A2C where it stood
    assert load_driving_component(tmp_path / "gail.pt").act(demos["obs"][:4].numpy()).shape == (4,)


def test_bc_early_stopping_chooses_epochs_on_held_out_demonstrations(demos):
    model = BehaviourCloning(BehaviourCloning.shapes_of(demos), BCConfig(batch_size=64))
    untrained = model.loss(demos["obs"], demos["action"]).item()
    result = model.fit_early_stopping(demos, max_epochs=30, patience=3)
    assert 1 <= result["epochs"] <= 30 and len(result["history"]["loss"]) == result["epochs"]
    assert model.loss(demos["obs"], demos["action"]).item() < untrained
    with pytest.raises(ValueError, match="no training or held-out rows"):
        model.fit_early_stopping({key: value[:2] for key, value in demos.items()}, val_fraction=0.01)


def test_the_warm_started_actor_acts_as_behaviour_cloning(demos):
    from agents.actor_critic import ActorCritic
    from agents.loop import loop_state  # noqa: F401  (the payload's builder: the agents must be importable)
    from envs import CarDriveVectorEnv
    from sandbox.components.gail import actor_from_bc

    bc = BehaviourCloning(BehaviourCloning.shapes_of(demos))
    bc.fit(demos, epochs=2)
    env = CarDriveVectorEnv(1)  # its rays Box is [0, 1] for distances: a scaling other than BC's
    actor = ActorCritic(env.single_observation_space, env.single_action_space, "mlp", {"widths": (64, 64)})
    actor_from_bc(bc, actor)
    with torch.no_grad():
        assert torch.allclose(actor(demos["obs"])[0].logits, torch.log_softmax(bc(demos["obs"]), 1), atol=1e-5)
    gail = GAIL(GAIL.shapes_of(demos), GAILConfig(num_envs=4))
    state = gail.warm_start_state(demos)
    assert state["global_step"] == 0 and state["env"] is None and "pi.weight" in state["model"]


def test_a_completed_lap_reaches_a2c_as_a_truncation(demos):
    from envs import CarDriveVectorEnv

    env = CarDriveVectorEnv(2, max_episode_steps=50)
    step = env.step

    def lap_for_car_0(actions):  # the env as it is when car 0 completes its lap
        obs, reward, terminated, truncated, info = step(actions)
        info = {**info, "lap_completed": np.array([True, False])}
        return obs, reward, np.array([True, terminated[1]]), truncated, info

    env.step = lap_for_car_0
    for lap_bootstraps, expected in ((True, (False, True)), (False, (True, False))):
        wrapper = DiscriminatorReward(env, GAIL(GAIL.shapes_of(demos), GAILConfig(lap_bootstraps=lap_bootstraps)))
        wrapper.reset(seed=0)
        _, _, terminated, truncated, _ = wrapper.step(np.full(2, 3))
        assert (terminated[0], truncated[0]) == expected
