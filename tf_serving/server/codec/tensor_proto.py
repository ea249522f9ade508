"""``TensorProto`` <-> numpy for the gRPC API (TensorFlow's own conversion)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tf_serving.server.errors import InvalidArgument


def tensor_proto_to_array(proto: Any) -> np.ndarray:
    """``TensorProto`` -> ndarray (strings become an object array of bytes)."""
    import tensorflow as tf

    try:
        return np.asarray(tf.make_ndarray(proto))
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"Invalid TensorProto: {exc}") from None


def array_to_tensor_proto(array: np.ndarray) -> Any:
    """ndarray -> ``TensorProto``."""
    import tensorflow as tf

    return tf.make_tensor_proto(array)
