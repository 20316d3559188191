"""The table backbone: the one-hot code of a discretised observation, by hand, and its refusals."""

from __future__ import annotations

import pytest
import torch
from gymnasium import spaces

from sandbox.backbones import make_backbone


def test_box_cells_combine_mixed_radix():
    box = spaces.Box(low=-1.0, high=1.0, shape=(2,))
    table = make_backbone("table", box, bins=4)  # cells of width 0.5: [-1,-.5) [-.5,0) [0,.5) [.5,1]
    obs = torch.tensor([[-0.9, -0.9], [-0.9, 0.1], [0.6, -0.2], [5.0, -5.0]])  # the last one beyond both ends
    assert table.out_dim == 16
    assert table.index(obs).tolist() == [0 * 4 + 0, 0 * 4 + 2, 3 * 4 + 1, 3 * 4 + 0]
    features = table(obs)
    assert features.shape == (4, 16) and features.sum(1).tolist() == [1.0] * 4


def test_discrete_observation_is_its_own_row():
    table = make_backbone("table", spaces.Discrete(5, start=2))
    assert table.out_dim == 5 and table.index(torch.tensor([2, 6])).tolist() == [0, 4]


def test_infinite_bounds_ask_for_edges_and_given_edges_are_used():
    unbounded = spaces.Box(low=-float("inf"), high=float("inf"), shape=(2,))
    with pytest.raises(ValueError, match="pass low="):
        make_backbone("table", unbounded)
    table = make_backbone("table", unbounded, bins=2, low=(0, 0), high=(2, 2))
    assert table.index(torch.tensor([[1.5, 0.5]])).tolist() == [2]
    with pytest.raises(ValueError, match="high needs 2 numbers"):
        make_backbone("table", unbounded, low=(0, 0), high=(1,))


def test_too_many_states_and_bad_bins_are_refused():
    with pytest.raises(ValueError, match="max_states"):
        make_backbone("table", spaces.Box(0, 1, (9,)), bins=10)
    with pytest.raises(ValueError, match="bins must be"):
        make_backbone("table", spaces.Box(0, 1, (2,)), bins=0)
    with pytest.raises(ValueError, match="cannot read"):
        make_backbone("table", spaces.Box(0, 255, (8, 8, 3)))
