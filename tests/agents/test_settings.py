"""The shipped settings per family and env (agents/settings/*.toml): which table applies, how they merge, and
that every value is a field its family's config takes."""

from __future__ import annotations

import dataclasses

import pytest

from agents import FAMILIES
from agents.settings import _table, entries_for, tuned_settings


def test_cardrive_merges_env_level_and_observation_most_general_first():
    assert entries_for("sandbox/CarDrive-v0", {"level": "normal", "obs": "pixels"}) == [
        "sandbox/CarDrive-v0", "sandbox/CarDrive-v0 normal", "sandbox/CarDrive-v0 normal pixels"]
    assert entries_for("sandbox/CarDrive-v0", {}) == [
        "sandbox/CarDrive-v0", "sandbox/CarDrive-v0 easy", "sandbox/CarDrive-v0 easy rays"]
    assert entries_for("CartPole-v1") == ["CartPole-v1"]


def test_an_env_without_an_entry_gets_the_default_table():
    settings, entries = tuned_settings("a2c", "Acrobot-v1", {})
    assert entries == ["default"] and settings["num_envs"] < FAMILIES["a2c"].config().num_envs  # not CarDrive's
    settings, entries = tuned_settings("a2c", "sandbox/CarDrive-v0", {"level": "normal"})
    assert entries == ["sandbox/CarDrive-v0"] and settings["num_envs"] == 128


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
