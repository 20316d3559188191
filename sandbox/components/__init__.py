"""Trainable components: the field's generative and sequence models, trained on what the sandbox collects
and plugged back into the learners.

    autoencoder.py   plain, convolutional and variational autoencoders on frames (`encode`, `decode`, `sample`)
    latent.py        a trained encoder as the "latent" backbone (agents and populations drive from the code)
    world_models.py  Ha & Schmidhuber's recipe: a VAE's code (V), an MDN-RNN's memory (M) and a small controller
                     (C) evolved with CMA-ES
    mdn_rnn.py       World Models' M: an LSTM over (z, a) with a Gaussian mixture over the next z (`step`, `predict`)
    gan.py           a DCGAN on frames (`sample`)
    bc.py            behaviour cloning on demonstrations (`act`)
    gail.py          adversarial imitation: a discriminator's reward that A2C learns from (`reward`)
    transformer.py   the Decision Transformer over (return-to-go, state, action) tokens (`predict`)
    driving.py       trained policies (BC, GAIL, Decision Transformer) behind one `act`: `load_driving_component`

All share one interface (base.py): built from shapes and a config dataclass, `fit(dataset) -> history`,
`save` / `load_component`. `sandbox collect` writes their data, `sandbox fit` trains them into a run directory,
`sandbox bench components` measures them.

`import sandbox.components.latent` registers the "latent" backbone; the spec "sandbox.components.latent:LatentBackbone"
works without it (and an entry point `latent` in the `sandbox.backbones` group would make the name global).
"""

from sandbox.components.base import COMPONENTS, Component, fit_epochs, load_component, save_component

__all__ = ["COMPONENTS", "Component", "fit_epochs", "load_component", "save_component"]
