"""Every backbone family on every observation space it supports: shape, gradients, batch of 1, eval
determinism, state_dict round trip; and the spaces and options each refuses, with the reason named."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from gymnasium import spaces

from sandbox.backbones import (
    AttentionConfig,
    MLPConfig,
    SelfAttention,
    ZeroGradientWarning,
    make_activation,
    make_backbone,
)
from tests.sandbox.spaces import cardrive_space, observation_spaces, sample_batch

SPACES = observation_spaces()
SUPPORTED = {
    "mlp": ["rays", "pixels", "both", "cartpole"],
    "cnn": ["pixels", "both"],
    "attention": ["rays", "pixels", "both", "cartpole"],
}
# (family, space, options): every family on every supported space, plus the variants worth covering
CASES = [(family, name, {}) for family, names in SUPPORTED.items() for name in names] + [
    ("mlp", "rays", {"norm": "layer", "activation": "gelu"}),
    ("mlp", "rays", {"norm": "batch", "activation": "relu"}),
    ("mlp", "cartpole", {"activation": "sigmoid", "widths": (8, 8, 8)}),
    ("mlp", "rays", {"activation": "abs"}),
    ("cnn", "pixels", {"residual": True, "norm": "batch"}),
    ("cnn", "pixels", {"pool": "avg", "channels": (8, 8), "stem_stride": 1}),
    ("cnn", "both", {"pool": "none", "activation": "tanh"}),
    ("cnn", "pixels", {"pool": "none", "stem_stride": 2, "stem_kernel": 4, "channels": (8, 8, 8)}),
    ("attention", "both", {"pool": "cls", "n_heads": 4}),
    ("attention", "pixels", {"patch_size": 16, "dropout": 0.1}),
]
IDS = [f"{f}-{s}-{','.join(f'{k}={v}' for k, v in o.items()) or 'default'}" for f, s, o in CASES]


def build(family: str, name: str, options: dict, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return make_backbone(family, SPACES[name], **options)


@pytest.mark.parametrize(("family", "name", "options"), CASES, ids=IDS)
def test_output_shape_and_batch_of_one(family, name, options):
    backbone = build(family, name, options)
    assert isinstance(backbone.out_dim, int)
    assert backbone(sample_batch(SPACES[name], 5)).shape == (5, backbone.out_dim)
    if options.get("norm") == "batch":
        backbone.eval()  # BatchNorm1d cannot take statistics of one sample in training mode
    assert backbone(sample_batch(SPACES[name], 1)).shape == (1, backbone.out_dim)


@pytest.mark.parametrize(("family", "name", "options"), CASES, ids=IDS)
def test_gradients_reach_every_parameter(family, name, options):
    backbone = build(family, name, options)
    features = backbone(sample_batch(SPACES[name], 6))
    (features * torch.randn_like(features)).sum().backward()
    missing = [n for n, p in backbone.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []
    assert backbone.trainable_by_gradient


@pytest.mark.parametrize(("family", "name", "options"), CASES, ids=IDS)
def test_eval_mode_is_deterministic(family, name, options):
    backbone = build(family, name, options)
    backbone(sample_batch(SPACES[name], 4))  # a training step moves batch-norm statistics
    backbone.eval()
    obs = sample_batch(SPACES[name], 4, seed=1)
    assert torch.equal(backbone(obs), backbone(obs))


@pytest.mark.parametrize(("family", "name", "options"), CASES, ids=IDS)
def test_state_dict_round_trip(family, name, options, tmp_path):
    backbone = build(family, name, options, seed=0)
    backbone(sample_batch(SPACES[name], 4))
    backbone.eval()
    torch.save(backbone.state_dict(), tmp_path / "backbone.pt")
    other = build(family, name, options, seed=1).eval()
    other.load_state_dict(torch.load(tmp_path / "backbone.pt", weights_only=True))
    obs = sample_batch(SPACES[name], 3, seed=2)
    assert torch.equal(backbone(obs), other(obs))


def test_pixels_may_come_as_floats_in_0_255():
    backbone = build("cnn", "pixels", {}).eval()
    obs = sample_batch(SPACES["pixels"], 2)
    assert torch.allclose(backbone(obs), backbone(obs.float()))


def test_scaling_maps_bounds_and_leaves_unbounded_dims_alone():
    scale = make_backbone("mlp", SPACES["cartpole"]).scale
    obs = torch.tensor([[4.8, 123.0, -0.41887903, -7.0]])
    assert torch.allclose(scale(obs), torch.tensor([[1.0, 123.0, -1.0, -7.0]]))
    rays = make_backbone("mlp", cardrive_space("rays")).scale(torch.tensor([[0.0] * 9 + [1.0, 0.0]]))
    assert torch.allclose(rays, torch.tensor([[-1.0] * 9 + [1.0, 0.0]]))


@pytest.mark.parametrize(
    ("family", "space", "needle"),
    [
        ("cnn", SPACES["rays"], "image Box"),
        ("cnn", SPACES["cartpole"], "use 'mlp' or 'attention'"),
        ("cnn", spaces.Dict({"rays": cardrive_space("rays")}), "image Box"),
        ("mlp", spaces.Discrete(4), "Box of any shape"),
        ("attention", spaces.Box(0, 1, shape=(5, 5)), "1-D Box"),
        ("attention", spaces.Dict({"d": spaces.Discrete(3)}), "Dict of those"),
        ("cnn", spaces.Box(0, 255, shape=(3, 64, 64), dtype=np.uint8), "(H, W, C)"),
    ],
)
def test_unsupported_spaces_are_refused_by_name(family, space, needle):
    with pytest.raises(ValueError, match=f"backbone '{family}' cannot read observation space") as info:
        make_backbone(family, space)
    assert needle in str(info.value)


@pytest.mark.parametrize(
    ("family", "options", "needles"),
    [
        ("mlp", {"width": 3}, ["'width'", "widths, activation, norm"]),
        ("mlp", {"activation": "swish"}, ["'swish'", "step, sigmoid, tanh, relu, abs, gelu"]),
        ("mlp", {"norm": "group"}, ["norm", "'layer'"]),
        ("mlp", {"widths": ()}, ["widths"]),
        ("cnn", {"kernel_size": 4}, ["kernel_size"]),
        ("cnn", {"stem_kernel": 0}, ["stem_kernel"]),
        ("cnn", {"depth": 3}, ["'depth'", "channels"]),
        ("attention", {"n_heads": 3}, ["n_heads (3) must divide d_model (32)"]),
        ("attention", {"patch_size": 7}, ["patch_size 7"]),
        ("attention", {"pool": "max"}, ["pool"]),
    ],
)
def test_bad_options_are_named(family, options, needles):
    space = SPACES["pixels"] if family != "mlp" else SPACES["rays"]
    with pytest.raises(ValueError) as info:
        make_backbone(family, space, **options)
    for needle in needles:
        assert needle in str(info.value)


def test_config_object_and_options_combine():
    backbone = make_backbone("mlp", SPACES["rays"], config=MLPConfig(widths=(7, 5)), activation="relu")
    assert backbone.out_dim == 5 and backbone.config.activation == "relu"
    assert make_backbone("attention", SPACES["rays"], config=AttentionConfig(d_model=16)).out_dim == 16


def test_wrong_observation_shape_names_the_expected_one():
    backbone = make_backbone("mlp", SPACES["rays"])
    with pytest.raises(ValueError, match=r"expected \(B, \*\(11,\)\)"):
        backbone(torch.zeros(2, 12))
    with pytest.raises(ValueError, match="lacks key"):
        make_backbone("mlp", SPACES["both"])({"rays": torch.zeros(2, 11)})


def test_step_activation_warns_a_gradient_learner_and_has_zero_gradient():
    torch.manual_seed(0)
    backbone = make_backbone("mlp", SPACES["rays"], activation="step", widths=(16, 8))
    assert backbone.trainable_by_gradient is False
    obs = sample_batch(SPACES["rays"], 4)
    with pytest.warns(ZeroGradientWarning, match="evolution"):
        features = backbone(obs)
    assert set(features.unique().tolist()) <= {0.0, 1.0}
    features.sum().backward()  # runs, rather than failing inside torch
    assert all(torch.count_nonzero(p.grad) == 0 for p in backbone.parameters())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # evolution evaluates without gradients: no warning there
        with torch.no_grad():
            backbone(obs)
        backbone.eval()(obs)


def test_step_activation_runs_under_vmap_as_evolution_calls_it():
    """Evolution evaluates a population of non-MLP networks through torch.func.vmap (evolve/population.py);
    the step's autograd Function once refused to run there (architecture evolution with attention crashed)."""
    step = make_activation("step")
    x = torch.randn(3, 4, 5)
    assert torch.equal(torch.func.vmap(step)(x), (x > 0).float())
    with pytest.warns(ZeroGradientWarning):  # recording a gradient: the Function, through its vmap rule
        grads = torch.func.vmap(torch.func.grad(lambda v: step(v).sum()))(x)
    assert grads.shape == x.shape and torch.count_nonzero(grads) == 0


