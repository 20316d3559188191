"""REINFORCE: Monte-Carlo policy gradient (Williams, "Simple Statistical Gradient-Following Algorithms for
Connectionist Reinforcement Learning", Machine Learning 8, 1992), with an optional learned baseline (Sutton
& Barto, Reinforcement Learning, 2nd ed., sec. 13.4), for categorical and Gaussian policies.

    play N envs; whenever an episode ends, G_t = r_t + gamma * G_{t+1} for each of its steps   # rollout
    once batch_size steps of finished episodes are in hand:
        loss = -mean((G_t - b(s_t)) * log pi(a_t|s_t)) - ent_coef * mean(H)                    # update
        b(s) = V(s) fitted to G by vf_coef * mean((G_t - V(s_t))^2) when baseline, else 0
    one gradient step, the gradient's norm clipped to max_grad_norm

Returns are whole-episode Monte-Carlo sums. An episode cut by the env's step limit counts as it is, unless
`bootstrap_truncated`: then its last return adds gamma * V(s_T) of the state where it was cut, the return the
episode would have gone on to earn (Pardo et al., "Time Limits in Reinforcement Learning", ICML 2018). A time
limit is not part of the task, and without the bootstrap a step's return falls to 0 as the limit nears, which
no V(s) can predict (on Acrobot every failing episode is cut at 500 steps); episodes that end on their own stay
pure Monte-Carlo. Steps of episodes still running wait for their episode to end; the step after an episode
(next-step autoreset) is no transition. A recurrent model replays the batch's episodes one after another as one
sequence, its state zeroed at each episode's first step.

    model, history = train(ReinforceConfig(env_id="CartPole-v1", total_timesteps=200_000))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from agents.actor_critic import ActorCritic, Memory, setup_actor_critic
from agents.envs import map_obs, obs_to_tensor
from agents.loop import start_loop
from sandbox.runs.hooks import Hook
from sandbox.runs.validate import check_non_negative, check_positive_ints, check_unit_interval


@dataclass
class ReinforceConfig:
    """Hyper-parameters, named as the field names them."""

    env_id: str = "sandbox/CarDrive-v0"
    """a gymnasium id; CarDrive runs through its native vector env"""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """arguments of the env, e.g. {"level": "normal"}"""
    backbone: str = "mlp"
    """any `sandbox.backbones.make_backbone` spec"""
    backbone_options: dict[str, Any] = field(default_factory=dict)
    share_backbone: bool = False
    """one backbone under the policy and value heads (cheaper on pixels) instead of one each"""
    ortho_init: bool = False
    """orthogonal init (gain sqrt 2) of the backbones' layers, as SB3 and CleanRL start an actor-critic"""
    log_std_init: float = 0.0
    """Box actions: the Gaussian's initial log standard deviation (SB3's `log_std_init`): 0 is a std of 1, which
    on actions in [-1, 1] drowns a policy started from a student (`init_from`); -1 (std 0.37) keeps near it"""
    init_from: str = ""
    """a student's checkpoint (dagger, bc) whose backbone and policy head the run starts from (`agents.warm_start`)"""
    num_envs: int = 32
    """envs played together"""
    batch_size: int = 4096
    """steps of finished episodes per gradient step"""
    total_timesteps: int = 500_000
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    gamma: float = 0.99
    baseline: bool = True
    """learn V(s) and subtract it from the return (lower variance, same expected gradient)"""
    normalize_returns: bool = True
    """scale each batch's (G - b) to zero mean and unit variance"""
    bootstrap_truncated: bool = False
    """an episode cut by the step limit ends on gamma * V(s_T), the value of the state it was cut in (needs
    `baseline`)"""
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    normalize_observation: bool = False
    """scale observations by their running mean and variance (Gymnasium's NormalizeObservation; vectors only)"""
    normalize_reward: bool = False
    """scale rewards by the running standard deviation of the discounted return (Gymnasium's NormalizeReward)"""
    normalize_clip: float = 0.0
    """clip the normalised observations and rewards to [-normalize_clip, normalize_clip] (SB3's VecNormalize:
    10); 0: no clip"""
    seed: int = 0

    def __post_init__(self) -> None:
        check_positive_ints(self, "num_envs", "batch_size", "total_timesteps")
        check_unit_interval(self, "gamma")
        check_non_negative(self, "normalize_clip")
        if self.bootstrap_truncated and not self.baseline:
            raise ValueError("bootstrap_truncated needs baseline: the bootstrap is the learned V(s) of the state "
                             "where the step limit cut the episode")
        if self.total_timesteps < self.batch_size:
            raise ValueError(f"total_timesteps ({self.total_timesteps}) is below batch_size ({self.batch_size}): "
                             "no update would ever happen")


