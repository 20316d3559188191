"""The actor-critic's categorical policy: the same draws, log-probabilities and entropies as torch's
Categorical, and the empirical frequencies of its samples match its probabilities."""

from __future__ import annotations

import torch
from torch.distributions import Categorical

from agents.actor_critic import LogitsCategorical, select_rows


def test_logits_categorical_equals_torchs():
    logits = torch.randn(64, 5) * 3
    ours, theirs = LogitsCategorical(logits), Categorical(logits=logits)
    torch.manual_seed(3)
    ours_sample = ours.sample()
    torch.manual_seed(3)
    assert torch.equal(ours_sample, theirs.sample())  # the same random numbers, the same draws
    assert torch.allclose(ours.log_prob(ours_sample), theirs.log_prob(ours_sample), atol=1e-5)
    assert torch.allclose(ours.entropy(), theirs.entropy(), atol=1e-5)
    assert torch.allclose(ours.probs, theirs.probs, atol=1e-6)


def test_samples_follow_the_probabilities():
    logits = torch.tensor([[0.0, 1.0, 2.0, -1.0]])
    torch.manual_seed(0)
    draws = LogitsCategorical(logits).sample(torch.Size([20_000]))  # (20000, 1)
    assert draws.shape == (20_000, 1)
    frequencies = torch.bincount(draws[:, 0], minlength=4) / 20_000
    assert torch.allclose(frequencies, torch.softmax(logits[0], -1), atol=0.015)


def test_select_rows_keeps_the_rows():
    logits = torch.randn(6, 3)
    rows = torch.tensor([True, False, True, False, False, True])
    picked = select_rows(LogitsCategorical(logits), rows)
    assert isinstance(picked, LogitsCategorical)
    assert torch.allclose(picked.probs, torch.softmax(logits[rows], -1))
