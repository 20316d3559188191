"""The loop's bookkeeping by hand: the episode tally's valid mask and returns (next-step autoreset), and the
update log's history and events (only the keys a family reports)."""

from __future__ import annotations

import math

import numpy as np
import torch

from agents.loop import EpisodeTally, UpdateLog, append_step


def test_the_tally_masks_the_autoreset_step_and_sums_valid_rewards():
    tally = EpisodeTally(np.ones(2, bool), np.zeros(2))
    assert tally.step(np.array([1.0, 2.0]), np.array([False, True])).tolist() == [True, True]
    assert tally.finished == [2.0]  # env 1's one-step episode
    # env 1's next step is the autoreset: no transition, its reward (here 9) counts for no episode
    assert tally.step(np.array([3.0, 9.0]), np.array([True, False])).tolist() == [True, False]
    assert tally.finished == [2.0, 4.0] and tally.episode_return.tolist() == [0.0, 0.0]
    assert tally.step(np.array([0.0, 5.0]), np.array([False, False])).tolist() == [False, True]
    assert tally.mean_return() == 3.0 and tally.finished == []
    assert math.isnan(tally.mean_return())  # no episode ended since
    assert tally.episode_return.tolist() == [0.0, 5.0]


class _Env:
    num_envs = 2

    @property
    def unwrapped(self):  # as every gymnasium env: the env beneath any wrappers (none here)
        return self


def test_the_update_log_keeps_what_the_family_reports_and_tells_the_hook():
    events = []
    model = torch.nn.Linear(1, 1)
    log = UpdateLog("toy", None, _Env(), model, torch.optim.SGD(model.parameters(), lr=0.1), events.append,
                    EpisodeTally(np.ones(2, bool), np.zeros(2)), {})
    valid = log.step(np.array([1.0, 1.0]), np.array([False, True]), np.array([False, False]), {})
    assert valid.tolist() == [True, True] and log.global_step == 2
    log.log_update(1, {"loss": 0.5})
    assert set(log.history) == {"global_step", "episodic_return", "loss", "sps"}
    assert log.history["global_step"] == [2] and log.history["episodic_return"] == [1.0]
    step, update = events
    assert step["kind"] == "step" and step["global_step"] == 2
    assert update["kind"] == "update" and update["update"] == 1 and update["loss"] == 0.5 and log.update == 1
    assert update["episodic_return"] == 1.0 and update["model"] is model


def test_append_step_makes_the_lists_on_first_use():
    rollout: dict[str, list] = {}
    append_step(rollout, obs=1, reward=0.5)
    append_step(rollout, obs=2, reward=1.5)
    assert rollout == {"obs": [1, 2], "reward": [0.5, 1.5]}
