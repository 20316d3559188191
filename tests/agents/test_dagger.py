"""DAgger: the mixing schedule and the imitation loss by hand; the aggregated dataset grows by the visited
transitions, labelled by the expert on those very states; the first iteration is all expert; the student's
agreement with the expert rises on easy; another env is refused; resume (in process and after kill -9) equals
the uninterrupted run; `sandbox train --agent dagger` and `sandbox eval` of its run. A recurrent (gru) student:
its dataset is a ring of blocks, a stored block replayed from its stored state gives what the student output
while driving it, its agreement rises, it resumes as the uninterrupted run and drives through `load_driver`."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from agents import FAMILIES, dagger
from agents.dagger import Aggregate, DAggerConfig, agreement, beta_schedule, imitation_loss, train
from agents.dagger_data import Sequences
from envs import CarDriveVectorEnv
from sandbox.commands.drivers import load_driver
from sandbox.runs.checkpoints import load_checkpoint
from tests.killed_run import assert_resume_after_kill_9_equals_uninterrupted, progress_rows

TINY = {"num_envs": 4, "num_steps": 8, "gradient_steps": 4, "batch_size": 16}
GRU = {"backbone": "gru", "backbone_options": {"hidden_size": 16, "stem_options": {"widths": (16,)}}}


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
    # brake_weight 3 on the rows whose label brakes (throttle < 0): (3 * 1.25 + 1 * 0) / (3 + 1)
    braking = torch.tensor([[0.0, -0.5], [0.2, 0.2]])
    mean = torch.tensor([[0.5, 0.5], [0.2, 0.2]])
    assert imitation_loss(mean, braking, discrete=False, brake_weight=3.0).item() == pytest.approx(3 * 1.25 / 4)
    assert imitation_loss(mean, braking, discrete=False).item() == pytest.approx(1.25 / 2)
    # overspeed_weight 4 on the throttle's term where the student's throttle is above the label: row 0 over
    # ((0.5^2 + 4 * 1.5^2) + 0) / 2; row 0 under (its throttle below the label) is the plain loss
    over = torch.tensor([[0.5, 1.0], [0.2, 0.2]])
    assert imitation_loss(over, braking, discrete=False, overspeed_weight=4.0).item() == pytest.approx(
        (0.5**2 + 4 * 1.5**2) / 2)
    under = torch.tensor([[0.5, -1.0], [0.2, 0.2]])
    assert imitation_loss(under, braking, discrete=False, overspeed_weight=4.0).item() == pytest.approx(
        imitation_loss(under, braking, discrete=False).item())


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


def test_the_sequences_are_a_ring_of_blocks_and_their_state_round_trips():
    data = Sequences(2, 2, torch.zeros(3, 1), torch.zeros(3, dtype=torch.long), (torch.zeros(1, 3, 2),))
    for block in range(3):  # block b, step t, car c: observation and label 10 b + 3 t + c; car 1 ends at t = 0
        for t in range(2):
            obs = 10.0 * block + 3 * t + torch.arange(3.0)
            data.add(obs[:, None], obs.long(), np.array([True, t == 0, True]), torch.tensor([0.0, t, 0.0]))
        data.end_block((torch.full((1, 3, 2), float(block)),))  # (layers, N, hidden): the block's first state
    assert (data.blocks, data.cursor, len(data)) == (2, 1, 2 * 5)  # block 0 overwritten by block 2
    copy = Sequences(2, 2, torch.zeros(3, 1), torch.zeros(3, dtype=torch.long), (torch.zeros(1, 3, 2),))
    copy.load_state_dict(data.state_dict())
    assert (copy.blocks, copy.cursor, len(copy)) == (2, 1, 10)
    for d in (data, copy):  # columns: car 1 of slot 0 (block 2), car 2 of slot 1 (block 1), time-major
        obs, labels, starts, valid, (h,) = d.columns(torch.tensor([0, 1]), torch.tensor([1, 2]))
        assert obs[..., 0].tolist() == [[21, 12], [24, 15]] and labels.tolist() == [[21, 12], [24, 15]]
        assert starts.tolist() == [[0, 0], [1, 0]] and valid.tolist() == [[True, True], [False, True]]
        assert h.shape == (1, 2, 2) and h[0, :, 0].tolist() == [2.0, 1.0]


def test_defaults_and_bad_settings():
    config = DAggerConfig()
    assert (config.beta0, config.env_id) == (1.0, "sandbox/CarDrive-v0")
    for bad, name in [({"beta0": 1.5}, "beta0"), ({"beta_decay": -0.1}, "beta_decay"),
                      ({"gradient_steps": 0}, "gradient_steps"), ({"buffer_size": 3, "num_envs": 4}, "buffer_size"),
                      ({"share_backbone": 1}, "share_backbone"), ({"max_grad_norm": 0.0}, "max_grad_norm"),
                      ({"brake_weight": 0.0}, "brake_weight"), ({"aux_coef": -1.0}, "aux_coef"),
                      ({"anneal_lr": 1}, "anneal_lr"), ({"ema_decay": 1.0}, "ema_decay"),
                      ({"ema_decay": -0.5}, "ema_decay"), ({"overspeed_weight": 0.0}, "overspeed_weight"),
                      ({"action_noise": -0.1}, "action_noise")]:
        with pytest.raises(ValueError, match=name):
            DAggerConfig(**bad)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "LunarLander-v3"])
def test_another_env_is_refused_naming_env_id(env_id):
    with pytest.raises(ValueError, match=f"env_id={env_id!r}"):
        DAggerConfig(env_id=env_id)


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

        def record_greedy(model, obs, memory):
            self.students.append(greedy(model, obs, memory))
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
    assert set(history) == {"global_step", "episodic_return", "sps", *FAMILIES["dagger"].metrics} - {"aux_loss"}


def test_action_noise_perturbs_the_students_driving_within_the_box_and_the_expert_labels_it(monkeypatch):
    """DART: the student's Box actions plus Gaussian noise of the given deviation, clipped into the Box; the
    expert's steps (iteration 1) are not perturbed; every visited state is still labelled by the expert."""
    record, events = _Recorder(monkeypatch), []
    config = DAggerConfig(env_kwargs={"level": "normal", "continuous": True}, total_timesteps=16 * 32 * 2,
                          num_envs=16, num_steps=32, gradient_steps=1, beta0=1.0, beta_decay=0.0,
                          action_noise=0.2)
    train(config, log=events.append)
    actions, labels, students = (np.array(x).reshape(2, 32 * 16, 2) for x in
                                 (record.actions, record.labels, record.students))
    np.testing.assert_array_equal(actions[0], labels[0])  # the expert drives iteration 1 as it is
    assert (np.abs(actions[1]) <= 1.0).all()  # the Box of the continuous CarDrive
    noise = (actions[1] - students[1])[np.abs(students[1]) < 0.4]  # far from the Box's edges: seldom clipped
    assert noise.size > 1000 and 0.17 < noise.std() < 0.23 and abs(noise.mean()) < 0.03, (noise.size, noise.std())
    done = np.array([e["terminated"] | e["truncated"] for e in events if e["kind"] == "step"])  # (T, N)
    valid = np.concatenate([np.ones((1, 16), bool), ~done[:-1]])
    stored = next(e for e in reversed(events) if e["kind"] == "update")["state"]()["extra"]["dataset"]
    np.testing.assert_array_equal(stored["labels"].numpy(), np.concatenate(record.labels)[valid.ravel()])


