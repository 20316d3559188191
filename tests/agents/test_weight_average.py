"""`agents.weight_average`: the average follows the formula by hand (its warm-up included), the model holds the
live weights only inside `training()`, and the state round-trips."""

import pytest
import torch

from agents.weight_average import WeightAverage


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Linear(3, 2)


def _step(model: torch.nn.Module, delta: float) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(delta)


def test_the_average_follows_the_formula_and_the_model_holds_it_outside_training():
    model = _model()
    start = [p.detach().clone() for p in model.parameters()]
    average = WeightAverage(model, decay=0.5)
    with average.training():
        _step(model, 1.0)
        average.update()  # t = 0: d = min(0.5, 1 / 10) = 0.1
        _step(model, 1.0)
        average.update()  # t = 1: d = min(0.5, 2 / 11)
    d0, d1 = 0.1, 2 / 11
    for p, w, s in zip(model.parameters(), average.live, start, strict=True):
        expected = d1 * (d0 * s + (1 - d0) * (s + 1)) + (1 - d1) * (s + 2)
        torch.testing.assert_close(p.detach(), expected)
        torch.testing.assert_close(w, s + 2)  # the optimizer's weights, kept aside
    with average.training():  # the live weights come back for the next fit
        for p, s in zip(model.parameters(), start, strict=True):
            torch.testing.assert_close(p.detach(), s + 2)


def test_the_state_round_trips_and_bad_input_is_refused():
    model = _model()
    average = WeightAverage(model, decay=0.9)
    with average.training():
        _step(model, 0.5)
        average.update()
    other = WeightAverage(_model(), decay=0.9)
    other.load_state_dict(average.state_dict())
    assert other.steps == 1
    for a, b in zip(other.live, average.live, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(model, decay=1.0)
    with pytest.raises(ValueError, match="live weights"):
        other.load_state_dict({"live": [], "steps": 0})
