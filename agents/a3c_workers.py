"""A3C's workers on Ray: each an actor with its own envs and a copy of the actor-critic that turns the weights
it is sent into the gradient of A2C's loss on a fresh rollout; and the pool through which the learner (the
driver process, `agents.a3c.train`) hands out weights and takes the gradients as they arrive.

    pool = WorkerPool.start(config, seed)                 # config.num_workers Ray actors, one CPU each
    pool.send(index, sent, version, record=False)         # worker `index` rolls out with (weights, statistics)
    result = pool.next()                                  # the first gradient in (None: a worker died instead)
    pool.stop()

A worker that dies (its actor killed, its process or machine gone) is named on stderr and dropped; the run
goes on with the others. When none is left, `next` raises `WorkersLostError`.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import torch

from agents.a2c import rollout_loss
from agents.actor_critic import ActorCritic
from agents.envs import make_train_env, obs_to_tensor
from agents.loop import EpisodeTally, append_step
from sandbox.runs.normalize import RAW_REWARD, beneath, set_statistics, share_statistics, take_fresh_moments
from sandbox.runs.ray_cluster import WorkersLostError


class RolloutWorker:
    """One worker: `config.num_envs` envs of its own, seeded `seed`, and a model the learner's weights load into.

    Made a Ray actor by `WorkerPool.start`; a plain object works the same (no Ray needed to test it).
    """

    def __init__(self, config: Any, index: int, seed: int):
        torch.set_num_threads(1)  # one CPU per worker: its share of the cluster
        torch.manual_seed(seed)  # the actions it samples
        self.config, self.index = config, index
        self.env = make_train_env(config)  # under the normalisation wrappers the config asks for
        share_statistics(self.env)  # they keep the moments of what they see, for the learner
        self.model = ActorCritic(self.env.single_observation_space, self.env.single_action_space, config.backbone,
                                 config.backbone_options, config.share_backbone)
        self.obs, _ = self.env.reset(seed=seed)
        self.tally = EpisodeTally(np.ones(config.num_envs, bool), np.zeros(config.num_envs))

    def ready(self) -> bool:
        """True once built (the pool waits for every worker so that all of them work from the first update)."""
        return True

    def gradient(self, sent: tuple[dict[str, np.ndarray], dict[str, Any]], version: int,
                 record: bool = False) -> dict[str, Any]:
        """Load the learner's weights of `version` and its normalisation statistics (`sent`), roll the envs
        `num_steps` steps and return the gradient of A2C's loss on that rollout (one array per parameter), its
        losses, the env steps taken, the returns of the episodes that ended, the moments of the observations
        and returns the wrappers saw (the learner merges them), and with `record` the world after each step
        (for a viewer to draw)."""
        weights, stats = sent
        self.model.load_state_dict({name: torch.tensor(value) for name, value in weights.items()})
        set_statistics(self.env, stats)  # every worker normalises as the learner's statistics stand
        # rollout
        rollout: dict[str, list] = {}
        frames = []
        for _ in range(self.config.num_steps):
            obs_t = obs_to_tensor(self.obs)
            with torch.no_grad():
                dist, _ = self.model(obs_t)
                action = dist.sample()
            self.obs, reward, terminated, truncated, info = self.env.step(self.model.to_env(action))
            raw = info.get(RAW_REWARD, reward)  # the env's own reward under reward normalisation
            valid = self.tally.step(raw, terminated | truncated)  # the next-step autoreset row is no transition
            append_step(rollout, obs=obs_t, action=action, reward=reward, terminated=terminated,
                        done=terminated | truncated, valid=valid)
            if record:
                frames.append((beneath(self.env).state_dict(), raw, terminated, truncated, info))
        # gradient: A2C's loss, differentiated here, applied by the learner
        loss, metrics = rollout_loss(self.model, rollout, obs_to_tensor(self.obs), (), self.config, version + 1,
                                     agent="A3C")
        self.model.zero_grad()
        loss.backward()
        grads = [p.grad.numpy() if p.grad is not None else np.zeros(tuple(p.shape), np.float32)
                 for p in self.model.parameters()]
        returns, self.tally.finished = self.tally.finished, []
        return {"index": self.index, "version": version, "grads": grads, "metrics": metrics,
                "steps": self.config.num_envs * self.config.num_steps, "returns": returns, "frames": frames,
                "moments": take_fresh_moments(self.env)}


class WorkerPool:
    """The living workers (index -> Ray actor handle) and the gradients in flight (future -> worker index)."""

    def __init__(self, actors: dict[int, Any]):
        self.actors = actors
        self.size = len(actors)
        self.pending: dict[Any, int] = {}

    @classmethod
    def start(cls, config: Any, seed: int) -> WorkerPool:
        """`config.num_workers` actors of one CPU each; worker i's envs and actions are seeded `seed + i`."""
        import ray

        actor = ray.remote(num_cpus=1, max_restarts=0)(RolloutWorker)
        pool = cls({i: actor.remote(config, i, seed + i) for i in range(config.num_workers)})
        for index, handle in list(pool.actors.items()):  # built in parallel; one that fails to start is named
            try:
                ray.get(handle.ready.remote())
            except ray.exceptions.RayActorError as exc:
                pool._lost(index, exc)
        return pool

    def idle(self) -> list[int]:
        """The living workers with no rollout in flight, lowest index first."""
        busy = set(self.pending.values())
        return [i for i in sorted(self.actors) if i not in busy]

    def send(self, index: int, sent: Any, version: int, record: bool = False) -> None:
        """Worker `index` rolls out with `sent`, (weights, statistics): a Ray object ref, put once for every
        worker sent it."""
        self.pending[self.actors[index].gradient.remote(sent, version, record)] = index

    def next(self) -> dict[str, Any] | None:
        """The first gradient to arrive; None when what arrived is a worker's death (named on stderr).

        Raises:
            WorkersLostError: the last living worker died.
            Exception: what a worker's own computation raised (a non-finite loss: FloatingPointError).
        """
        import ray

        ready, _ = ray.wait(list(self.pending), num_returns=1)
        index = self.pending.pop(ready[0])
        try:
            return ray.get(ready[0])
        except ray.exceptions.RayActorError as exc:
            self._lost(index, exc)
            return None
        except ray.exceptions.RayTaskError as exc:  # the worker raised: the run stops with its own error
            raise exc.cause from None

    def _lost(self, index: int, exc: Exception) -> None:
        self.actors.pop(index, None)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not self.actors:
            raise WorkersLostError(f"A3C: every worker died, the last worker {index} ({reason})")
        print(f"A3C: worker {index} died ({reason}); the run goes on with {len(self.actors)} of {self.size} "
              f"workers ({', '.join(map(str, sorted(self.actors)))})", file=sys.stderr)

    def stop(self) -> None:
        """End every worker still alive (its process goes; the cluster keeps running)."""
        import ray

        for actor in self.actors.values():
            ray.kill(actor)
        self.actors, self.pending = {}, {}
