"""TF Serving config protos that the tensorflow-serving-api wheel does not ship.

``MonitoringConfig`` and ``BatchingParameters`` are part of TF Serving's command line
contract (``--monitoring_config_file``, ``--batching_parameters_file``) but the pip package
only carries the API protos. If a future wheel ships them we use the real modules;
otherwise we declare wire- and text-format-identical messages (same package, names and
field numbers as ``monitoring_config.proto`` / ``session_bundle_config.proto``) in a
private descriptor pool so nothing can clash with the global one.
"""

from __future__ import annotations

import importlib
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2
from google.protobuf.message import Message

_PACKAGE = "tensorflow.serving"
_F = descriptor_pb2.FieldDescriptorProto


def _field(
    name: str, number: int, kind: int, type_name: str = "", repeated: bool = False
) -> descriptor_pb2.FieldDescriptorProto:
    label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    field = _F(name=name, number=number, type=kind, label=label)  # type: ignore[arg-type]
    if type_name:
        field.type_name = type_name
    return field


def _build_pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)

    monitoring = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/config/monitoring_config.proto",
        package=_PACKAGE,
        syntax="proto3",
    )
    prom = monitoring.message_type.add(name="PrometheusConfig")
    prom.field.extend([_field("enable", 1, _F.TYPE_BOOL), _field("path", 2, _F.TYPE_STRING)])
    mon = monitoring.message_type.add(name="MonitoringConfig")
    mon.field.append(
        _field("prometheus_config", 1, _F.TYPE_MESSAGE, f".{_PACKAGE}.PrometheusConfig")
    )
    pool.Add(monitoring)

    batching = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/servables/tensorflow/session_bundle_config.proto",
        package=_PACKAGE,
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    params = batching.message_type.add(name="BatchingParameters")
    i64, s, b = (
        ".google.protobuf.Int64Value",
        ".google.protobuf.StringValue",
        ".google.protobuf.BoolValue",
    )
    params.field.extend(
        [
            _field("max_batch_size", 1, _F.TYPE_MESSAGE, i64),
            _field("batch_timeout_micros", 2, _F.TYPE_MESSAGE, i64),
            _field("max_enqueued_batches", 3, _F.TYPE_MESSAGE, i64),
            _field("num_batch_threads", 4, _F.TYPE_MESSAGE, i64),
            _field("thread_pool_name", 5, _F.TYPE_MESSAGE, s),
            _field("allowed_batch_sizes", 6, _F.TYPE_INT64, repeated=True),
            _field("pad_variable_length_inputs", 7, _F.TYPE_BOOL),
            _field("enable_large_batch_splitting", 8, _F.TYPE_MESSAGE, b),
            _field("max_execution_batch_size", 9, _F.TYPE_MESSAGE, i64),
        ]
    )
    pool.Add(batching)
    return pool


def _message_class(module: str, name: str) -> type[Message]:
    try:
        return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]
    except ImportError:
        descriptor = _POOL.FindMessageTypeByName(f"{_PACKAGE}.{name}")
        return message_factory.GetMessageClass(descriptor)


_POOL = _build_pool()

MonitoringConfig: Any = _message_class(
    "tensorflow_serving.config.monitoring_config_pb2", "MonitoringConfig"
)
BatchingParameters: Any = _message_class(
    "tensorflow_serving.servables.tensorflow.session_bundle_config_pb2", "BatchingParameters"
)
