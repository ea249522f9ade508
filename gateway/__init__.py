"""Tandem gateway: one fast, safe API (TF Serving REST v1 + OIP v2) over TF Serving and
TorchServe. Entry point: ``python -m gateway``; factory: :func:`gateway.app.create_app`."""

__version__ = "0.1.0"
