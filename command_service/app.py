"""The command service's WSGI app: the write half of the API, routed in one table below."""

from __future__ import annotations

import falcon

from command_service.image_registry import ImageRegistry
from command_service.rate_limit import WriteRateLimit
from command_service.resources import catalog, results, users
from command_service.services.aggregate_cache import AggregateCache
from command_service.services.directory import UserDirectory
from command_service.services.schemas import ResultValidators
from command_service.services.session import Commands
from configuration.settings import Settings
from domain.actor import Actor
from domain.event_store import EventStore
from http_api import errors
from http_api.access import RequestGate
from http_api.operations import ROUTES
from http_api.response_headers import ResponseHeaders
from identity.tokens import Identity, TokenVerifier
from observability.http_layer import RouteTemplate, observed


class ServedByQueryService:
    """Paths whose only methods are reads: any write method on them is a 405."""


def create_app(
    settings: Settings,
    store: EventStore,
    verifier: TokenVerifier,
    *,
    directory: UserDirectory,
    on_saved=lambda position: None,
    cache: AggregateCache | None = None,
    one_at_a_time: bool = False,
):
    """The WSGI app: the routes, wrapped in observability.http_layer (GET /metrics, request logs).
    `cache`: this process's copies of catalog items and users (services/aggregate_cache.py);
    `one_at_a_time`: its commands run one at a time (services/session.py, Commands)."""
    commands = Commands(store, on_saved, cache, one_at_a_time)
    registry = ImageRegistry(
        settings.image_registry_url, settings.image_registries, deadline=settings.image_check_seconds
    )
    images = registry if settings.image_check else None
    validators = ResultValidators(capacity=256, pattern_work=settings.schema_pattern_work)

    def is_registered(identity: Identity) -> bool:
        return commands.admits(Actor(identity.sub, identity.iss))

    def confirm_registered(identity: Identity) -> bool:
        return commands.admits(Actor(identity.sub, identity.iss), confirmed=True)

    benchmark_item = catalog.BenchmarkItem(commands, images)
    site_item = catalog.SiteItem(commands)
    flavor_item = catalog.FlavorItem(commands)
    result_item = results.ResultItem(commands)
    claim_item = results.ClaimItem(commands)
    user_commands = users.Users(commands, directory)
    table = {
        "/benchmarks": (catalog.BenchmarkCollection(commands, images), None),
        "/benchmarks/{benchmark_id:uuid}": (benchmark_item, None),
        "/benchmarks/{benchmark_id:uuid}:approve": (benchmark_item, "approve"),
        "/benchmarks/{benchmark_id:uuid}:reject": (benchmark_item, "reject"),
        "/sites": (catalog.SiteCollection(commands), None),
        "/sites/{site_id:uuid}": (site_item, None),
        "/sites/{site_id:uuid}:approve": (site_item, "approve"),
        "/sites/{site_id:uuid}:reject": (site_item, "reject"),
        "/sites/{site_id:uuid}/flavors": (catalog.SiteFlavors(commands), None),
        "/flavors/{flavor_id:uuid}": (flavor_item, None),
        "/flavors/{flavor_id:uuid}:approve": (flavor_item, "approve"),
        "/flavors/{flavor_id:uuid}:reject": (flavor_item, "reject"),
        "/tags": (catalog.TagCollection(commands), None),
        "/tags/{tag_id:uuid}": (catalog.TagItem(commands), None),
        "/results": (results.ResultCollection(commands, validators), None),
        "/results/{result_id:uuid}": (result_item, None),
        "/results/{result_id:uuid}:claim": (result_item, "claim"),
        "/results/{result_id:uuid}/tags": (results.ResultTags(commands), None),
        "/reports/claims/{report_id:uuid}:approve": (claim_item, "approve"),
        "/reports/claims/{report_id:uuid}:reject": (claim_item, "reject"),
        "/users:register": (user_commands, "register"),
        "/users:remove": (user_commands, "remove"),
        "/users:restore": (user_commands, "restore"),
        "/users/self:update": (user_commands, "update"),
    }
    limit = WriteRateLimit(settings.write_rate_per_minute).admit if settings.write_rate_per_minute else None
    gate = RequestGate(
        verifier,
        settings.admin_entitlements,
        development=settings.development,
        is_registered=is_registered,
        confirm_registered=confirm_registered,
        rate_limit=limit,
        limits=settings.limits,
    )
    app = falcon.App(middleware=[RouteTemplate(), ResponseHeaders(), gate])
    app.req_options.strip_url_path_trailing_slash = False
    errors.install(app)
    read_only = ServedByQueryService()
    for route in ROUTES:
        resource, suffix = table.get(route, (read_only, None))
        app.add_route(route, resource, suffix=suffix)
    return observed(app, "command")
