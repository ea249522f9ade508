"""Kubernetes deploy files, derived from the manifest.

    render.py    the kustomize tree (k8s/base, components, overlays) from models.yaml
    objects.py   the building blocks of its objects (Deployments, Services, volumes), shared
                 with each backend kind's builder in `tandem.kinds`
    kubectl.py   `kubectl kustomize` and `kubectl apply`, with timeouts
    kserve.py    one KServe InferenceService per model, plus the gateway in front
    rollout.py   the three-phase rollout of a new model version (`tandem rollout --k8s`)
    storage.py   fetch/push the model repository from/to object storage (fsspec); it is also
                 the model-fetch initContainer's entry point, so it imports only fsspec

Nothing here is imported at package import time: the initContainer image carries
`tandem/k8s/storage.py` and fsspec alone.
"""
