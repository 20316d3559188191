"""GAIL: generative adversarial imitation learning (Ho & Ermon, "Generative Adversarial Imitation Learning",
NIPS 2016). A discriminator tells the demonstrator's (state, action) pairs from the agent's; its output is
the reward A2C learns from. The env's own reward is never seen: the agent imitates recorded driving.

    D_w(s, a) = sigmoid(f_w(backbone(s), onehot(a)))          the probability that (s, a) is a demonstration
    discriminator:  max_w  E_demo[log D_w(s, a)] + E_agent[log(1 - D_w(s, a))]       (eq. 17, D flipped)
    reward:         r(s, a) = -log(1 - D_w(s, a)) = softplus(f_w(s, a))
    for each A2C update: roll the envs with r in place of the env's reward, update the policy (A2C), then
        disc_steps Adam steps of the discriminator on the rollout's pairs against as many demonstration pairs

Two standard additions make it work from few demonstrations:
- the policy starts as behaviour cloning on the same demonstrations (`warm_start`; BC's network is A2C's actor,
  epochs chosen on held-out demonstrations), so GAIL corrects BC's compounding errors instead of starting blind;
- a lap's end is an episode boundary of the env, not of the task: the wrapper hands it to A2C as a truncation,
  which bootstraps (Pardo et al., "Time Limits in Reinforcement Learning", ICML 2018). With r > 0 a step,
  a termination forfeits the future's reward: right for a crash, wrong for the lap the demonstrator drove.

The seam into the agents is a vector-env wrapper (`DiscriminatorReward`) given to `agents.a2c.train`. An epoch
of `fit` is `steps_per_epoch` env steps of A2C; the A2C state rides in the checkpoint, so fitting resumes.
After every A2C update the policy's weights, and after every discriminator step its loss and weights, are
checked: NaN or inf stops the fit (`DivergenceError`, a FloatingPointError) before they are used or saved.

    gail = GAIL({"obs": (11,), "action": 5}, GAILConfig(level="easy")); gail.fit(demonstrations, epochs=3)
    gail.reward(obs, actions); gail.act(obs)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from gymnasium.vector import VectorWrapper
from torch import nn

from sandbox.backbones import make_backbone
from sandbox.components.base import (
    Dataset,
    EpochHook,
    check_finite,
    checked_step,
    load_component,
    observation_space,
    overflow_is_divergence,
    save_component,
)
from sandbox.components.bc import BehaviourCloning


@dataclass
class GAILConfig:
    """Hyper-parameters of the discriminator and of the A2C it drives."""

    obs: str = "rays"
    """the observation key the discriminator and the policy read"""
    backbone: str = "mlp"
    backbone_options: dict[str, Any] = field(default_factory=lambda: {"widths": [64, 64]})
    learning_rate: float = 1e-3
    """the discriminator's Adam step size"""
    disc_steps: int = 4
    """discriminator steps after each A2C update"""
    batch_size: int = 512
    """pairs of each kind per discriminator step (at most the rollout's)"""
    level: str = "easy"
    """the CarDrive level the agent drives (`sandbox fit` takes it from the demonstrations)"""
    continuous: bool = False
    steps_per_epoch: int = 50_000
    """env steps of A2C per epoch of `fit`"""
    num_envs: int = 32
    num_steps: int = 16
    a2c_learning_rate: float = 7e-4
    ent_coef: float = 0.01
    gamma: float = 0.99
    max_episode_steps: int = 1000
    warm_start: bool = True
    """start A2C's actor from behaviour cloning on the demonstrations (the first `fit` trains it)"""
    lap_bootstraps: bool = True
    """a completed lap reaches A2C as a truncation (bootstrapped), a crash as a termination"""
    seed: int = 0


