"""A memory task: a cue (-1 or +1) is shown at the first step, then `delay` blank steps, then a query; the
action at the query is rewarded 1 if it names the cue (0 for -1, 1 for +1). A feed-forward policy sees the same
query whatever the cue, so it cannot beat 0.5; a policy with memory reaches 1.

    gymnasium.make("tests.agents.memory_env:CueMemory-v0", delay=4)
"""

from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces


class CueMemoryEnv(gymnasium.Env):
    """Observations [cue, query] in {-1, 0, 1} x {0, 1}; Discrete(2) actions; one episode = delay + 2 steps."""

    def __init__(self, delay: int = 4) -> None:
        self.delay = delay
        self.observation_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.cue, self.t = int(self.np_random.integers(2)), 0
        return np.array([2.0 * self.cue - 1.0, 0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        if self.t <= self.delay:  # blank steps: the cue is gone
            return np.zeros(2, np.float32), 0.0, False, False, {}
        if self.t == self.delay + 1:  # the query
            return np.array([0.0, 1.0], np.float32), 0.0, False, False, {}
        return np.zeros(2, np.float32), float(int(action) == self.cue), True, False, {}


gymnasium.register("CueMemory-v0", entry_point=CueMemoryEnv, max_episode_steps=50)
