"""One loader for every driver checkpoint: trained agents, evolved drivers and runs, errors naming the file."""

import numpy as np
import pytest

from evolve import run_evolution
from sandbox.commands.drivers import load_driver
from sandbox.commands.train import evaluate_checkpoint, run_training
from sandbox.runs.checkpoints import save_checkpoint


@pytest.fixture(scope="module")
def evolution_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ga")
    run_evolution({"population": 4, "generations": 1, "episodes": 1, "max_steps": 30, "heldout_episodes": 2,
                   "backbone_options": {"widths": (4,)}}, run_dir, progress=False)
    return run_dir


def test_an_evolution_run_drives_its_champion(evolution_run):
    champion = load_driver(evolution_run / "hall_of_fame" / "rank0.pt")
    via_run = load_driver(evolution_run / "checkpoint.pt")
    obs = np.random.default_rng(0).random((3, 11), dtype=np.float32)
    np.testing.assert_array_equal(champion.act(obs), via_run.act(obs))
    assert "evolved" in champion.name and champion.env_kwargs["level"] == "easy"
    result = evaluate_checkpoint(evolution_run / "checkpoint.pt", episodes=2)
    assert 0 <= result["lap_rate"] <= 1


def test_a_trained_agent_on_another_level(tmp_path):
    run_training("a2c", {"num_envs": 2, "total_timesteps": 32}, tmp_path, eval_episodes=1)
    assert load_driver(tmp_path / "checkpoint.pt", level="easy").env_kwargs["level"] == "easy"
    with pytest.raises(ValueError, match="cannot drive"):  # normal's rays say what each ray hit: a longer vector
        load_driver(tmp_path / "checkpoint.pt", level="normal")


def test_what_is_not_a_driver_is_named(tmp_path, evolution_run):
    save_checkpoint(tmp_path / "other.pt", {"something": 1})
    with pytest.raises(ValueError, match="other.pt holds no driver"):
        load_driver(tmp_path / "other.pt")
    (tmp_path / "lost").mkdir()
    payload = (evolution_run / "checkpoint.pt").read_bytes()
    (tmp_path / "lost" / "checkpoint.pt").write_bytes(payload)
    with pytest.raises(FileNotFoundError, match="its champion .* is missing"):
        load_driver(tmp_path / "lost" / "checkpoint.pt")
