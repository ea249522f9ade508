"""Container healthchecks: each means "every model answers", read from the generated configs.

TF Serving's is `tf_serving.sh` (its official image has neither Python nor curl); TorchServe's
is the one readiness rule of `tandem.probes.torchserve_ready`, which its image copies.
"""
