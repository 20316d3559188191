"""The car-driving world: tracks, levels, batched physics, sensors, pedestrians, traffic, rendering, and the
drivers that need no learning (the rays controller and the privileged expert).

`import envs` registers `sandbox/CarDrive-v0` for `gymnasium.make` (one car, `CarDriveEnv`) and
`gymnasium.make_vec(..., vectorization_mode="vector_entry_point")` (a batch, `CarDriveVectorEnv`). Levels are
`LEVELS` (easy, normal, hard); `register_level` adds one, whose name every `level=` then accepts.
Nothing here imports torch; pygame is imported only when a frame is rendered.
"""

import gymnasium

from envs.car_env import CarDriveEnv
from envs.controller import drive_controller
from envs.core import CarDriveCore, WorldConfig
from envs.expert import drive_expert
from envs.levels import (
    HELDOUT_SEEDS,
    LEVELS,
    TRAIN_SEEDS,
    Level,
    get_level,
    register_level,
    track_seeds,
    unregister_level,
)
from envs.track import Track, TrackShape, make_track
from envs.vector_env import CarDriveVectorEnv

ENV_ID = "sandbox/CarDrive-v0"

if ENV_ID not in gymnasium.registry:
    gymnasium.register(
        id=ENV_ID,
        entry_point="envs.car_env:CarDriveEnv",
        vector_entry_point="envs.vector_env:CarDriveVectorEnv",
        max_episode_steps=None,  # the env truncates itself at its own max_episode_steps argument
    )

__all__ = [
    "ENV_ID", "HELDOUT_SEEDS", "LEVELS", "TRAIN_SEEDS", "CarDriveCore", "CarDriveEnv", "CarDriveVectorEnv",
    "Level", "Track", "TrackShape", "WorldConfig", "drive_controller", "drive_expert", "get_level", "make_track",
    "register_level", "track_seeds", "unregister_level",
]