def test_action_noise_on_discrete_actions_is_refused_by_name():
    """The noise perturbs Box actions; a Discrete run would silently drive without it."""
    with pytest.raises(ValueError, match="action_noise=0.2 perturbs Box actions"):
        train(DAggerConfig(total_timesteps=64, num_envs=2, num_steps=32, action_noise=0.2))


def test_the_shipped_pixels_noise_goes_where_the_actions_are_continuous():
    from agents.settings import tuned_settings

    for level, noise in (("easy", None), ("normal", 0.2), ("hard", 0.2)):
        settings, _ = tuned_settings("dagger", "sandbox/CarDrive-v0", {"level": level, "obs": "pixels"})
        assert settings.get("action_noise") == noise, level
        assert settings.get("env_kwargs", {}).get("continuous", False) == (noise is not None), level


@pytest.mark.parametrize("continuous", [False, True])
def test_a_recurrent_students_blocks_replay_from_their_stored_state_as_it_drove_them(monkeypatch, continuous):
    """No training step, so the student stays the one that drove: D grows by one block per iteration, and each
    block replayed from its stored state with its stored starts gives the policy outputs the student produced
    step by step, over short episodes that start inside the blocks and a state carried from block to block."""
    record, outputs, events = _Recorder(monkeypatch), [], []
    step_policy = dagger._step_policy

    def record_step_policy(model, obs, memory):
        outputs.append(step_policy(model, obs, memory))
        return outputs[-1]

    monkeypatch.setattr(dagger, "_step_policy", record_step_policy)
    monkeypatch.setattr(dagger, "_fit", lambda *args: {"loss": 0.0})
    config = DAggerConfig(env_kwargs={"level": "normal", "max_episode_steps": 6, "continuous": continuous},
                          total_timesteps=4 * 8 * 3, beta0=0.5, **GRU, **TINY)
    model, history = train(config, log=events.append)
    done = np.array([e["terminated"] | e["truncated"] for e in events if e["kind"] == "step"])  # (T, N)
    valid = np.concatenate([np.ones((1, 4), bool), ~done[:-1]])
    assert history["dataset_size"] == np.cumsum(valid.reshape(3, 8 * 4).sum(1)).tolist()
    stored = next(e for e in reversed(events) if e["kind"] == "update")["state"]()["extra"]["dataset"]
    assert len(stored["labels"]) == 3  # a block per iteration
    np.testing.assert_array_equal(stored["valid"].numpy(), valid.reshape(3, 8, 4))
    starts = np.concatenate([np.ones((1, 4)), ~valid[:-1]])  # after an autoreset step, a first observation
    np.testing.assert_array_equal(stored["starts"].numpy(), starts.reshape(3, 8, 4))
    np.testing.assert_array_equal(stored["obs"].numpy(), np.array(record.states).reshape(stored["obs"].shape))
    np.testing.assert_array_equal(stored["labels"].numpy(), np.array(record.labels).reshape(stored["labels"].shape))
    driven = torch.stack(outputs).reshape(3, 8, 4, -1)  # (blocks, T, N, outputs)
    with torch.no_grad():
        for block in range(3):
            obs, state = stored["obs"][block], tuple(s[block] for s in stored["state"])
            replay = functools.partial(_replay_policy, model, obs)
            torch.testing.assert_close(replay(state, stored["starts"][block]), driven[block])
            if block:  # the stored state and starts both matter: without either the replay is another
                zero = tuple(torch.zeros_like(s) for s in state)
                assert not torch.allclose(replay(zero, stored["starts"][block]), driven[block])
                assert not torch.allclose(replay(state, torch.zeros_like(stored["starts"][block])), driven[block])


