"""The shared config checks name the bad field."""

from dataclasses import dataclass

import pytest

from sandbox.runs.validate import check_positive_ints, check_unit_interval, typed_settings


@dataclass
class _Config:
    steps: object = 3
    rate: float = 0.5


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "3"])
def test_positive_ints_name_the_field(bad):
    with pytest.raises(ValueError, match=r"steps must be an integer >= 1, got"):
        check_positive_ints(_Config(steps=bad), "steps")
    check_positive_ints(_Config(), "steps")


@pytest.mark.parametrize("bad", [-0.1, 1.01, float("nan")])
def test_unit_interval_names_the_field(bad):
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\]"):
        check_unit_interval(_Config(rate=bad), "rate")
    check_unit_interval(_Config(rate=0.0), "rate")


@dataclass
class _Typed:
    steps: int = 3
    rate: float = 0.5
    on: bool = False
    name: str = "mlp"
    options: dict | None = None
    widths: tuple[int, ...] = (64,)


@pytest.mark.parametrize(("field", "bad", "kind"), [
    ("steps", 2.5, "an integer"), ("steps", True, "an integer"), ("steps", "3", "an integer"),
    ("rate", "abc", "a number"), ("rate", True, "a number"), ("on", 1, "true or false"),
    ("name", 3, "a string"), ("options", 3, "a table"), ("widths", 64, "a list"),
])
def test_typed_settings_name_the_field_and_its_kind(field, bad, kind):
    with pytest.raises(ValueError, match=f"{field} must be {kind}"):
        typed_settings(_Typed, {field: bad})


def test_typed_settings_take_what_fits():
    settings = {"steps": 1e6, "rate": 1, "on": True, "name": "cnn", "options": None, "widths": [32, 32]}
    assert typed_settings(_Typed, settings) == {**settings, "steps": 1_000_000}
    assert type(typed_settings(_Typed, {"steps": 1e6})["steps"]) is int  # TOML's 1e6 is a float
    assert typed_settings(_Typed, {"options": {"a": 1}}) == {"options": {"a": 1}}
