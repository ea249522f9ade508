"""The gateway's gRPC front door: OIP v2 and TF Serving's gRPC API over the REST dataplane."""
