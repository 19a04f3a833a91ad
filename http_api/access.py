"""The request gate: for every routed request, in the contract's order (§1.4), find the
operation, check the caller's access level (401/403), then parse query and body (422/400).

Each service supplies how it knows whether an identity is registered: the query service asks
its read tables; the command service answers from its process's copy of the user, and the
command the request runs confirms that copy with everything else it read, in its save
(command_service/services/session.py), so a write asks the store one question, not two. The
command service also supplies a rate limit, applied to every caller that passed the access
check (429 before any parsing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import falcon

from configuration.settings import Limits
from domain.actor import Actor
from http_api import errors
from http_api.operations import BY_ROUTE
from http_api.requests import parse_body, parse_query
from identity.tokens import Identity, TokenVerifier

RateLimit = Callable[[Identity], None]  # raises an ApiError (429) when the caller must wait


@dataclass(frozen=True)
class Caller:
    identity: Identity | None = None
    registered: bool = False
    admin: bool = False

    @property
    def actor(self) -> Actor:
        return Actor(self.identity.sub, self.identity.iss)

    @property
    def registration(self) -> Actor | None:
        """Whose registration the command confirms (Commands.run `registered`): the caller the
        gate admitted as registered; None when the operation needs no registration."""
        return self.actor if self.registered else None


ANONYMOUS = Caller()


class RequestGate:
    def __init__(
        self,
        verifier: TokenVerifier,
        admin_entitlements: tuple[str, ...],
        *,
        development: bool,
        is_registered: Callable[[Identity], bool],
        confirm_registered: Callable[[Identity], bool] | None = None,
        rate_limit: RateLimit | None = None,
        limits: Limits,
    ):
        """`confirm_registered`: where `is_registered` may answer from a copy (the command
        service's), the certain answer, asked only when a caller it admitted is about to be
        refused for its rate, query or body: a caller no longer registered gets the 403 first,
        in the contract's order."""
        self.verifier = verifier
        self.admin_entitlements = frozenset(admin_entitlements)
        # Only development keeps the original's "everyone registered is admin" default.
        self.everyone_is_admin = development and not admin_entitlements
        self.is_registered = is_registered
        self.confirm_registered = confirm_registered
        self.rate_limit = rate_limit
        self.limits = limits

    def is_admin(self, identity: Identity) -> bool:
        return self.everyone_is_admin or bool(self.admin_entitlements.intersection(identity.entitlements))

    def caller(self, access: str, req: falcon.Request) -> Caller:
        if access == "public":
            return ANONYMOUS  # public endpoints never look at the token
        identity = self.verifier.identify(req.get_header("Authorization"))
        if access == "token":
            return Caller(identity, registered=False, admin=False)
        requirement = errors.requirement(access)
        registered = self.is_registered(identity)
        if not registered:
            raise errors.forbidden_requirement(identity.sub, identity.iss, requirement, registered=False)
        admin = self.is_admin(identity)
        if access == "admin" and not admin:
            raise errors.forbidden_requirement(identity.sub, identity.iss, requirement)
        return Caller(identity, registered=True, admin=admin)

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource, params) -> None:
        method = "GET" if req.method == "HEAD" else req.method
        operation = BY_ROUTE.get((method, req.uri_template))
        if operation is None:
            return  # OPTIONS, or a method the route does not have (Falcon answers 405)
        req.context.operation = operation
        req.context.caller = caller = self.caller(operation.access, req)
        try:
            if self.rate_limit is not None and caller.identity is not None:
                self.rate_limit(caller.identity)
            req.context.query = parse_query(operation, req.query_string)
            req.context.body = parse_body(operation, req, self.limits)
        except errors.ApiError:
            if caller.registered and self.confirm_registered and not self.confirm_registered(caller.identity):
                identity = caller.identity
                raise errors.forbidden_requirement(
                    identity.sub, identity.iss, errors.requirement(operation.access), registered=False
                ) from None
            raise
