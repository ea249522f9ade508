"""Tandem: serve TensorFlow and PyTorch models behind one API."""

__version__ = "0.1.0"
