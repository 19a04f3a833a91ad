"""The query service's WSGI app: the read half of the API, routed in one table below."""

from __future__ import annotations

from typing import Callable

import falcon
from sqlalchemy.engine import Engine

from configuration.settings import Settings
from http_api import errors
from http_api.access import RequestGate
from http_api.operations import ROUTES
from http_api.response_headers import ResponseHeaders
from identity.tokens import Identity, TokenVerifier
from observability.http_layer import RouteTemplate, observed
from observability.metrics import Positions
from query_service.admission import Admission
from query_service.as_of import AsOf, read_as_of
from query_service.freshness import MinPosition
from query_service.request_limits import RequestLimits
from query_service.resources import catalog, docs, history, results, users
from query_service.response_cache import ResponseCache
from query_service.views import catalog as views
from query_service.views.users import registration
from read_model import READ_MODEL, position_feed


class ServedByCommandService:
    """Paths whose only methods are writes: a read on them is a 405."""


def _allow_head(resource) -> None:
    """HEAD answers like GET (without a body)."""
    for name in dir(resource):
        if name.startswith("on_get") and not hasattr(resource, "on_head" + name[len("on_get") :]):
            setattr(resource, "on_head" + name[len("on_get") :], getattr(resource, name))


def create_app(
    settings: Settings,
    engine: Engine,
    verifier: TokenVerifier,
    head: Callable[[], int] | None = None,
    position: Callable[[], int] | None = None,
):
    """The WSGI app: the routes, wrapped in observability.http_layer (GET /metrics, request logs).
    `head` (the event log's newest position) gives /metrics the read model's lag; `position` is
    the read model's, when the caller keeps it (else read_model/position_feed.py follows it)."""
    read_as_of(engine)  # before the engines of other options are made from it: they share its listeners
    # For the reads of one statement, which is its own snapshot: no BEGIN, no ROLLBACK, two round
    # trips fewer (a serving engine's connections are in autocommit: read_store.connect).
    one_statement = engine
    if engine.dialect.name == "postgresql":
        # A page and its total come from one snapshot, even while the projector writes.
        engine = engine.execution_options(isolation_level="REPEATABLE READ")

    def is_registered(identity: Identity) -> bool:
        with one_statement.connect() as conn:
            return registration(conn, identity.sub, identity.iss) is not None

    current_position = position or position_feed.feed(engine, READ_MODEL)
    benchmarks = catalog.CatalogCollection(one_statement, views.BENCHMARKS)
    sites = catalog.CatalogCollection(one_statement, views.SITES)
    site_flavors = catalog.SiteFlavors(engine)
    tags = catalog.CatalogCollection(one_statement, views.TAGS)
    user_list = users.UserCollection(one_statement)
    self_ = users.Self(one_statement)
    result_list = results.ResultCollection(engine)
    table = {
        "/benchmarks": (benchmarks, None),
        "/benchmarks:search": (benchmarks, "search"),
        "/benchmarks/{benchmark_id:uuid}": (
            catalog.CatalogItem(one_statement, views.BENCHMARKS, "Benchmark {id} not found in the database"),
            None,
        ),
        "/sites": (sites, None),
        "/sites:search": (sites, "search"),
        "/sites/{site_id:uuid}": (catalog.CatalogItem(one_statement, views.SITES), None),
        "/sites/{site_id:uuid}/flavors": (site_flavors, None),
        "/sites/{site_id:uuid}/flavors:search": (site_flavors, "search"),
        "/flavors/{flavor_id:uuid}": (catalog.CatalogItem(one_statement, views.FLAVORS), None),
        "/flavors/{flavor_id:uuid}/site": (catalog.FlavorSite(one_statement), None),
        "/tags": (tags, None),
        "/tags:search": (tags, "search"),
        "/tags/{tag_id:uuid}": (catalog.CatalogItem(one_statement, views.TAGS), None),
        "/results": (result_list, None),
        "/results:search": (result_list, "search"),
        "/results/{result_id:uuid}": (results.ResultItem(one_statement), None),
        "/results/{result_id:uuid}/claims": (results.ResultClaims(engine), None),
        "/results/{result_id:uuid}/uploader": (results.ResultUploader(engine), None),
        "/reports/submits": (users.Submits(engine), None),
        "/reports/claims": (results.ClaimCollection(engine), None),
        "/reports/claims/{report_id:uuid}": (results.ClaimItem(engine), None),
        "/users": (user_list, None),
        "/users:search": (user_list, "search"),
        "/users/self": (self_, None),
        "/users/self:try_admin": (self_, "try_admin"),
        "/users/self/results": (results.OwnResults(engine), None),
        "/users/self/claims": (results.OwnClaims(engine), None),
        "/benchmarks/{benchmark_id:uuid}/history": (
            history.ItemHistory(engine, "Benchmark", "Benchmark {id} not found in the database"),
            None,
        ),
        "/sites/{site_id:uuid}/history": (history.ItemHistory(engine, "Site", catalog.RECORD_NOT_FOUND), None),
        "/flavors/{flavor_id:uuid}/history": (history.ItemHistory(engine, "Flavor", catalog.RECORD_NOT_FOUND), None),
        "/tags/{tag_id:uuid}/history": (history.ItemHistory(engine, "Tag", catalog.RECORD_NOT_FOUND), None),
        "/results/{result_id:uuid}/history": (
            history.ItemHistory(engine, "Result", "Result {id} not found in the database", with_related=True),
            None,
        ),
        "/reports/claims/{report_id:uuid}/history": (
            history.ItemHistory(engine, "Claim", "Claim {id} not found in the database"),
            None,
        ),
        "/users/self/history": (history.OwnHistory(engine), None),
        "/reports/events": (history.EventSearch(engine), None),
        "/events": (history.EventFeed(engine), None),
        "/events:stream": (
            history.EventStream(engine, settings.event_streams, settings.event_stream_seconds),
            None,
        ),
    }
    gate = RequestGate(
        verifier,
        settings.admin_entitlements,
        development=settings.development,
        is_registered=is_registered,
        limits=settings.limits,
    )
    freshness = MinPosition(current_position, settings.read_wait_seconds, settings.read_waiters)
    # The cache comes after the admission's wait: an answer of an older position would not
    # show the caller's write; and after `as_of`, which its key includes.
    middleware = [
        RouteTemplate(),
        ResponseHeaders(),
        freshness,
        Admission(gate, RequestLimits(settings.query_limits), freshness),
        AsOf(engine, current_position),
    ]
    if settings.query_cache_mb > 0:
        middleware.append(ResponseCache(current_position, int(settings.query_cache_mb * 2**20)))
    app = falcon.App(middleware=middleware)
    app.req_options.strip_url_path_trailing_slash = False
    errors.install(app)
    write_only = ServedByCommandService()
    for route in ROUTES:
        resource, suffix = table.get(route, (write_only, None))
        _allow_head(resource)
        app.add_route(route, resource, suffix=suffix)
    app.add_route("/api-spec.json", docs.ApiSpec(settings.backend_route, settings.limits))
    app.add_route("/", docs.SwaggerUI())
    app.add_route("/swagger-ui/{name}", docs.SwaggerAssets())
    return observed(app, "query", [Positions({READ_MODEL: current_position}, head)])
