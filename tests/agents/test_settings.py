"""The shipped settings per family and env (agents/settings/*.toml): which table applies, how they merge, and
that every value is a field its family's config takes."""

from __future__ import annotations

import dataclasses

import pytest

from agents import FAMILIES
from agents.settings import _table, entries_for, tuned_settings


def test_cardrive_merges_env_observation_level_and_both_most_general_first():
    assert entries_for("sandbox/CarDrive-v0", {"level": "normal", "obs": "pixels"}) == [
        "sandbox/CarDrive-v0", "sandbox/CarDrive-v0 pixels", "sandbox/CarDrive-v0 normal",
        "sandbox/CarDrive-v0 normal pixels"]
    assert entries_for("sandbox/CarDrive-v0", {}) == [
        "sandbox/CarDrive-v0", "sandbox/CarDrive-v0 rays", "sandbox/CarDrive-v0 easy", "sandbox/CarDrive-v0 easy rays"]
    assert entries_for("CartPole-v1") == ["CartPole-v1"]


def test_an_env_without_an_entry_gets_the_default_table():
    settings, entries = tuned_settings("a2c", "Acrobot-v1", {})
    assert entries == ["default"] and settings["num_envs"] < FAMILIES["a2c"].config().num_envs  # not CarDrive's
    settings, entries = tuned_settings("a2c", "sandbox/CarDrive-v0", {"level": "normal"})
    assert entries == ["sandbox/CarDrive-v0", "sandbox/CarDrive-v0 normal", "sandbox/CarDrive-v0 normal rays"]
    assert settings["num_envs"] == 128 and settings["normalize_observation"]
    assert settings["env_kwargs"] == {"n_rays": 25}  # normal's pedestrians need finer rays than the world's 9


def test_the_entries_env_arguments_merge_key_by_key():
    """DAgger's pixels entry draws the speedometer; the normal entry's sensor (49 rays, continuous) joins it."""
    settings, entries = tuned_settings("dagger", "sandbox/CarDrive-v0", {"level": "normal", "obs": "pixels"})
    assert entries == ["sandbox/CarDrive-v0", "sandbox/CarDrive-v0 pixels", "sandbox/CarDrive-v0 normal",
                       "sandbox/CarDrive-v0 normal pixels"]
    assert settings["env_kwargs"] == {"speedometer": True, "n_rays": 49, "continuous": True}


def test_arrays_become_tuples():
    settings, _ = tuned_settings("qlearning", "CartPole-v1")
    assert settings["backbone_options"]["widths"] == (256, 256)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_shipped_value_is_a_field_of_its_config_and_valid(family):
    fields = {f.name for f in dataclasses.fields(FAMILIES[family].config)}
    table = _table(family)
    assert "default" in table, f"{family}.toml has no [default] table for envs without an entry"
    for entry, values in table.items():
        assert set(values) <= fields, (family, entry, set(values) - fields)
        FAMILIES[family].config(**tuned_settings(family, entry.split(" ")[0], {})[0])  # validates


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("obs", ["pixels", "both"])
def test_every_family_shipped_cardrive_settings_take_images(family, obs):
    """Observation normalisation is for vectors: the shipped CarDrive settings must not ask it of images."""
    from agents.envs import make_train_env

    settings, _ = tuned_settings(family, "sandbox/CarDrive-v0", {"level": "normal", "obs": obs})
    config = FAMILIES[family].config(**{**settings, "env_kwargs": {"level": "normal", "obs": obs}, "num_envs": 2})
    make_train_env(config).close()  # refused by name if normalisation met an image


def test_a_given_backbone_leaves_the_shipped_options_of_another_out():
    from agents.settings import merged

    shipped = {"backbone": "cnn", "backbone_options": {"channels": (16, 32)}, "num_envs": 64}
    assert merged(shipped, {"backbone": "mlp"}) == {"backbone": "mlp", "num_envs": 64}
    assert merged(shipped, {"backbone": "cnn"})["backbone_options"] == {"channels": (16, 32)}
    assert merged({"backbone_options": {"widths": (8,)}}, {"backbone": "mlp"})["backbone_options"] == {"widths": (8,)}
    assert merged(shipped, {"backbone": "mlp", "backbone_options": {"widths": (4,)}})["backbone_options"] == {
        "widths": (4,)}


def test_shipped_env_arguments_merge_under_the_given_ones():
    from agents.settings import merged

    shipped = {"env_kwargs": {"n_rays": 25, "level": "normal"}, "gamma": 0.998}
    assert merged(shipped, {"env_kwargs": {"level": "hard"}}) == {
        "env_kwargs": {"n_rays": 25, "level": "hard"}, "gamma": 0.998}
    assert merged({"gamma": 0.9}, {"env_kwargs": {"level": "hard"}})["env_kwargs"] == {"level": "hard"}


@pytest.mark.parametrize("family", ["ppo", "dagger"])
def test_the_shipped_pixels_networks_read_the_speedometer(family):
    """The pixels entries draw the car's speed into the frame's bottom rows; their CNN's first convolution must
    reach those rows (a 3x3 kernel at stride 8 never did), or the bar is there for nothing."""
    import numpy as np
    import torch

    from agents.actor_critic import ActorCritic
    from agents.envs import make_train_env
    from envs.sensors import SPEEDOMETER_ROWS

    settings, _ = tuned_settings(family, "sandbox/CarDrive-v0", {"level": "normal", "obs": "pixels"})
    assert settings["env_kwargs"]["speedometer"]
    network = {key: settings[key] for key in ("backbone", "backbone_options", "share_backbone")}
    config = FAMILIES["ppo"].config(**network, num_envs=2,
                                    env_kwargs={**settings["env_kwargs"], "level": "normal", "obs": "pixels"})
    env = make_train_env(config)
    torch.manual_seed(0)
    model = ActorCritic(env.single_observation_space, env.single_action_space, config.backbone,
                        config.backbone_options, config.share_backbone)
    frames, _ = env.reset(seed=0)
    env.close()
    slower, faster = torch.as_tensor(frames[:1]).clone(), torch.as_tensor(frames[:1]).clone()
    slower[:, -SPEEDOMETER_ROWS:] = 0
    faster[:, -SPEEDOMETER_ROWS:, : frames.shape[2] // 2] = 255  # the bar at half the top speed
    with torch.no_grad():
        assert not torch.equal(model(slower)[1], model(faster)[1]), "the network does not see the speedometer"
    assert np.array_equal(frames[0, :-SPEEDOMETER_ROWS], slower[0, :-SPEEDOMETER_ROWS].numpy())
