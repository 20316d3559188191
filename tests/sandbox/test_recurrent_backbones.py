"""The recurrent backbones (lstm, gru): a rollout run at once equals each car stepped alone, the state is
reset exactly where an episode starts, the gradient through a rollout equals a hand-unrolled LSTMCell /
GRUCell loop, and the registry builds them on vector, image and Dict spaces, refusing bad options by name."""

from __future__ import annotations

import copy

import pytest
import torch
from gymnasium import spaces

from sandbox.backbones import (
    RecurrentBackbone,
    RecurrentConfig,
    available_backbones,
    is_recurrent,
    make_backbone,
)
from tests.sandbox.spaces import observation_spaces, sample_batch

SPACES = observation_spaces()
SMALL_CNN = {"channels": (8, 16), "out_dim": 32}
# (space, options): a vector Box, an image Box and a Dict of both, each with the stem that reads it
CASES = [
    ("rays", {"hidden_size": 16}),
    ("rays", {"hidden_size": 8, "num_layers": 2, "stem_options": {"widths": (12,)}}),
    ("cartpole", {"hidden_size": 16}),
    ("pixels", {"hidden_size": 16, "stem": "cnn", "stem_options": SMALL_CNN}),
    ("both", {"hidden_size": 16, "stem": "cnn", "stem_options": SMALL_CNN}),
    ("both", {"hidden_size": 16}),  # the mlp stem's own Dict handling: one MLP per key
]
IDS = [f"{name}-{opts.get('stem', 'mlp')}-layers{opts.get('num_layers', 1)}" for name, opts in CASES]


def build(cell: str, name: str, options: dict, seed: int = 0) -> RecurrentBackbone:
    torch.manual_seed(seed)
    return make_backbone(cell, SPACES[name], **options)


def rollout(space: spaces.Space, steps: int, batch: int, seed: int = 0):
    """Observations (T, B, *shape) (a dict of those for a Dict space)."""
    frames = [sample_batch(space, batch, seed=seed + 10 * t) for t in range(steps)]
    if isinstance(space, spaces.Dict):
        return {key: torch.stack([f[key] for f in frames]) for key in space.spaces}
    return torch.stack(frames)


def index(obs, *where):
    """obs[where], per key for a dict."""
    return {k: v[where] for k, v in obs.items()} if isinstance(obs, dict) else obs[where]


def random_state(backbone: RecurrentBackbone, batch: int) -> tuple[torch.Tensor, ...]:
    return tuple(torch.randn_like(s) for s in backbone.initial_state(batch))