class DiscriminatorReward(VectorWrapper):
    """The env's reward replaced by the discriminator's; the (state, action) pairs of real transitions kept.

    The step after an episode ends is the next-step autoreset (no transition): its pair is not kept.
    """

    def __init__(self, env: Any, gail: GAIL) -> None:
        super().__init__(env)
        self.gail, self.pairs = gail, []
        self._obs, self._valid = None, np.ones(env.num_envs, bool)
        self._env_return, self.env_returns = np.zeros(env.num_envs), []

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self._obs, self._valid = obs, np.ones(self.num_envs, bool)
        return obs, info

    def step(self, actions: np.ndarray):
        obs, env_reward, terminated, truncated, info = self.env.step(actions)
        if self.gail.config.lap_bootstraps:  # the lap's end is no end of driving: bootstrap it
            lap = terminated & np.asarray(info["lap_completed"], bool)
            terminated, truncated = terminated & ~lap, truncated | lap
        reward = self.gail.reward(self._obs, actions)
        self.pairs.append((self._obs[self._valid], np.asarray(actions)[self._valid]))
        done = terminated | truncated
        self._env_return += np.where(self._valid, env_reward, 0.0)
        self.env_returns.extend(self._env_return[done & self._valid].tolist())
        self._env_return[done] = 0.0
        self._obs, self._valid = obs, ~done
        return obs, reward, terminated, truncated, info

    def state_dict(self) -> dict:  # so that A2C's checkpoint resumes the envs exactly
        return {"env": self.env.state_dict(), "valid": self._valid.copy(), "env_return": self._env_return.copy()}

    def load_state_dict(self, state: dict) -> None:
        self.env.load_state_dict(state["env"])
        self._valid, self._env_return = np.asarray(state["valid"], bool), np.asarray(state["env_return"], float)
        self._obs = self.env.observe()

    def observe(self):
        return self.env.observe()


