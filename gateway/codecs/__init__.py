"""TensorFlow ``TensorProto`` ↔ numpy (it needs the generated protos, so it lives here; every
JSON and binary format is defined once in the :mod:`wire` package)."""