def _replay_policy(model, obs, state, starts):
    return model.pi(dagger._replay(model, obs, state, starts))  # features (T, b, hidden) -> outputs


def test_a_recurrent_students_agreement_with_the_expert_rises_on_easy():
    config = DAggerConfig(env_kwargs={"level": "easy"}, num_envs=16, num_steps=64, gradient_steps=100,
                          learning_rate=3e-3, total_timesteps=16 * 64 * 6, backbone="gru",
                          backbone_options={"hidden_size": 32, "stem_options": {"widths": (32,)}})
    _, history = train(config)
    agreement_ = history["agreement"]  # the first iteration's is the untrained student's (the expert drives)
    assert agreement_[-1] > 0.8 and agreement_[-1] > agreement_[1] + 0.1, agreement_
    assert history["loss"][-1] < history["loss"][0]
    assert history["dataset_size"][-1] > 0.99 * 16 * 64 * 6  # six blocks, all but the autoreset steps


AUX = {"aux_coef": 1.0}
EMA = {"ema_decay": 0.9}
DART = {"action_noise": 0.3, "overspeed_weight": 2.0, "env_kwargs": {"continuous": True}}  # Box actions


def test_the_averaged_student_drives_and_is_saved_the_optimizers_weights_kept_beside():
    """ema_decay: the model that drives, is evaluated and saved is the average of the optimizer's weights, which
    travel in the extra (and differ from it after a few steps)."""
    config = DAggerConfig(env_kwargs={"level": "normal"}, total_timesteps=4 * 8 * 3, learning_rate=3e-3,
                          **TINY, **EMA)
    events = []
    model, _ = train(config, log=events.append)
    extra = events[-1]["state"]()["extra"]
    live, saved = extra["weight_average"]["live"], events[-1]["state"]()["model"]
    assert extra["weight_average"]["steps"] == 3 * TINY["gradient_steps"]
    assert len(live) == len(list(model.parameters()))
    for (name, p), w in zip(model.named_parameters(), live, strict=True):
        torch.testing.assert_close(saved[name], p.detach(), rtol=0, atol=0)  # what is saved is what drives
        if name.startswith(("backbone.", "pi.")):  # the policy's (DAgger leaves the critic untrained)
            assert not torch.equal(p.detach(), w), name  # the average trails the optimizer's weights