class GAIL(nn.Module):
    """The discriminator D(s, a), and the A2C policy trained on its reward.

    Args:
        shapes: {"obs": observation shape, "action": 5 (Discrete(5)) or (2,)}.
        config: a `GAILConfig`.
    """

    kind = "gail"
    config_class = GAILConfig

    def __init__(self, shapes: dict[str, Any], config: GAILConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or GAILConfig()
        self.shapes = {"obs": tuple(shapes["obs"]), "action": shapes["action"]}
        self.discrete = isinstance(shapes["action"], int)
        self.n_actions = shapes["action"] if self.discrete else int(np.prod(shapes["action"]))
        torch.manual_seed(config.seed)
        options = {k: tuple(v) if isinstance(v, list) else v for k, v in config.backbone_options.items()}
        self.backbone = make_backbone(config.backbone, observation_space(config.obs, self.shapes["obs"]), **options)
        self.head = nn.Sequential(nn.Linear(self.backbone.out_dim + self.n_actions, 64), nn.Tanh(), nn.Linear(64, 1))
        self.optimizers = {"discriminator": torch.optim.Adam(self.parameters(), lr=config.learning_rate)}
        self.a2c_state: dict[str, Any] | None = None  # A2C's checkpoint payload, once fitted
        object.__setattr__(self, "policy", None)  # A2C's ActorCritic: kept beside, not inside, the state_dict
        self.demos: Dataset | None = None

    dataset = staticmethod(BehaviourCloning.dataset)
    shapes_of = staticmethod(BehaviourCloning.shapes_of)

    def logits(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """f_w(s, a), (B,): D(s, a) = sigmoid of it."""
        a = nn.functional.one_hot(action.long(), self.n_actions).float() if self.discrete else action.float()
        return self.head(torch.cat([self.backbone(obs), a], dim=1)).squeeze(1)  # (B, features + actions) -> (B,)

    def reward(self, obs: Any, action: Any) -> np.ndarray:
        """r(s, a) = -log(1 - D(s, a)) = softplus(f(s, a)) for a batch: (B,) float32."""
        with torch.no_grad():
            logits = self.logits(torch.as_tensor(np.asarray(obs)), torch.as_tensor(np.asarray(action)))
        return nn.functional.softplus(logits).numpy().astype(np.float32)

    def discriminator_loss(self, batch: Dataset) -> torch.Tensor:
        """-(E_demo[log D] + E_agent[log(1 - D)]): the binary cross-entropy, demonstrations labelled 1."""
        demo, agent = self.logits(batch["obs"], batch["action"]), self.logits(batch["agent_obs"], batch["agent_action"])
        bce = nn.functional.binary_cross_entropy_with_logits
        return bce(demo, torch.ones_like(demo)) + bce(agent, torch.zeros_like(agent))

    def fit_step(self, batch: Dataset) -> dict[str, float]:
        """One Adam step of the discriminator on {"obs", "action"} (demonstrations), {"agent_obs", "agent_action"}."""
        loss = self.discriminator_loss(batch)
        self.optimizers["discriminator"].zero_grad()
        loss.backward()
        self.optimizers["discriminator"].step()
        return {"discriminator_loss": loss.item()}

    def a2c_config(self, total_timesteps: int) -> Any:
        from agents.a2c import A2CConfig  # the agents sit above the components; imported when GAIL trains

        c = self.config
        env_kwargs = {"level": c.level, "obs": c.obs, "continuous": c.continuous,
                      "max_episode_steps": c.max_episode_steps}
        return A2CConfig(env_kwargs=env_kwargs, backbone=c.backbone, backbone_options=dict(c.backbone_options),
                         num_envs=c.num_envs, num_steps=c.num_steps, total_timesteps=total_timesteps,
                         learning_rate=c.a2c_learning_rate, ent_coef=c.ent_coef, gamma=c.gamma, seed=c.seed)

    def fit(self, dataset: Dataset, epochs: int = 1, hook: EpochHook | None = None,
            seed: int | None = None) -> dict[str, list[float]]:
        """`epochs` x `steps_per_epoch` env steps of A2C on the discriminator's reward, against `dataset`'s
        demonstrations ({"obs", "action"}); continues from the last fit (or a loaded checkpoint)."""
        from agents.a2c import train

        self.demos, history = dataset, {}
        if self.a2c_state is None and self.config.warm_start:
            self.a2c_state = self.warm_start_state(dataset)
        generator = torch.Generator().manual_seed(self.config.seed if seed is None else seed)
        for epoch in range(epochs):
            wrapper, metrics, last = [], [], {}
            on_update = functools.partial(self._on_update, wrapper, metrics, last, generator)
            done = int(self.a2c_state["global_step"]) if self.a2c_state is not None else 0
            config = self.a2c_config(done + self.config.steps_per_epoch)
            wrap = functools.partial(self._wrap, wrapper)
            with overflow_is_divergence(self, f"epoch {epoch + 1}", rate="a2c_learning_rate"):  # A2C's own step
                policy, _ = train(config, log=on_update, resume=self.a2c_state, env_wrapper=wrap)
            object.__setattr__(self, "policy", policy)
            self.a2c_state = last["state"]() if "state" in last else self.a2c_state
            returns = wrapper[0].env_returns if wrapper else []
            row = {"discriminator_loss": float(np.mean(metrics)) if metrics else float("nan"),
                   "env_return": float(np.mean(returns)) if returns else float("nan"),
                   "global_step": float(self.a2c_state["global_step"]) if self.a2c_state else 0.0}
            for key, value in row.items():
                history.setdefault(key, []).append(value)
            if hook is not None:
                hook({"epoch": epoch + 1, **row})
        self.eval()
        return history

    def warm_start_state(self, dataset: Dataset) -> dict[str, Any]:
        """A2C's starting payload (update 0) whose actor is behaviour cloning fitted on `dataset`."""
        from agents import FAMILIES
        from agents.envs import make_vec_env
        from agents.loop import loop_state
        from agents.optim import make_optimizer
        from sandbox.components.bc import BCConfig

        c = self.config
        bc = BehaviourCloning(self.shapes, BCConfig(obs=c.obs, backbone=c.backbone,
                                                    backbone_options=dict(c.backbone_options), seed=c.seed))
        bc.fit_early_stopping(dataset)
        config = self.a2c_config(1)
        env = make_vec_env(config.env_id, 1, **config.env_kwargs)
        model = FAMILIES["a2c"].make_model(config, env.single_observation_space, env.single_action_space)
        env.close()
        actor_from_bc(bc, model)
        optimizer = make_optimizer(config.optimizer, model.parameters(), config.learning_rate)
        history = {key: [] for key in ("global_step", "episodic_return", "policy_loss", "value_loss", "entropy",
                                       "sps")}
        n = c.num_envs  # env None: A2C resets the envs with its seed, as a fresh run does
        return loop_state("a2c", config, None, model, optimizer, 0, 0, np.ones(n, bool), np.zeros(n), history)

    def _wrap(self, wrapper: list, env: Any) -> DiscriminatorReward:
        """A2C's env wrapped, and kept in `wrapper` for the hook to read its pairs."""
        wrapper.append(DiscriminatorReward(env, self))
        return wrapper[-1]

    def _on_update(self, wrapper: list, metrics: list, last: dict, generator: torch.Generator,
                   event: dict[str, Any]) -> None:
        """A2C's hook: after each policy update, one discriminator step on the rollout's pairs."""
        if event["kind"] != "update":
            return
        where = f"A2C update {event['update']}"
        # before the next rollout uses them, and before a checkpoint could keep them: NaN weights stop the fit here
        check_finite(self, {}, where, module=event["model"], whose="A2C policy's ", rate="a2c_learning_rate")
        last["state"] = event["state"]
        agent_obs = torch.as_tensor(np.concatenate([o for o, _ in wrapper[0].pairs]))
        agent_action = torch.as_tensor(np.concatenate([a for _, a in wrapper[0].pairs]))
        wrapper[0].pairs.clear()
        n = min(self.config.batch_size, len(agent_obs))
        self.train()
        for _ in range(self.config.disc_steps):
            pick_agent = torch.randperm(len(agent_obs), generator=generator)[:n]
            pick_demo = torch.randint(len(self.demos["obs"]), (n,), generator=generator)
            batch = {"obs": self.demos["obs"][pick_demo], "action": self.demos["action"][pick_demo],
                     "agent_obs": agent_obs[pick_agent], "agent_action": agent_action[pick_agent]}
            step = checked_step(self, batch, where, "discriminator's ")  # NaN in D: NaN rewards for A2C
            metrics.append(step["discriminator_loss"])

    def act(self, obs: Any, deterministic: bool = True) -> np.ndarray:
        """The A2C policy's env-ready actions for a batch of observations."""
        if self.policy is None:
            raise ValueError("this GAIL component has no policy yet: fit it first")
        self.policy.eval()
        return self.policy.act(torch.as_tensor(np.asarray(obs)), deterministic=deterministic)

    def save(self, path: Any, **extra: Any) -> Any:
        """The discriminator, and A2C's state (its policy and where its loop stood)."""
        return save_component(self, path, a2c=self.a2c_state, **extra)

    def restore(self, payload: dict[str, Any]) -> None:
        """Called by `load_component`: the A2C state and its policy."""
        self.a2c_state = payload.get("a2c")
        if self.a2c_state is not None:
            from agents import FAMILIES
            from agents.envs import make_vec_env

            config = self.a2c_config(int(self.a2c_state["global_step"]))
            env = make_vec_env(config.env_id, 1, **config.env_kwargs)
            policy = FAMILIES["a2c"].make_model(config, env.single_observation_space, env.single_action_space)
            env.close()
            object.__setattr__(self, "policy", policy)
            self.policy.load_state_dict(self.a2c_state["model"])

    load = staticmethod(load_component)



def actor_from_bc(bc: BehaviourCloning, actor: nn.Module) -> None:
    """Copy behaviour cloning's MLP and head into an actor-critic's actor (`backbone`, `pi`).

    The two networks scale their input differently (BC: the file's [-1, 1] box, the identity; the actor: the
    env's own bounds), so the first layer absorbs the difference: W'(s x + t) + b' = W(s0 x + t0) + b for
    W' = W s0 / s and b' = b + W t0 - W' t. The critic is left as it is.
    """
    if bc.config.backbone != "mlp" or not bc.discrete:
        raise ValueError("GAIL's warm start copies an mlp behaviour-cloning policy over Discrete(5) actions; "
                         "set warm_start=False for other backbones or continuous actions")
    actor.backbone.trunk.load_state_dict(bc.backbone.trunk.state_dict())
    actor.pi.load_state_dict(bc.head.state_dict())
    first = actor.backbone.trunk[0]  # nn.Linear, (width, n_obs)
    s0, t0 = bc.backbone.scale.scale, bc.backbone.scale.shift
    s, t = actor.backbone.scale.scale, actor.backbone.scale.shift
    with torch.no_grad():
        weight, bias = first.weight.clone(), first.bias.clone()
        first.weight.copy_(weight * (s0 / s))
        first.bias.copy_(bias + weight @ t0 - first.weight @ t)
