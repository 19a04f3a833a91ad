"""What a read passes before its handler runs, in this order:

1. the request gate (http_api/access.py): the operation, the caller's access level (401/403),
   the arguments (422/400), as the contract orders them;
2. the request limits (request_limits.py): how much the read asks for (422);
3. the wait for the event position it names (freshness.py): only now may it hold a thread.

One case waits earlier: a caller the read model does not show as registered yet. A client
that has just registered reads with the position of its registration; refusing it (403) for a
write it was told succeeded would break read-your-writes. So when the gate finds a verified
identity unregistered and the request names a position, the request waits for it first
(capped as any wait; at once when reached) and is judged again, whole, at that position.
"""

from __future__ import annotations

import falcon

from http_api import errors
from http_api.access import RequestGate
from query_service.freshness import MinPosition
from query_service.request_limits import RequestLimits


class Admission:
    def __init__(self, gate: RequestGate, limits: RequestLimits, freshness: MinPosition):
        self.gate = gate
        self.limits = limits
        self.freshness = freshness

    def _names_position(self, req: falcon.Request) -> bool:
        """Whether the request names a valid position. (Whether it is reached is for the wait
        to tell: the gate's look-up may have come just before the projector's commit.)"""
        try:
            return self.freshness.wanted(req) is not None
        except errors.ApiError:
            return False  # judged (400) once the gate has passed the request

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource, params) -> None:
        try:
            self.gate.process_resource(req, resp, resource, params)
        except errors.ApiError as refused:
            if not (isinstance(refused, errors.Unregistered) and self._names_position(req)):
                raise
            self.freshness.wait(req)
            self.gate.process_resource(req, resp, resource, params)
        if req.context.get("operation") is None:  # the documentation, or a 405: nothing to bound
            return
        self.limits.check(req.context.query)
        self.freshness.wait(req)
