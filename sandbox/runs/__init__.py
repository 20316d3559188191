"""The base every learner stands on (above the world and beside the backbones): what a run writes and reads.

checkpoints (atomic, versioned, `weights_only`), runlog (CSV, TensorBoard, learning curve), rundir (run
directories that are never lost), progress (the one progress line), validate (config field checks), evaluate
(greedy held-out evaluation), trajectories (the one trajectory file format), trust (what code a checkpoint may
make Python import), hooks (the one `Hook` and its step / update events).
"""
