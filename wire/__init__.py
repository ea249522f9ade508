"""Tandem's wire contract: every tensor format the platform speaks, defined once.

Pure functions and plain data over numpy, importable anywhere (the gateway, the TorchServe
handler inside a ``.mar``, ``tandem``): the standard library and numpy only, with ``orjson``
used for speed when it is installed (the base install has it). No I/O, no framework.

- :mod:`wire.dtypes`   dtype names ↔ OIP v2 datatypes ↔ TensorFlow ``DataType`` numbers
- :mod:`wire.spec`     tensor specs, the TorchServe handler's model spec, input validation
- :mod:`wire.arrays`   JSON values ↔ arrays (strings, ``{"b64": ...}``), JSON text
- :mod:`wire.v1`       TF Serving REST ``:predict`` (row and columnar)
- :mod:`wire.v2`       Open Inference Protocol v2 JSON and its binary tensor extension
- :mod:`wire.endpoint` one endpoint for v1 and v2 bodies against a model spec (the handler)
- :mod:`wire.errors`   :class:`WireError`, the one error every codec raises
"""

from wire.errors import WireError

__all__ = ["WireError"]
