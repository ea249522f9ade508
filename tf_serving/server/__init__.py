"""Server internals: flags, config, lifecycle, codecs and the REST/gRPC front ends."""
