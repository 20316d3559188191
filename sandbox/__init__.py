"""The driving sandbox: shared core (backbones, components) and the front door (`sandbox` CLI)."""

import os

# pygame prints a "Hello from the pygame community" banner on its first import unless this variable is set (to
# anything); every entry point (the console script, `python -m sandbox`, the library) imports this package before
# pygame, so setting it here keeps the banner out of every command's output.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

__version__ = "0.1.0"
