"""Settings that work out of the box, per family and env, shipped with the package as data (the way
rl-baselines3-zoo keeps its hyper-parameters): one TOML file per family, `agents/settings/<family>.toml`.

    settings, entries = tuned_settings("a2c", "CartPole-v1", {})     # ({"num_envs": 16, ...}, ["CartPole-v1"])

A file's tables are keyed by env:

- `[default]`: an env with no entry of its own (settings that learn a typical small env);
- `["CartPole-v1"]`, `["LunarLander-v3"]`, ...: a gymnasium id;
- `["sandbox/CarDrive-v0"]`, then `["sandbox/CarDrive-v0 pixels"]`, `["sandbox/CarDrive-v0 normal"]` and
  `["sandbox/CarDrive-v0 normal pixels"]`: CarDrive, then its observation on any level, then its level, then
  its level and observation (`easy` and `rays` when not given); each more specific table overrides the one
  before.

Values are what the family's config takes (arrays become tuples). `sandbox train` merges the user's settings
(`--learning-rate`, `--set key=value`, ...) over these, prints what it used, and keeps the result in the run's
checkpoint, so a resumed run does not change when this data does.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FOLDER = Path(__file__).parent
CARDRIVE = "sandbox/CarDrive-v0"


@cache
def _table(family: str) -> dict[str, dict[str, Any]]:
    path = FOLDER / f"{family}.toml"
    if not path.is_file():
        return {}
    with open(path, "rb") as f:
        try:
            return tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML ({exc})") from None


def entries_for(env_id: str, env_kwargs: dict[str, Any] | None = None) -> list[str]:
    """The table names that apply to an env, most general first (CarDrive: env, observation, level, level +
    observation)."""
    if env_id != CARDRIVE:
        return [env_id]
    kwargs = env_kwargs or {}
    level, obs = kwargs.get("level", "easy"), kwargs.get("obs", "rays")
    return [CARDRIVE, f"{CARDRIVE} {obs}", f"{CARDRIVE} {level}", f"{CARDRIVE} {level} {obs}"]


def tuned_settings(family: str, env_id: str, env_kwargs: dict[str, Any] | None = None
                   ) -> tuple[dict[str, Any], list[str]]:
    """(settings, the entries they came from) for `family` on an env; `[default]` when the env has no entry. A
    later entry's keys replace an earlier one's, but `env_kwargs` merge key by key (the pixels entry's
    speedometer stays under the level's sensor)."""
    table = _table(family)
    found = [name for name in entries_for(env_id, env_kwargs) if name in table]
    if not found and "default" in table:
        found = ["default"]
    settings: dict[str, Any] = {}
    for name in found:
        settings = merged(settings, as_tuples(table[name]))
    return settings, found


def merged(shipped: dict[str, Any], given: dict[str, Any], default_backbone: str = "mlp") -> dict[str, Any]:
    """`given` over `shipped`, `env_kwargs` merged key by key (the user's level over a shipped sensor setting);
    the shipped `backbone_options` are left out when `given` names another backbone than theirs without
    options of its own (a CNN's channels mean nothing to an MLP)."""
    out = {**shipped, **given}
    if "env_kwargs" in shipped or "env_kwargs" in given:
        out["env_kwargs"] = {**shipped.get("env_kwargs", {}), **given.get("env_kwargs", {})}
    if "backbone" in given and "backbone_options" not in given and (
        given["backbone"] != shipped.get("backbone", default_backbone)
    ):
        out.pop("backbone_options", None)
    return out


def source(family: str) -> Path:
    """The file a family's settings come from."""
    return FOLDER / f"{family}.toml"


def as_tuples(value: Any) -> Any:
    """TOML arrays -> tuples (what the configs hold, e.g. widths), at any depth of arrays and inline tables."""
    if isinstance(value, list):
        return tuple(as_tuples(v) for v in value)
    if isinstance(value, dict):
        return {key: as_tuples(v) for key, v in value.items()}
    return value
