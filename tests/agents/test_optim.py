"""The optimisers: RMSprop as TensorFlow 1 steps it against hand-computed numbers and torch's RMSprop where the
two must agree; its state survives save/load so a resumed run steps on exactly; bad names and rates are
refused by name."""

from __future__ import annotations

import math

import pytest
import torch

from agents.optim import OPTIMIZERS, RMSpropTFLike, make_optimizer


def test_rmsprop_tf_by_hand():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    optimizer = make_optimizer("rmsprop-tf", [p], 0.1)
    for g in ([0.5, 1.0], [-1.0, 2.0]):
        p.grad = torch.tensor(g, dtype=torch.float64)
        optimizer.step()
    # v1 = 0.99 * 1 + 0.01 g1^2, v2 = 0.99 v1 + 0.01 g2^2; p -= 0.1 g / sqrt(v + 1e-5) each step
    expected = []
    for p0, g1, g2 in ((1.0, 0.5, -1.0), (-2.0, 1.0, 2.0)):
        v1 = 0.99 + 0.01 * g1**2
        v2 = 0.99 * v1 + 0.01 * g2**2
        expected.append(p0 - 0.1 * g1 / math.sqrt(v1 + 1e-5) - 0.1 * g2 / math.sqrt(v2 + 1e-5))
    assert p.detach().tolist() == pytest.approx(expected, rel=1e-12)


def test_its_first_step_is_a_plain_gradient_step_where_torchs_is_ten_times_the_sign():
    g = torch.tensor([0.1, 10.0])
    moved = {}
    for name in ("rmsprop-tf", "rmsprop"):
        p = torch.nn.Parameter(torch.zeros(2))
        p.grad = g.clone()
        make_optimizer(name, [p], 1.0).step()
        moved[name] = -p.detach()
    assert moved["rmsprop-tf"][0].item() == pytest.approx(0.1, rel=1e-2)  # ~ lr * g where v ~ 1
    assert moved["rmsprop"].tolist() == pytest.approx([10.0, 10.0], rel=1e-2)  # g / sqrt(0.01 g^2) = 10 sign(g)


def test_a_loaded_state_steps_as_the_uninterrupted_one():
    torch.manual_seed(0)
    grads = [torch.randn(3) for _ in range(6)]

    def run(split: bool) -> torch.Tensor:
        p = torch.nn.Parameter(torch.ones(3))
        optimizer = RMSpropTFLike([p], lr=0.01)
        for i, g in enumerate(grads):
            if split and i == 3:  # save and restore into a fresh optimizer mid-run
                state = optimizer.state_dict()
                optimizer = RMSpropTFLike([p], lr=0.01)
                optimizer.load_state_dict(state)
            p.grad = g
            optimizer.step()
        return p.detach()

    assert torch.equal(run(split=False), run(split=True))


def test_every_name_builds_and_a_bad_one_is_refused():
    for name in OPTIMIZERS:
        assert isinstance(make_optimizer(name, [torch.nn.Parameter(torch.zeros(1))], 1e-3), torch.optim.Optimizer)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        make_optimizer("adagrad", [torch.nn.Parameter(torch.zeros(1))], 1e-3)
    with pytest.raises(ValueError, match="learning_rate must be > 0"):
        make_optimizer("rmsprop-tf", [torch.nn.Parameter(torch.zeros(1))], 0.0)
