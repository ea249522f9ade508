"""Every wire shape of the gateway (v1 TF Serving REST, v2 OIP, ops). The inference hot path
does not build these models (it uses the pure codecs); they define the contract, drive the
OpenAPI document and build the non-hot-path responses."""
