"""The same task, handwritten digits (scikit-learn's bundled 8x8 set), in Keras and PyTorch.

Each `train_*` function is a manifest `source` entry point: it trains in a few seconds on two
CPU cores and returns `(model, {"accuracy": held_out_accuracy})`.
"""
