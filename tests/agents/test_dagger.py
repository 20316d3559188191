"""DAgger: the mixing schedule and the imitation loss by hand; the aggregated dataset grows by the visited
transitions, labelled by the expert on those very states; the first iteration is all expert; the student's
agreement with the expert rises on easy; another env is refused; resume (in process and after kill -9) equals
the uninterrupted run; `sandbox train --agent dagger` and `sandbox eval` of its run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from agents import FAMILIES, dagger
from agents.dagger import Aggregate, DAggerConfig, agreement, beta_schedule, imitation_loss, train
from envs import CarDriveVectorEnv
from sandbox.runs.checkpoints import load_checkpoint
from tests.killed_run import assert_resume_after_kill_9_equals_uninterrupted, progress_rows

TINY = {"num_envs": 4, "num_steps": 8, "gradient_steps": 4, "batch_size": 16}


def test_beta_schedule_by_hand():
    assert [beta_schedule(1.0, 0.5, i) for i in (1, 2, 3, 4)] == [1.0, 0.5, 0.25, 0.125]
    assert [beta_schedule(0.8, 0.0, i) for i in (1, 2, 3)] == [0.8, 0.0, 0.0]  # the paper's "beta_1 only"


def test_imitation_loss_by_hand():
    # logits (0, ln 3) over two actions: p = (1/4, 3/4); labels 1 and 0: (-ln 3/4 - ln 1/4) / 2
    logits = torch.tensor([[0.0, np.log(3.0)], [0.0, np.log(3.0)]])
    expected = (-np.log(0.75) - np.log(0.25)) / 2
    assert imitation_loss(logits, torch.tensor([1, 0]), discrete=True).item() == pytest.approx(expected)
    # Box: ||mu - a*||^2 summed over the components, mean over rows: ((0.5^2 + 1^2) + 0) / 2
    mean, labels = torch.tensor([[0.5, -1.0], [0.2, 0.2]]), torch.tensor([[0.0, 0.0], [0.2, 0.2]])
    assert imitation_loss(mean, labels, discrete=False).item() == pytest.approx(0.625)


def test_agreement_by_hand():
    assert agreement(np.array([0, 3, 4]), np.array([0, 3, 1]), True).tolist() == [True, True, False]
    student, expert = np.array([[0.05, 1.0], [0.3, 1.0]]), np.array([[0.0, 0.95], [0.0, 1.0]])
    assert agreement(student, expert, False).tolist() == [True, False]  # within AGREE_TOL in every component


def test_the_aggregate_is_a_ring_of_valid_rows_and_its_state_round_trips():
    data = Aggregate(5, torch.zeros(3, 2), torch.zeros(3, dtype=torch.long))
    for step in range(3):  # rows 3 * step + (0, 1, 2), the middle one no transition
        obs = torch.arange(3 * step, 3 * step + 3, dtype=torch.float32)[:, None].expand(3, 2)
        data.add(obs, torch.arange(3 * step, 3 * step + 3), np.array([True, False, True]))
    assert len(data) == 5 and data.cursor == 1
    assert data.labels.tolist() == [8, 2, 3, 5, 6] and data.obs[:, 0].tolist() == [8, 2, 3, 5, 6]  # 0 overwritten
    copy = Aggregate(5, torch.zeros(3, 2), torch.zeros(3, dtype=torch.long))
    copy.load_state_dict(data.state_dict())
    assert copy.labels.tolist() == data.labels.tolist() and (copy.cursor, len(copy)) == (1, 5)


def test_defaults_and_bad_settings():
    config = DAggerConfig()
    assert (config.beta0, config.env_id) == (1.0, "sandbox/CarDrive-v0")
    for bad, name in [({"beta0": 1.5}, "beta0"), ({"beta_decay": -0.1}, "beta_decay"),
                      ({"gradient_steps": 0}, "gradient_steps"), ({"buffer_size": 3, "num_envs": 4}, "buffer_size"),
                      ({"share_backbone": 1}, "share_backbone"), ({"max_grad_norm": 0.0}, "max_grad_norm")]:
        with pytest.raises(ValueError, match=name):
            DAggerConfig(**bad)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "LunarLander-v3"])
def test_another_env_is_refused_naming_env_id(env_id):
    with pytest.raises(ValueError, match=f"env_id={env_id!r}"):
        DAggerConfig(env_id=env_id)


def test_a_recurrent_backbone_is_refused():
    with pytest.raises(ValueError, match="feed-forward backbone, not the recurrent 'lstm'"):
        train(DAggerConfig(backbone="lstm", total_timesteps=32, **TINY))


class _Recorder:
    """Every expert call (the observation of the state it read, its labels), the student's greedy actions and
    the actions the cars were driven with, one entry per batch step."""

    def __init__(self, monkeypatch):
        self.states, self.labels, self.students, self.actions = [], [], [], []
        expert, greedy, step = dagger.drive_expert, dagger._greedy, CarDriveVectorEnv.step

        def record_expert(core, continuous):
            self.states.append(core.observe())
            self.labels.append(expert(core, continuous=continuous))
            return self.labels[-1]

        def record_greedy(model, obs):
            self.students.append(greedy(model, obs))
            return self.students[-1]

        def record_step(env, actions):
            self.actions.append(np.array(actions))
            return step(env, actions)

        monkeypatch.setattr(dagger, "drive_expert", record_expert)
        monkeypatch.setattr(dagger, "_greedy", record_greedy)
        monkeypatch.setattr(CarDriveVectorEnv, "step", record_step)


@pytest.mark.parametrize("continuous", [False, True])
def test_the_dataset_grows_by_the_visited_transitions_labelled_by_the_expert(monkeypatch, continuous):
    """Short episodes, so that autoreset steps (no transition) fall inside the iterations."""
    record, events = _Recorder(monkeypatch), []
    config = DAggerConfig(env_kwargs={"level": "normal", "max_episode_steps": 6, "continuous": continuous},
                          total_timesteps=4 * 8 * 3, **TINY)
    _, history = train(config, log=events.append)
    done = np.array([e["terminated"] | e["truncated"] for e in events if e["kind"] == "step"])  # (T, N)
    valid = np.concatenate([np.ones((1, 4), bool), ~done[:-1]])  # the step after an episode's end is none
    assert history["dataset_size"] == np.cumsum(valid.reshape(3, 8 * 4).sum(1)).tolist()
    assert valid.sum() < valid.size  # episodes did end along the way
    payload = next(e for e in reversed(events) if e["kind"] == "update")["state"]()
    stored = payload["extra"]["dataset"]
    np.testing.assert_array_equal(stored["obs"].numpy(), np.concatenate(record.states)[valid.ravel()])
    np.testing.assert_array_equal(stored["labels"].numpy(), np.concatenate(record.labels)[valid.ravel()])


def test_the_first_iteration_is_all_expert_and_beta_follows_the_schedule(monkeypatch):
    record = _Recorder(monkeypatch)
    config = DAggerConfig(total_timesteps=16 * 32 * 3, num_envs=16, num_steps=32, gradient_steps=1, beta_decay=0.5)
    history = train(config)[1]
    assert history["beta"] == [1.0, 0.5, 0.25]
    actions, labels, students = (np.array(x).reshape(3, 32 * 16) for x in
                                 (record.actions, record.labels, record.students))
    np.testing.assert_array_equal(actions[0], labels[0])  # iteration 1: every car, every step, the expert's
    for iteration, beta in ((1, 0.5), (2, 0.25)):
        differ = labels[iteration] != students[iteration]  # where the coin shows in the action
        assert ((actions[iteration] == labels[iteration]) | (actions[iteration] == students[iteration])).all()
        share = (actions[iteration][differ] == labels[iteration][differ]).mean()
        assert abs(share - beta) < 0.15, (iteration, share, differ.sum())


def test_the_students_agreement_with_the_expert_rises_on_easy():
    config = DAggerConfig(env_kwargs={"level": "easy"}, num_envs=16, num_steps=64, gradient_steps=100,
                          total_timesteps=16 * 64 * 6)
    _, history = train(config)
    assert history["agreement"][0] < 0.5 and history["agreement"][-1] > 0.8, history["agreement"]
    assert history["loss"][-1] < history["loss"][0]
    assert set(history) == {"global_step", "episodic_return", "sps", *FAMILIES["dagger"].metrics}


def test_resume_equals_uninterrupted(tmp_path):
    """Checkpoint after iteration 2 through the hook, resume: the same weights, dataset and metrics as a run that
    never stopped, on normal with pedestrians, autoresets and the student driving part of the way."""
    from sandbox.runs.checkpoints import save_checkpoint

    config = DAggerConfig(total_timesteps=4 * 8 * 5, env_kwargs={"level": "normal", "max_episode_steps": 20},
                          buffer_size=100, **TINY)  # the ring wraps after iteration 3
    states = {}

    def checkpoint(event):
        if event["kind"] == "update":
            states[event["update"]] = event["state"]()
            if event["update"] == 2:
                save_checkpoint(tmp_path / "c.pt", states[2])

    full_model, full = train(config, log=checkpoint)
    resumed_model, resumed = train(config, resume=load_checkpoint(tmp_path / "c.pt"), log=checkpoint)
    for key in set(full) - {"sps"}:
        np.testing.assert_array_equal(resumed[key], full[key], err_msg=key)
    for (name, a), b in zip(full_model.state_dict().items(), resumed_model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    assert full["dataset_size"][-1] == 100  # the resumed run's ring wrapped as the whole one's did


def _train_command(run: Path) -> list[str]:
    return [sys.executable, "-m", "sandbox", "train", "--agent", "dagger", "--run-dir", str(run), "--num-envs", "8",
            "--total-timesteps", "6144", "--set", "gradient_steps=20", "--checkpoint-every", "3",
            "--eval-episodes", "2"]


def test_resume_after_kill_9_ends_as_the_uninterrupted_run(tmp_path):
    whole, _ = assert_resume_after_kill_9_equals_uninterrupted(tmp_path, _train_command, 6144)
    assert {"losses/imitation_loss", "charts/agreement", "charts/beta", "charts/dataset_size"} <= set(
        progress_rows(whole)[0])


def test_sandbox_train_and_eval_from_the_command_line(tmp_path, capsys):
    from sandbox.cli import main

    run = tmp_path / "dagger"
    assert main(["train", "--agent", "dagger", "--level", "easy", "--run-dir", str(run), "--total-timesteps",
                 "8192", "--eval-episodes", "3", "--set", "gradient_steps=50"]) == 0
    assert json.loads((run / "eval.json").read_text())["episodes"] == 3
    capsys.readouterr()
    assert main(["eval", str(run / "checkpoint.pt"), "--episodes", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["episodes"] == 4 and 0.0 <= result["clean_lap_rate"] <= result["lap_rate"] <= 1.0
    assert main(["train", "--agent", "dagger", "--env", "CartPole-v1", "--run-dir", str(tmp_path / "cp")]) == 2
    assert "env_id='CartPole-v1'" in capsys.readouterr().err and not (tmp_path / "cp").exists()
