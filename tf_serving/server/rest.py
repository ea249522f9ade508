"""TF Serving's REST API (``/v1/models/...``) on aiohttp.

Handlers only parse HTTP and JSON, call the :class:`DataPlane` and render JSON; every
:class:`ServingError` becomes ``{"error": message}`` with its HTTP status in one
middleware, and anything else is logged and answered 500. Paths, dispatch and error texts
follow TF Serving's implementation (``model_servers/http_rest_api_handler.cc`` and
``http_rest_api_util.cc``), not its REST guide: a path that its regexes do not match is
400 ``Malformed request: METHOD PATH``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp import web

from tf_serving.server import codec, responses
from tf_serving.server.dataplane import DataPlane
from tf_serving.server.errors import InvalidArgument, ServingError
from tf_serving.server.manager import ModelRef

log = logging.getLogger(__name__)

_JSON = "application/json"
# TF Serving's kPathRegex / kPredictionApiGegex / kModelStatusApiRegex, matched in full.
_HANDLED = re.compile(r"/v1/.*", re.IGNORECASE | re.DOTALL)
_POST = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
    r":(classify|regress|predict)",
    re.IGNORECASE,
)
_GET = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:\/(metadata))?",
    re.IGNORECASE,
)
_INT64_MAX = 2**63 - 1
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


@dataclass(frozen=True)
class _Route:
    """What ``ParseModelInfo`` reads from a path."""

    ref: ModelRef
    verb: str  # POST: as written in the path (TF compares it case-sensitively)
    subresource: str  # GET: "metadata" as written, or ""


def _parse(method: str, path: str) -> _Route | None:
    """``ParseModelInfo``: None when the path does not match the method's regex."""
    match = (_POST if method == "POST" else _GET).fullmatch(path)
    if match is None:
        return None
    name, version_text, label, tail = match.groups()
    version = None
    if version_text:
        version = int(version_text)
        if version > _INT64_MAX:  # absl::SimpleAtoi into int64
            raise InvalidArgument(f"Failed to convert version: {version_text} to numeric.")
    ref = ModelRef(
        name=unquote(name or "", errors="replace"),
        version=version,
        label=None if not label else unquote(label, errors="replace"),
    )
    if method == "POST":
        return _Route(ref, verb=tail, subresource="")
    return _Route(ref, verb="", subresource=tail or "")


class RestApi:
    """The aiohttp handler; one instance per server."""

    def __init__(self, dataplane: DataPlane) -> None:
        self.dataplane = dataplane
        self.metrics = dataplane.metrics

    async def handle(self, request: web.Request) -> web.Response:
        """``HttpRestApiHandler::ProcessRequest``: dispatch on method and path."""
        path = request.rel_url.raw_path
        if not _HANDLED.fullmatch(path):
            raise web.HTTPNotFound()
        malformed = InvalidArgument(f"Malformed request: {request.method} {path}")
        if request.method not in ("GET", "POST"):
            raise malformed
        route = _parse(request.method, path)
        if route is None:
            raise malformed
        if request.method == "GET":
            return await self._get(route)
        if route.verb == "predict":
            return await self._predict(route.ref, await request.read())
        if route.verb in ("classify", "regress"):
            return await self._classify_regress(route.ref, route.verb, await request.read())
        raise malformed  # e.g. ":PREDICT": the regex matches, the dispatch does not

    async def _get(self, route: _Route) -> web.Response:
        ref = route.ref
        if not ref.name:
            raise InvalidArgument("Missing model name in request.")
        if route.subresource == "metadata":
            with self.metrics.observe(ref.name, "GetModelMetadata", "REST"):
                async with self.dataplane.servable(ref) as servable:
                    return _json(responses.metadata_json(responses.metadata_response(servable)))
        with self.metrics.observe(ref.name, "GetModelStatus", "REST"):
            states = self.dataplane.manager.status(ref)
            return _json(responses.to_json(responses.status_response(states)))

    async def _predict(self, ref: ModelRef, body: bytes) -> web.Response:
        with self.metrics.observe(ref.name, "Predict", "REST"):
            doc = codec.parse_json(body)
            signature_name = codec.signature_name_of(doc)
            async with self.dataplane.servable(ref) as servable:
                signature = servable.signature(signature_name)
                inputs, fmt = codec.decode_predict_request(doc, signature.inputs, signature_name)
                outputs = await self.dataplane.predict(servable, signature, inputs)
                return _json(codec.encode_predict_response(outputs, fmt))

    async def _classify_regress(self, ref: ModelRef, verb: str, body: bytes) -> web.Response:
        # TF Serving parses the whole body before it looks the model up.
        with self.metrics.observe(ref.name, verb.capitalize(), "REST"):
            doc = codec.parse_json(body)
            signature_name = codec.signature_name_of(doc)
            examples = codec.decode_examples(doc)
            async with self.dataplane.servable(ref) as servable:
                if verb == "classify":
                    signature = servable.classification_signature(signature_name)
                    rows = await self.dataplane.classify(servable, signature, examples)
                    return _json(codec.encode_classification(rows))
                signature = servable.regression_signature(signature_name)
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
    app.router.add_route("*", "/{tail:.*}", api.handle)
    return app
