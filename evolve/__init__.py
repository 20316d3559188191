"""Evolution: DEAP populations over the shared backbones, evaluated as one batch (later issues)."""
