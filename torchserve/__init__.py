"""Tandem's generic TorchServe handler and its pure codecs (shipped inside every .mar)."""
