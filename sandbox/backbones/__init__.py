"""Backbones: every learner reads observations through one of these `nn.Module`s.

    from sandbox.backbones import make_backbone
    backbone = make_backbone("mlp", env.observation_space, widths=(64, 64))
    features = backbone(obs)            # (B, *obs_shape) -> (B, backbone.out_dim)

Families: "mlp" (`MLPConfig`), "cnn" (`CNNConfig`), "attention" (`AttentionConfig`), "table"
(`TableConfig`, a one-hot code of a discretised observation: tabular learning), and the recurrent "lstm" and
"gru" (`RecurrentConfig`), which carry a state: `features, state = backbone(obs, state, episode_start)`, with
`backbone.initial_state(B)` and `is_recurrent(backbone)` (see recurrent.py). A backbone of your own
plugs in by "package.module:Class", by `register_backbone`, or by the entry-point group `sandbox.backbones`
(see registry.py). `population.StackedMLP` evaluates P MLPs with different weights in one call (evolution).
"""

from sandbox.backbones.activations import ACTIVATIONS, ZeroGradientWarning, make_activation
from sandbox.backbones.attention import (
    AttentionBackbone,
    AttentionConfig,
    Block,
    FeedForward,
    SelfAttention,
    TransformerEncoder,
)
from sandbox.backbones.cnn import CNNBackbone, CNNConfig, build_cnn
from sandbox.backbones.inputs import DictBackbone
from sandbox.backbones.mlp import MLPBackbone, MLPConfig, build_mlp
from sandbox.backbones.population import StackedMLP, flat_parameters, stack_flat, stack_modules
from sandbox.backbones.recurrent import (
    RecurrentBackbone,
    RecurrentConfig,
    build_gru,
    build_lstm,
    is_recurrent,
)
from sandbox.backbones.registry import (
    ENTRY_POINT_GROUP,
    BackboneError,
    available_backbones,
    make_backbone,
    register_backbone,
    resolve_backbone,
)
from sandbox.backbones.table import TableBackbone, TableConfig

register_backbone("mlp", build_mlp, replace=True)
register_backbone("cnn", build_cnn, replace=True)
register_backbone("attention", AttentionBackbone, replace=True)
register_backbone("table", TableBackbone, replace=True)
register_backbone("lstm", build_lstm, replace=True)
register_backbone("gru", build_gru, replace=True)

__all__ = [
    "ACTIVATIONS",
    "ENTRY_POINT_GROUP",
    "AttentionBackbone",
    "AttentionConfig",
    "BackboneError",
    "Block",
    "CNNBackbone",
    "CNNConfig",
    "DictBackbone",
    "FeedForward",
    "MLPBackbone",
    "MLPConfig",
    "RecurrentBackbone",
    "RecurrentConfig",
    "SelfAttention",
    "StackedMLP",
    "TableBackbone",
    "TableConfig",
    "TransformerEncoder",
    "ZeroGradientWarning",
    "available_backbones",
    "flat_parameters",
    "is_recurrent",
    "make_activation",
    "make_backbone",
    "register_backbone",
    "resolve_backbone",
    "stack_flat",
    "stack_modules",
]
