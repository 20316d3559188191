"""The driving sandbox: shared core (backbones, components) and the front door (`sandbox` CLI)."""

__version__ = "0.1.0"