def discounted_returns(rewards: np.ndarray, gamma: float, bootstrap: float = 0.0) -> np.ndarray:
    """G_t = sum_k gamma^k r_{t+k} + gamma^(T-t) * bootstrap over one episode's rewards (T,), computed
    backwards in one pass; `bootstrap` is V(s_T) where the step limit cut the episode, else 0."""
    returns = np.empty(len(rewards))
    running = bootstrap
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        returns[t] = running
    return returns


def _no_steps() -> dict[str, Any]:
    return {"obs": [], "action": [], "reward": [], "cut": False}


class _Episodes:
    """Each env's steps since its episode began; finished episodes move to the batch with their returns. With
    `bootstrap_truncated`, an episode the step limit cut waits one step more ("cut") for V of its last state."""

    def __init__(self, num_envs: int, gamma: float, bootstrap_truncated: bool = False):
        self.gamma, self.bootstrap_truncated = gamma, bootstrap_truncated
        self.running = [_no_steps() for _ in range(num_envs)]
        self.batch = {"obs": [], "action": [], "return": [], "start": []}

    def bootstrap(self, values: torch.Tensor) -> None:
        """V (N,) of this step's observations: the last states of the episodes cut at the previous step."""
        if not self.bootstrap_truncated:
            return
        for i, steps in enumerate(self.running):
            if steps["cut"]:
                self._finish(i, float(values[i]))

    def add(self, obs, action: torch.Tensor, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
            valid: np.ndarray) -> None:
        for i in np.flatnonzero(valid):
            steps = self.running[i]
            steps["obs"].append(obs[i] if not isinstance(obs, dict) else {k: v[i] for k, v in obs.items()})
            steps["action"].append(action[i])
            steps["reward"].append(float(reward[i]))
            if truncated[i] and not terminated[i] and self.bootstrap_truncated:
                steps["cut"] = True  # its last state comes as the next step's observation
            elif terminated[i] or truncated[i]:
                self._finish(i, 0.0)

    def _finish(self, i: int, bootstrap: float) -> None:
        steps = self.running[i]
        self.batch["obs"] += steps["obs"]
        self.batch["action"] += steps["action"]
        self.batch["return"] += discounted_returns(np.array(steps["reward"]), self.gamma, bootstrap).tolist()
        self.batch["start"] += [1.0] + [0.0] * (len(steps["reward"]) - 1)  # where its state is zeroed
        self.running[i] = _no_steps()

    def state_dict(self) -> dict[str, Any]:
        """The episodes still running (each env's steps so far), as tensors a checkpoint can hold."""
        return {"running": [{"obs": _stack(steps["obs"]), "action": torch.stack(steps["action"]) if steps["action"]
                             else None, "reward": list(steps["reward"]), "cut": steps["cut"]}
                            for steps in self.running]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for steps, saved in zip(self.running, state["running"], strict=True):
            count = len(saved["reward"])
            steps["reward"], steps["cut"] = list(saved["reward"]), bool(saved.get("cut", False))
            steps["action"] = list(saved["action"]) if count else []
            obs = saved["obs"]
            steps["obs"] = ([{k: v[i] for k, v in obs.items()} for i in range(count)] if isinstance(obs, dict)
                            else list(obs) if count else [])

    def take(self) -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The batch as tensors (obs, actions, returns, episode starts), emptied."""
        returns = torch.tensor(self.batch["return"], dtype=torch.float32)
        out = (_stack(self.batch["obs"]), torch.stack(self.batch["action"]), returns,
               torch.tensor(self.batch["start"], dtype=torch.float32))
        self.batch = {"obs": [], "action": [], "return": [], "start": []}
        return out


def _stack(obs: list) -> Any:
    """[obs] -> one batch (a tensor, or a dict of them); None for no steps."""
    if not obs:
        return None
    return {k: torch.stack([o[k] for o in obs]) for k in obs[0]} if isinstance(obs[0], dict) else torch.stack(obs)


def train(config: ReinforceConfig, log: Hook | None = None,
          resume: dict[str, Any] | None = None) -> tuple[ActorCritic, dict[str, list[float]]]:
    """Train a policy by REINFORCE; return it and the history of per-update metrics. `log` and `resume` as
    for A2C (`agents.a2c.train`): the hook's `state` includes the episodes still running."""
    env, model, optimizer = setup_actor_critic(config, "REINFORCE", fresh=resume is None)
    loop, obs = start_loop("reinforce", config, env, model, optimizer, resume, log)
    episodes = _Episodes(config.num_envs, config.gamma, config.bootstrap_truncated)
    memory = Memory.start(model, env.num_envs, resume)  # a recurrent model's state per env (() if feed-forward)
    if resume is not None and resume["env"] is not None:
        episodes.load_state_dict(resume["extra"]["episodes"])
    while loop.global_step < config.total_timesteps:
        # rollout
        obs_t = obs_to_tensor(obs)
        with torch.no_grad():
            dist, value, memory.state = model.step(obs_t, memory.state, memory.start)
            action = dist.sample()
        episodes.bootstrap(value)  # obs_t holds the last state of an episode cut at the previous step
        obs, reward, terminated, truncated, info = env.step(model.to_env(action))
        valid = loop.step(reward, terminated, truncated, info)
        memory.after_step(valid)
        episodes.add(obs_t, action, reward, terminated, truncated, valid)
        if len(episodes.batch["return"]) < config.batch_size:
            continue
        # update
        update = loop.update + 1
        metrics = _update(model, optimizer, *episodes.take(), config, update)
        # log (the episodic_return: the loop's tally of the episodes ended since the last update, in the env's
        # own reward under reward normalisation, as for every family)
        loop.log_update(update, metrics, lambda: {"episodes": episodes.state_dict(), **memory.payload()})
    env.close()
    return model, loop.history


def _update(model: ActorCritic, optimizer: torch.optim.Optimizer, obs, actions: torch.Tensor,
            returns: torch.Tensor, starts: torch.Tensor, config: ReinforceConfig, update: int) -> dict[str, float]:
    """One gradient step on a batch of finished episodes' steps; returns the losses."""
    if model.recurrent:  # the episodes end to end as one car's sequence: (B, ...) -> (B, 1, ...)
        obs = map_obs(obs, lambda x: x.unsqueeze(1))
        dist, values = model.sequence(obs, model.initial_state(1), starts.unsqueeze(1))
    else:
        dist, values = model(obs)
    baseline = values.detach() if config.baseline else torch.zeros_like(returns)
    weights = returns - baseline
    if config.normalize_returns and len(weights) > 1:
        weights = (weights - weights.mean()) / (weights.std() + 1e-8)
    policy_loss = -(weights * model.log_prob(dist, actions)).mean()
    value_loss = ((returns - values) ** 2).mean() if config.baseline else torch.zeros(())
    entropy = model.entropy(dist).mean()
    loss = policy_loss + config.vf_coef * value_loss - config.ent_coef * entropy
    if not torch.isfinite(loss):
        raise FloatingPointError(f"REINFORCE: the loss became {loss.item()} at update {update}; lower "
                                 f"learning_rate (now {config.learning_rate})")
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
    optimizer.step()
    return {"policy_loss": policy_loss.item(), "value_loss": value_loss.item(), "entropy": entropy.item()}
