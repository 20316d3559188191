"""An auxiliary task for a CarDrive learner: predict each state's privileged rays from the policy's features.

    head = rays_head(model, core, optimizer)     # features -> rays, a Linear trained by the learner's optimizer
    loss = rays_loss(head, features, core_rays)  # ||W h(s) - r(s)||^2 / dim r, averaged over the batch

r(s) is what a rays driver reads (`core.rays()`: the distances to the road's edge, speed and heading, and on
normal and hard the pedestrian and traffic channels), read from the world whatever the learner observes. A
pixels learner's CNN gets ~150 numbers a frame saying where the kerb, the pedestrians and its own speed are, on
top of the one action or advantage the learner's own loss gives it: an auxiliary task as UNREAL's (Jaderberg et
al., "Reinforcement Learning with Unsupervised Auxiliary Tasks", ICLR 2017), with privileged targets as CILRS
predicts the car's speed from its camera (Codevilla et al., ICCV 2019). The head is used in training only; the
driver that is saved and driven is the plain actor-critic.

DAgger (`aux_coef`) and PPO (`aux_coef`) use it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def rays_head(model: Any, core: Any, optimizer: torch.optim.Optimizer) -> nn.Linear:
    """A head from `model`'s policy features to `core`'s rays, its parameters added to `optimizer` (as a group
    of their own: make it before the optimizer's saved state is loaded, so that state has a place for them)."""
    head = nn.Linear(model.pi.in_features, core.config.rays_size)
    optimizer.add_param_group({"params": list(head.parameters())})
    return head


def rays_loss(head: nn.Linear, features: torch.Tensor, rays: torch.Tensor) -> torch.Tensor:
    """The mean over the batch and the rays of the squared error of the head's prediction: features (B, F),
    rays (B, R)."""
    return ((head(features) - rays) ** 2).mean()


def cardrive_core(env: Any, agent: str) -> Any:
    """The world under a (possibly wrapped) CarDrive vector env, whose rays are the auxiliary task's targets.

    Raises:
        ValueError: the env is not CarDrive (it has no privileged rays to predict).
    """
    core = getattr(env.unwrapped, "core", None)
    if core is None or not hasattr(core, "rays"):
        raise ValueError(f"{agent}: aux_coef > 0 predicts CarDrive's privileged rays, and this env has none; "
                         "set aux_coef=0 off CarDrive")
    return core
