"""Build TF Serving's response protos (status, metadata) shared by REST and gRPC.

REST renders the very same messages with ``json_format`` and TF Serving's options
(proto field names, default values printed), which is how TF Serving produces its JSON.
"""

from __future__ import annotations

from typing import Any

import orjson
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2

from tf_serving.server.manager import VersionState
from tf_serving.server.servable import Servable


def status_response(states: list[VersionState]) -> Any:
    """``GetModelStatusResponse`` for the given version states."""
    response = get_model_status_pb2.GetModelStatusResponse()
    for state in states:
        entry = response.model_version_status.add()
        entry.version = state.version
        entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(state.state)
        entry.status.SetInParent()  # TF Serving always reports a status, OK included
        if state.error is not None:
            entry.status.error_code = state.error.grpc_code.value[0]
            entry.status.error_message = state.error.message
    return response


def metadata_response(servable: Servable) -> Any:
    """``GetModelMetadataResponse`` with the ``signature_def`` metadata field."""
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = servable.model_name
    response.model_spec.version.value = servable.version
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    for name, signature in servable.signatures.items():
        sig_map.signature_def[name].CopyFrom(signature.proto)
    response.metadata["signature_def"].Pack(sig_map)
    return response


def metadata_json(response: Any) -> bytes:
    """A ``GetModelMetadataResponse`` as TF Serving's REST API writes it.

    ``ToJsonString`` prints ``model_spec`` and the unpacked ``SignatureDefMap`` separately,
    so the ``metadata`` map carries no ``"@type"`` key (the gRPC ``Any`` does).
    """
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(sig_map)
    return orjson.dumps(
        {
            "model_spec": _to_dict(response.model_spec),
            "metadata": {"signature_def": _to_dict(sig_map)},
        }
    )


def _to_dict(message: Any) -> Any:
    return json_format.MessageToDict(
        message, always_print_fields_with_no_presence=True, preserving_proto_field_name=True
    )


def to_json(message: Any) -> bytes:
    """Render a response proto as TF Serving's REST API does."""
    return orjson.dumps(_to_dict(message))