def test_an_annealed_learning_rate_falls_linearly_in_every_group():
    """anneal_lr: iteration i of n fits at lr * (1 - (i - 1) / n), the auxiliary head's group as the student's."""
    config = DAggerConfig(env_kwargs={"level": "normal"}, total_timesteps=4 * 8 * 4, learning_rate=1e-3,
                          anneal_lr=True, **TINY, **AUX)
    groups = []
    _, history = train(config, log=lambda e: groups.append(e["state"]()["optimizer"]["param_groups"])
                       if e["kind"] == "update" else None)
    np.testing.assert_allclose(history["learning_rate"], [1e-3, 0.75e-3, 0.5e-3, 0.25e-3])
    assert all(len(g) == 2 and g[0]["lr"] == g[1]["lr"] for g in groups)
    _, constant = train(DAggerConfig(env_kwargs={"level": "normal"}, total_timesteps=4 * 8 * 2, **TINY))
    assert constant["learning_rate"] == [1e-3, 1e-3]


@pytest.mark.parametrize(("continuous", "student"), [(False, {}), (True, {}), (True, GRU)],
                         ids=["discrete", "box", "gru"])
def test_the_auxiliary_task_labels_each_state_with_its_rays_and_learns_them(continuous, student):
    """On rays the privileged reading is the observation itself: every stored label row is the expert's action,
    then the state's observation; the auxiliary loss falls; the head is kept beside the student, not in it."""
    config = DAggerConfig(env_kwargs={"level": "normal", "continuous": continuous}, total_timesteps=4 * 8 * 6,
                          learning_rate=3e-3, **{**TINY, "gradient_steps": 30}, **AUX, **student)
    events = []
    model, history = train(config, log=events.append)
    extra = events[-1]["state"]()["extra"]
    stored, obs = extra["dataset"]["labels"], extra["dataset"]["obs"]
    a = 2 if continuous else 1
    assert stored.shape[-1] == a + obs.shape[-1] and stored.dtype == torch.float32
    torch.testing.assert_close(stored[..., a:], obs, rtol=0, atol=0)
    if not continuous:
        assert set(stored[..., 0].unique().tolist()) <= set(range(5))
    assert history["aux_loss"][-1] < 0.5 * history["aux_loss"][0], history["aux_loss"]
    assert set(extra["aux_head"]) == {"weight", "bias"} and not any("aux" in k for k in model.state_dict())


