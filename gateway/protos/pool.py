"""The private descriptor pool of the gateway's generated protobuf modules.

The gateway's TF Serving protos keep TF Serving's package and message names (so that the
service paths and ``Any`` type URLs match), which would clash with the real
``tensorflow``/``tensorflow_serving`` modules in the default pool of a process that also
imports those (a test run, a notebook). The build step points every generated module at this
pool instead; the well-known types they import are registered here first.
"""

from __future__ import annotations

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, empty_pb2, wrappers_pb2

POOL = descriptor_pool.DescriptorPool()

for _module in (any_pb2, wrappers_pb2, empty_pb2):
    _proto = descriptor_pb2.FileDescriptorProto()
    _module.DESCRIPTOR.CopyToProto(_proto)
    POOL.Add(_proto)
