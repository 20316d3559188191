"""The work behind the command line, as functions (front doors, below the CLI, the bench and the viewer):

train (a training run and its run directory; a checkpoint's evaluation), drivers (one loader for every kind of
driver checkpoint), collect (trajectory files), demo, baseline (the drivers that need no learning), tables.
"""