def test_causal_self_attention_ignores_future_tokens():
    torch.manual_seed(0)
    attn = SelfAttention(d_model=8, n_heads=2, causal=True)
    x = torch.randn(1, 5, 8)
    changed = x.clone()
    changed[:, 3:] += 1.0
    assert torch.allclose(attn(x)[:, :3], attn(changed)[:, :3])
    assert not torch.allclose(attn(x)[:, 3:], attn(changed)[:, 3:])


def test_non_square_images_and_other_sizes_size_themselves():
    space = spaces.Box(0, 255, shape=(48, 80, 1), dtype=np.uint8)
    for family in ("cnn", "attention"):
        backbone = make_backbone(family, space)
        assert backbone(sample_batch(space, 2)).shape == (2, backbone.out_dim)
    tiny = spaces.Box(0, 255, shape=(8, 8, 3), dtype=np.uint8)
    assert make_backbone("cnn", tiny, channels=(4, 4, 4, 4, 4))(sample_batch(tiny, 2)).shape == (2, 128)
    pixels = cardrive_space("pixels")
    assert make_backbone("mlp", pixels, widths=(4,))(sample_batch(pixels, 2)).shape == (2, 4)


def _pixels_read(options: dict) -> torch.Tensor:
    """(H, W) bool: the pixels of a 64x64 frame that reach the CNN's features (a non-zero gradient)."""
    space = spaces.Box(0, 255, (64, 64, 3), np.uint8)
    torch.manual_seed(0)
    backbone = make_backbone("cnn", space, **options)
    frame = torch.full((1, 64, 64, 3), 128.0, requires_grad=True)
    backbone(frame).sum().backward()
    return frame.grad[0].abs().sum(-1) > 0


def test_a_stem_kernel_as_wide_as_its_stride_reads_every_pixel():
    # pool none with stem_stride 4: the first convolution strides 8; a 3x3 kernel there reads 9 pixels of 64,
    # so a 1-2 pixel pedestrian can fall between its taps. A kernel of 8 at that stride reads them all.
    skipping = _pixels_read({"channels": (8, 8), "stem_stride": 4, "pool": "none"})
    assert skipping.float().mean() == pytest.approx((23 / 64) ** 2)  # 3 taps of 8 per axis (2 at the padded edge)
    for kernel in (8, 9):
        assert _pixels_read({"channels": (8, 8), "stem_stride": 4, "pool": "none", "stem_kernel": kernel}).all()
    patches = make_backbone("cnn", spaces.Box(0, 255, (64, 64, 3), np.uint8), channels=(8, 8, 8), stem_stride=2,
                            stem_kernel=4, pool="none")
    stem = patches.features[0][0]
    assert (stem.kernel_size, stem.stride, stem.padding) == ((4, 4), (4, 4), (0, 0))  # 16x16 whole patches
    assert _pixels_read({"channels": (8, 8, 8), "stem_stride": 2, "stem_kernel": 4, "pool": "none"}).all()