@pytest.mark.parametrize("student", [{}, GRU, AUX, EMA, DART], ids=["mlp", "gru", "aux", "ema", "dart"])
def test_resume_equals_uninterrupted(tmp_path, student):
    """Checkpoint after iteration 2 through the hook, resume: the same weights, dataset and metrics as a run that
    never stopped, on normal with pedestrians, autoresets and the student driving part of the way (a recurrent
    student: the same state per car too)."""
    from sandbox.runs.checkpoints import save_checkpoint

    student = dict(student)  # DART's noise draws from the mixing generator, which the checkpoint keeps
    env_kwargs = {"level": "normal", "max_episode_steps": 20, **student.pop("env_kwargs", {})}
    config = DAggerConfig(total_timesteps=4 * 8 * 5, env_kwargs=env_kwargs,
                          buffer_size=100, **TINY, **student)  # the ring wraps after iteration 3 (rows or blocks)
    states = {}

    def checkpoint(event):
        if event["kind"] == "update":
            states[event["update"]] = event["state"]()
            if event["update"] == 2:
                save_checkpoint(tmp_path / "c.pt", states[2])

    full_model, full = train(config, log=checkpoint)
    full_extra = states[5]["extra"]
    resumed_model, resumed = train(config, resume=load_checkpoint(tmp_path / "c.pt"), log=checkpoint)
    if "aux_coef" in student:  # the auxiliary head resumes too (its optimizer state with the student's)
        for name, value in full_extra["aux_head"].items():
            torch.testing.assert_close(value, states[5]["extra"]["aux_head"][name], rtol=0, atol=0)
    if "ema_decay" in student:  # the optimizer's own weights resume beside the averaged student
        for a, b in zip(full_extra["weight_average"]["live"], states[5]["extra"]["weight_average"]["live"],
                        strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    for key in set(full) - {"sps"}:
        np.testing.assert_array_equal(resumed[key], full[key], err_msg=key)
    for (name, a), b in zip(full_model.state_dict().items(), resumed_model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    for a, b in zip(full_extra["memory"]["state"], states[5]["extra"]["memory"]["state"], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(full_extra["dataset"]["labels"], states[5]["extra"]["dataset"]["labels"])
    if "backbone" in student:  # the resumed run's ring of 100 // 32 = 3 blocks wrapped as the whole one's did
        assert len(full_extra["dataset"]["labels"]) == 3 and full_extra["dataset"]["cursor"] == 2
        assert [tuple(s.shape) for s in full_extra["memory"]["state"]] == [(1, 4, 16)]  # the policy's only
    else:
        assert full["dataset_size"][-1] == 100


def _train_command(run: Path) -> list[str]:
    return [sys.executable, "-m", "sandbox", "train", "--agent", "dagger", "--run-dir", str(run), "--num-envs", "8",
            "--total-timesteps", "6144", "--set", "gradient_steps=20", "--checkpoint-every", "3",
            "--eval-episodes", "2"]


GRU_FLAGS = ["--backbone", "gru", "--set", "backbone_options={hidden_size=16, stem_options={widths=[16]}}"]


@pytest.mark.parametrize("student", [[], GRU_FLAGS], ids=["mlp", "gru"])
def test_resume_after_kill_9_ends_as_the_uninterrupted_run(tmp_path, student):
    whole, killed = assert_resume_after_kill_9_equals_uninterrupted(
        tmp_path, lambda run: [*_train_command(run), *student], 6144)
    assert {"losses/imitation_loss", "charts/agreement", "charts/beta", "charts/dataset_size"} <= set(
        progress_rows(whole)[0])
    a, b = (load_checkpoint(run / "checkpoint.pt")["extra"] for run in (whole, killed))
    for x, y in zip(a["memory"]["state"], b["memory"]["state"], strict=True):  # where the next block would begin
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    assert [tuple(s.shape) for s in a["memory"]["state"]] == ([(1, 8, 16)] if student else [])


def test_a_recurrent_students_checkpoint_drives_with_its_state(tmp_path):
    from sandbox.cli import main
    from sandbox.runs.evaluate import evaluate

    run = tmp_path / "dagger-gru"
    assert main(["train", "--agent", "dagger", "--run-dir", str(run), "--num-envs", "4", "--total-timesteps", "512",
                 "--set", "gradient_steps=5", "--eval-episodes", "1", *GRU_FLAGS]) == 0
    driver = load_driver(run / "checkpoint.pt")
    result = evaluate(driver.act, driver.env_id, driver.env_kwargs, 2, observe=driver.observe)
    assert result["episodes"] == 2 and 0.0 <= result["lap_rate"] <= 1.0
    policy = driver.act.__self__  # agents.actor_critic.Policy: a state per car, carried from act to act
    assert [tuple(s.shape) for s in policy.state] == [(1, 2, 16)] * 2  # the actor's and the (untrained) critic's


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