# resets mid-sequence: car 0 at step 2, car 1 at steps 0 and 4, car 2 never
STARTS = torch.tensor([[0, 1, 0], [0, 0, 0], [1, 0, 0], [0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=torch.bool)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize(("name", "options"), CASES, ids=IDS)
def test_sequence_equals_each_car_stepped_alone(cell, name, options):
    backbone = build(cell, name, options)
    steps, batch = STARTS.shape
    obs = rollout(SPACES[name], steps, batch)
    state = random_state(backbone, batch)
    with torch.no_grad():
        features, final = backbone.forward_sequence(obs, state, STARTS)
        assert features.shape == (steps, batch, backbone.out_dim)
        for car in range(batch):
            car_state = tuple(s[:, car : car + 1] for s in state)  # (layers, 1, hidden)
            for t in range(steps):
                step_obs = index(obs, t, slice(car, car + 1))  # (1, *obs_shape): one car, one step
                out, car_state = backbone(step_obs, car_state, STARTS[t, car : car + 1].float())
                torch.testing.assert_close(out[0], features[t, car], atol=1e-5, rtol=1e-4)
            for got, want in zip(car_state, final, strict=True):
                torch.testing.assert_close(got[:, 0], want[:, car], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_state_is_reset_exactly_where_an_episode_starts(cell):
    backbone = build(cell, "rays", {"hidden_size": 16})
    obs = sample_batch(SPACES["rays"], 2, seed=3)
    state = random_state(backbone, 2)
    with torch.no_grad():
        features, _ = backbone(obs, state, torch.tensor([1.0, 0.0]))
        fresh, _ = backbone(obs, backbone.initial_state(2), torch.zeros(2))
    torch.testing.assert_close(features[0], fresh[0])  # row 0 starts: its old state is forgotten
    assert not torch.allclose(features[1], fresh[1], atol=1e-3)  # row 1 goes on: its state matters


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_reset_mid_sequence_forgets_everything_before_it(cell):
    backbone = build(cell, "rays", {"hidden_size": 16})
    steps, batch = STARTS.shape
    obs = rollout(SPACES["rays"], steps, batch)
    with torch.no_grad():
        features, _ = backbone.forward_sequence(obs, random_state(backbone, batch), STARTS)
        # car 0 starts over at step 2: from there on it is a fresh run over obs[2:]
        fresh, _ = backbone.forward_sequence(obs[2:, :1], backbone.initial_state(1), torch.zeros(steps - 2, 1))
        torch.testing.assert_close(features[2:, 0], fresh[:, 0])
        # car 2 never starts over: its random initial state still shows at the last step
        unreset, _ = backbone.forward_sequence(obs[:, 2:], backbone.initial_state(1), torch.zeros(steps, 1))
        assert not torch.allclose(features[:2, 2], unreset[:2, 0], atol=1e-3)


def reference_loss(backbone: RecurrentBackbone, obs, state, starts, weights):
    """The loss of `forward_sequence`, unrolled by hand with an LSTMCell / GRUCell holding the same weights;
    returns it with the (stem, cell) it was computed through, whose gradients the test compares."""
    stem, rnn = copy.deepcopy(backbone.stem), backbone.rnn
    lstm = isinstance(rnn, torch.nn.LSTM)
    cell = (torch.nn.LSTMCell if lstm else torch.nn.GRUCell)(rnn.input_size, rnn.hidden_size)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(rnn, f"{name}_l0"))
    h = state[0][0]  # (B, hidden): layer 0
    c = state[1][0] if lstm else None
    loss = torch.zeros(())
    for t in range(starts.shape[0]):
        keep = 1.0 - starts[t].float().unsqueeze(1)  # (B, 1)
        x = stem(obs[t])  # (B, stem.out_dim)
        if lstm:
            h, c = cell(x, (h * keep, c * keep))
        else:
            h = cell(x, h * keep)
        loss = loss + (h * weights[t]).sum()
    return loss + h.square().sum(), stem, cell


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_bptt_gradient_matches_a_hand_unrolled_cell(cell):
    torch.manual_seed(0)
    space = spaces.Box(-1.0, 1.0, (4,))
    backbone = make_backbone(cell, space, hidden_size=3, stem_options={"widths": (5,)})
    steps, batch = 4, 2
    obs = torch.rand(steps, batch, 4) * 2 - 1
    starts = torch.tensor([[1, 0], [0, 0], [0, 1], [0, 0]])
    state = tuple(torch.randn(1, batch, 3) for _ in backbone.initial_state(batch))
    weights = torch.randn(steps, batch, 3)

    features, final = backbone.forward_sequence(obs, state, starts)
    ((features * weights).sum() + final[0].square().sum()).backward()
    loss, stem, ref = reference_loss(backbone, obs, state, starts, weights)
    loss.backward()

    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        torch.testing.assert_close(getattr(backbone.rnn, f"{name}_l0").grad, getattr(ref, name).grad)
    for (name, got), want in zip(backbone.stem.named_parameters(), stem.parameters(), strict=True):
        assert got.grad.abs().sum() > 0, name
        torch.testing.assert_close(got.grad, want.grad)


def test_registry_lists_lstm_and_gru():
    assert {"lstm", "gru"} <= set(available_backbones())
    assert make_backbone("lstm", SPACES["rays"]).config.cell == "lstm"
    assert make_backbone("gru", SPACES["rays"]).config.cell == "gru"
    assert not is_recurrent(make_backbone("mlp", SPACES["rays"]))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize(("name", "options"), CASES, ids=IDS)
def test_shapes_and_gradients_on_every_space(cell, name, options):
    backbone = build(cell, name, options)
    assert is_recurrent(backbone) and backbone.trainable_by_gradient
    assert backbone.out_dim == options["hidden_size"]
    batch = 3
    features, state = backbone(sample_batch(SPACES[name], batch), backbone.initial_state(batch), torch.zeros(batch))
    assert features.shape == (batch, backbone.out_dim)
    features, state = backbone.forward_sequence(rollout(SPACES[name], 2, batch), state, torch.zeros(2, batch))
    assert features.shape == (2, batch, backbone.out_dim)
    assert [tuple(s.shape) for s in state] == [tuple(s.shape) for s in backbone.initial_state(batch)]
    (features * torch.randn_like(features)).sum().backward()
    missing = [n for n, p in backbone.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_state_dict_round_trip(cell):
    backbone, other = build(cell, "rays", {"hidden_size": 8}, seed=0), build(cell, "rays", {"hidden_size": 8}, seed=1)
    other.load_state_dict(backbone.state_dict())
    obs, state = sample_batch(SPACES["rays"], 2), backbone.initial_state(2)
    torch.testing.assert_close(backbone(obs, state, torch.ones(2))[0], other(obs, state, torch.ones(2))[0])


@pytest.mark.parametrize(
    ("cell", "options", "field"),
    [
        ("lstm", {"hidden_size": 0}, "hidden_size"),
        ("gru", {"hidden_size": 2.5}, "hidden_size"),
        ("lstm", {"num_layers": 0}, "num_layers"),
        ("lstm", {"stem": "lstm"}, "stem"),
        ("gru", {"stem": "gru"}, "stem"),
        ("gru", {"stem": "no-such-backbone"}, "stem"),
        ("lstm", {"stem": "cnn"}, "stem"),  # a cnn cannot read rays: the stem's own refusal, prefixed
        ("lstm", {"stem_options": {"widths": (0,)}}, "widths"),
        ("lstm", {"stem_options": ["widths"]}, "stem_options"),
        ("lstm", {"cell": "gru"}, "cell"),
        ("gru", {"cell": "rnn"}, "cell"),
        ("lstm", {"hiden_size": 8}, "hiden_size"),
    ],
)
def test_bad_options_name_the_field(cell, options, field):
    with pytest.raises(ValueError, match=field):
        make_backbone(cell, SPACES["rays"], **options)


def test_bad_config_and_a_recurrent_stem_by_module_path():
    with pytest.raises(ValueError, match="cell"):
        RecurrentConfig(cell="rnn")
    with pytest.raises(ValueError, match="stem must be a feed-forward"):
        make_backbone("lstm", SPACES["rays"], stem="sandbox.backbones:build_gru")


def test_bad_state_or_mask_shape_is_named():
    backbone = build("lstm", "rays", {"hidden_size": 8})
    obs = sample_batch(SPACES["rays"], 2)
    with pytest.raises(ValueError, match="state must be 2 tensor"):
        backbone(obs, backbone.initial_state(3), torch.zeros(2))
    with pytest.raises(ValueError, match="episode start mask"):
        backbone(obs, backbone.initial_state(2), torch.zeros(3))
    with pytest.raises(ValueError, match="episode_starts must be"):
        backbone.forward_sequence(obs, backbone.initial_state(2), torch.zeros(2))


@pytest.mark.parametrize(("cell", "tensors"), [("lstm", 2), ("gru", 1)])
def test_initial_state_shapes(cell, tensors):
    backbone = make_backbone(cell, SPACES["rays"], hidden_size=5, num_layers=2)
    state = backbone.initial_state(4)
    assert isinstance(state, tuple) and len(state) == tensors
    assert all(s.shape == (2, 4, 5) and not s.any() for s in state)
