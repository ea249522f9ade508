"""Tandem's TensorFlow-Serving-compatible model server (not TensorFlow Serving itself).

The server speaks TF Serving's documented REST and gRPC APIs on top of the TensorFlow
runtime; see :mod:`tf_serving.server.main` for the command line.
"""

__version__ = "0.1.0"

SERVER_BANNER = f"Tandem's TF-Serving-compatible server (not TensorFlow Serving) v{__version__}"
