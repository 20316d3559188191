"""Evolution: DEAP populations of drivers over the shared backbones, a whole population evaluated as one batch.

    from evolve import run_evolution
    run_evolution({"strategy": "ga", "population": 256, "generations": 30}, "runs/ga-0")

- `genome`: a driver (backbone + policy head) as a flat vector; architecture genes for `arch`.
- `evaluate`: every individual's cars in one `CarDriveVectorEnv`, every network in one batched forward.
- `distributed`: DEAP's `toolbox.map` seam, batched: here, in local processes, or on a Ray cluster.
- `strategies`: GA (eaSimple / eaMuPlusLambda), CMA-ES, architecture evolution, one file each, and the
  `STRATEGIES` registry (`register_strategy` adds one).
- `run`: the generation loop with its run directory, checkpoints and `--resume`.
"""

from evolve.checkpoint import load_evolved_driver
from evolve.config import EvolveConfig, make_config
from evolve.run import resume_evolution, run_evolution

__all__ = ["EvolveConfig", "load_evolved_driver", "make_config", "resume_evolution", "run_evolution"]
