"""A level defined outside envs, registered by `envs.register_level`, works wherever a level name does: the
vector and the one-car env, `gymnasium.make`, `track_seeds`, the rays controller and the expert; a taken
name or seeds another level owns are refused."""

from __future__ import annotations

import dataclasses

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env

import envs

TOY_TRAIN, TOY_HELDOUT = (7_000_000, 7_100_000), (8_000_000, 8_000_100)


@pytest.fixture
def toy() -> envs.Level:
    """easy under another name, on a wider road, with seeds of its own; forgotten after the test."""
    easy = envs.LEVELS["easy"]
    level = envs.register_level(dataclasses.replace(
        easy, name="toy", shape=dataclasses.replace(easy.shape, half_width=10.0), train_seeds=TOY_TRAIN,
        heldout_seeds=TOY_HELDOUT))
    yield level
    envs.unregister_level("toy")


def test_a_registered_level_is_known_by_its_name(toy):
    assert envs.LEVELS["toy"] is toy and envs.get_level("toy") is toy
    np.testing.assert_array_equal(envs.track_seeds("train", "toy"), np.arange(*TOY_TRAIN))
    np.testing.assert_array_equal(envs.track_seeds("heldout", "toy"), np.arange(*TOY_HELDOUT))
    for other in ("easy", "normal", "hard"):
        for tracks in ("train", "heldout"):
            assert not set(envs.track_seeds(tracks, "toy").tolist()) & set(envs.track_seeds(tracks, other).tolist())


def test_vector_env_on_a_registered_level_drives_with_the_rays_controller(toy):
    venv = envs.CarDriveVectorEnv(4, level="toy", max_episode_steps=200)
    obs, info = venv.reset(seed=0)
    assert venv.core.level is toy and obs.shape == (4, venv.config.n_rays + 2)
    assert {t.half_width for t in venv.core.tracks} == {10.0}
    assert set(info["track_seed"].tolist()) <= set(range(*TOY_TRAIN))
    best = np.zeros(4)
    for _ in range(150):
        obs, reward, terminated, truncated, info = venv.step(envs.drive_controller(obs, continuous=False))
        assert obs.shape == (4, 11) and np.isfinite(reward).all()
        best = np.maximum(best, info["progress"])
    assert (best > 0.2).all()  # every car gets well along its lap


def test_the_expert_laps_a_registered_level(toy):
    venv = envs.CarDriveVectorEnv(4, level="toy", tracks="heldout", num_tracks=4, continuous=True)
    venv.reset(seed=0, options={"track_index": np.arange(4)})
    clean = np.zeros(4, bool)
    for _ in range(1000):
        *_, info = venv.step(envs.drive_expert(venv.core))
        clean |= info["clean_lap"]
        if clean.all():
            break
    assert clean.all()


def test_env_checker_passes_on_a_registered_level(toy):
    gym_check_env(envs.CarDriveEnv(level="toy"), skip_render_check=True)
    env = gymnasium.make(envs.ENV_ID, level="toy")
    assert env.unwrapped.config.level is toy
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs) and info["track_seed"] in range(*TOY_TRAIN)


def test_a_registered_level_draws_its_own_tracks(toy):
    """The same seed index gives another track than easy's: another seed, a wider road; and the same seed
    with toy's shape is another loop than with easy's."""
    easy = envs.LEVELS["easy"]
    for i in (0, 1, 2):
        ours = envs.make_track(int(envs.track_seeds("train", "toy")[i]), toy.shape)
        theirs = envs.make_track(int(envs.track_seeds("train", "easy")[i]), easy.shape)
        assert ours.half_width == 10.0 > theirs.half_width
        assert not np.array_equal(ours.material, theirs.material)
        same_seed = envs.make_track(int(envs.track_seeds("train", "easy")[i]), toy.shape)
        assert same_seed.length != theirs.length or not np.array_equal(same_seed.centreline, theirs.centreline)


def test_a_taken_name_is_refused_unless_replaced(toy):
    with pytest.raises(ValueError, match=r"level 'toy' is registered already; pass replace=True"):
        envs.register_level(toy)
    with pytest.raises(ValueError, match=r"level 'easy' is registered already"):
        envs.register_level(dataclasses.replace(toy, name="easy"))
    assert envs.LEVELS["easy"] is not toy
    busier = envs.register_level(dataclasses.replace(toy, traffic=2), replace=True)
    assert envs.LEVELS["toy"] is busier and envs.CarDriveEnv(level="toy").config.level.traffic == 2


@pytest.mark.parametrize(("field", "seeds", "owner"), [
    ("train_seeds", (50, 150), "'easy'"),  # inside easy's train set
    ("heldout_seeds", (150_000, 150_100), "'normal'"),  # inside normal's train set
    ("train_seeds", (3_000_050, 3_100_000), "'hard'"),  # across hard's held-out set
    ("heldout_seeds", (7_050_000, 7_050_100), "'toy'"),  # another registered level's seeds
])
def test_seeds_another_level_owns_are_refused(toy, field, seeds, owner):
    own = {"train_seeds": (9_000_000, 9_100_000), "heldout_seeds": (9_100_000, 9_100_100)}
    other = dataclasses.replace(toy, name="other", **{**own, field: seeds})
    with pytest.raises(ValueError, match=rf"level 'other': {field} .* overlap {owner}'s .*seeds from 8,000,100 on"):
        envs.register_level(other)
    assert "other" not in envs.LEVELS


def test_the_registry_changes_only_through_its_functions(toy):
    with pytest.raises(TypeError):
        envs.LEVELS["other"] = toy
    with pytest.raises(TypeError, match="envs.Level"):
        envs.register_level("toy")
    with pytest.raises(ValueError, match="name must be a non-empty string without whitespace"):
        dataclasses.replace(toy, name="my level")


def test_an_unregistered_level_is_unknown_again():
    easy = envs.LEVELS["easy"]
    level = dataclasses.replace(easy, name="brief", train_seeds=(9_000_000, 9_000_100),
                                heldout_seeds=(9_000_100, 9_000_200))
    envs.register_level(level)
    assert envs.CarDriveEnv(level="brief").config.level is level
    assert envs.unregister_level("brief") is level
    with pytest.raises(ValueError, match=r"level: unknown level 'brief'; choose one of easy, normal, hard"):
        envs.CarDriveVectorEnv(2, level="brief")
    with pytest.raises(ValueError, match="unknown level 'brief'"):
        envs.unregister_level("brief")
