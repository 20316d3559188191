"""The shared config checks name the bad field."""

from dataclasses import dataclass

import pytest

from sandbox.runs.validate import check_positive_ints, check_unit_interval


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
