"""TF Serving's REST API (``/v1/models/...``) on aiohttp.

Handlers only parse HTTP and JSON, call the :class:`DataPlane` and render JSON; every
:class:`ServingError` becomes ``{"error": message}`` with its HTTP status in one
middleware, and anything else is logged and answered 500. Routes follow
https://www.tensorflow.org/tfx/serving/api_rest.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from tf_serving.server import codec, wire
from tf_serving.server.dataplane import DataPlane
from tf_serving.server.errors import InvalidArgument, NotFound, ServingError
from tf_serving.server.manager import ModelRef

log = logging.getLogger(__name__)

_JSON = "application/json"
# /v1/models/{name}[/versions/{v}|/labels/{l}][/metadata|:verb]
_PATH = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
    r"(?:(?P<metadata>/metadata)|:(?P<verb>[A-Za-z]+))?/?$"
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type=_JSON)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ServingError as exc:
        return _json(codec.format_error(exc.message), int(exc.http_status))
    except web.HTTPException as exc:
        if exc.status >= 400:
            return _json(codec.format_error(exc.reason), exc.status)
        raise
    except Exception:
        log.exception("Internal error serving %s %s", request.method, request.path)
        return _json(codec.format_error("Internal server error"), 500)


def _parse_ref(request: web.Request) -> tuple[ModelRef, str | None, bool]:
    match = _PATH.match(request.path)
    if match is None:
        raise NotFound(f"Malformed request: {request.method} {request.path}")
    version = None
    if match["version"] is not None:
        if not match["version"].isdigit():
            raise InvalidArgument(f"Failed to convert version: {match['version']} to numeric.")
        version = int(match["version"])
    ref = ModelRef(name=match["name"], version=version, label=match["label"])
    return ref, match["verb"], match["metadata"] is not None


class RestApi:
    """The aiohttp handlers; one instance per server."""

    def __init__(self, dataplane: DataPlane) -> None:
        self.dataplane = dataplane
        self.metrics = dataplane.metrics

    async def get(self, request: web.Request) -> web.Response:
        """Model status or metadata."""
        ref, verb, metadata = _parse_ref(request)
        if verb is not None:
            raise InvalidArgument(f"Malformed request: GET {request.path} (verbs need POST)")
        if metadata:
            with self.metrics.observe(ref.name, "GetModelMetadata", "REST"):
                async with self.dataplane.servable(ref) as servable:
                    return _json(wire.to_json(wire.metadata_response(servable)))
        with self.metrics.observe(ref.name, "GetModelStatus", "REST"):
            states = self.dataplane.manager.status(ref)
            return _json(wire.to_json(wire.status_response(states)))

    async def post(self, request: web.Request) -> web.Response:
        """``:predict``, ``:classify`` and ``:regress``."""
        ref, verb, metadata = _parse_ref(request)
        if metadata or verb not in ("predict", "classify", "regress"):
            raise InvalidArgument(
                f"Malformed request: POST {request.path} (expected :predict, :classify or :regress)"
            )
        api = {"predict": "Predict", "classify": "Classify", "regress": "Regress"}[verb]
        with self.metrics.observe(ref.name, api, "REST"):
            doc = codec.parse_json(await request.read())
            signature_name = codec.signature_name_of(doc)
            async with self.dataplane.servable(ref) as servable:
                signature = servable.signature(signature_name)
                if verb == "predict":
                    inputs, fmt = codec.decode_predict_request(doc, signature.inputs)
                    codec.check_shapes(inputs, signature.inputs)
                    outputs = await self.dataplane.predict(servable, signature, inputs)
                    return _json(codec.encode_predict_response(outputs, fmt))
                examples = codec.decode_examples(doc)
                if verb == "classify":
                    rows = await self.dataplane.classify(servable, signature, examples)
                    return _json(codec.encode_classification(rows))
                values = await self.dataplane.regress(servable, signature, examples)
                return _json(codec.encode_regression(values))


def create_app(
    dataplane: DataPlane, metrics_path: str | None = None, client_max_size: int = 256 << 20
) -> web.Application:
    """The REST application; ``metrics_path`` serves Prometheus text when set."""
    api = RestApi(dataplane)
    app = web.Application(middlewares=[_errors], client_max_size=client_max_size)
    if metrics_path:

        async def metrics(_: web.Request) -> web.Response:
            return web.Response(
                body=dataplane.metrics.render(),
                content_type="text/plain",
                charset="utf-8",
                headers={"X-Content-Type-Options": "nosniff"},
            )

        app.router.add_get(metrics_path, metrics)
    app.router.add_get("/v1/models/{tail:.*}", api.get)
    app.router.add_post("/v1/models/{tail:.*}", api.post)
    return app
