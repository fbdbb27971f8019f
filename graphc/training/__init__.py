"""Training: the whole train step compiled to one standard ONNX graph, and the loop that runs it.

config.py (the spec's training: section), losses.py, optimizers.py, modes.py (dropout / batch
norm in training mode), ops.py (dropout masks), step.py (the train-step graph), compile.py
(`graphc compile --train`), data.py, metrics.py, checkpoint.py, loop.py (the trainer),
gan.py (alternating training); `graphc train` is graphc/commands/train.py. See docs/training.md.
"""
