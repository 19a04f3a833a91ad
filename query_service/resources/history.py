"""Item histories, the caller's own history, the admins' audit search and the public change feed."""

from __future__ import annotations

import re
import threading
import time
from typing import Iterator
from uuid import UUID

import falcon

from domain.user import User
from http_api import errors
from http_api.operations import POSITION_MAX
from query_service.resources.reading import ReadResource
from query_service.views import history

POSITION = re.compile(r"[0-9]{1,19}")  # ASCII digits only: str.isdigit() takes other scripts' digits


class ItemHistory(ReadResource):
    """GET /<kind>/{id}/history: admins, and the item's uploader (404 for an unknown item first,
    then 403 for other callers, as a result's claims). `kind`: the aggregate's class name."""

    def __init__(self, engine, kind: str, not_found: str, *, with_related: bool = False):
        super().__init__(engine)
        self.kind = kind
        self.not_found = not_found
        self.with_related = with_related

    def on_get(self, req: falcon.Request, resp: falcon.Response, **ids: UUID) -> None:
        (id,) = ids.values()
        caller = req.context.caller
        with self.engine.connect() as conn:
            found = history.item(conn, id)
            if found is None or not found.type.startswith(self.kind + "."):
                raise errors.message(404, self.not_found.format(id=id))
            if not caller.admin and found.creator != caller.actor:
                raise errors.abort(403)
            viewer = None if caller.admin else caller.actor
            self.send(resp, history.history(conn, id, req.context.query, viewer, with_related=self.with_related))


class OwnHistory(ReadResource):
    """GET /users/self/history: the caller's registration, e-mail changes, removals."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        caller = req.context.caller
        user_id = User.create_id(caller.identity.sub, caller.identity.iss)
        with self.engine.connect() as conn:
            self.send(resp, history.history(conn, user_id, req.context.query, None if caller.admin else caller.actor))


class EventSearch(ReadResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        with self.engine.connect() as conn:
            self.send(resp, history.search(conn, req.context.query))


class EventFeed(ReadResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = req.context.query
        with self.engine.connect() as conn:
            self.send(resp, history.feed(conn, query["after"], query["limit"]))


class EventStream(ReadResource):
    """GET /events:stream: the change feed as Server-Sent Events, from `after` or the client's
    `Last-Event-ID`. Each open stream holds a request thread, so a process keeps at most
    `streams` open (more answer 503 at once) and ends each after `seconds`: the client
    reconnects with the id of the last event it got, and the next stream goes on after it."""

    HEARTBEAT_SECONDS = 10.0  # a comment line, so proxies and clients see a live connection
    POLL_SECONDS = 0.5  # how often an idle stream looks for new events
    BATCH = 100

    def __init__(self, engine, streams: int, seconds: float):
        super().__init__(engine)
        self.slots = threading.BoundedSemaphore(streams) if streams else None
        self.seconds = seconds

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        after = _resumed_from(req)
        resp.content_type = "text/event-stream"
        resp.set_header("X-Accel-Buffering", "no")  # nginx passes each event on at once
        if req.method == "HEAD":
            return  # nothing is streamed, so no slot is taken
        if self.slots is None or not self.slots.acquire(blocking=False):
            raise errors.retry_shortly("Too many event streams open")
        resp.stream = _Slotted(self._events(after, time.monotonic() + self.seconds), self.slots)

    def _events(self, after: int, deadline: float) -> Iterator[bytes]:
        """Ends at `deadline`."""
        yield b"retry: 1000\n\n"
        beat = time.monotonic()
        while True:
            with self.engine.connect() as conn:
                events = history.feed_events(conn, after, self.BATCH)
            for position, text in events:
                yield b"id: %d\nevent: event\ndata: %s\n\n" % (position, text.encode())
                after = position
            now = time.monotonic()
            if now >= deadline:
                return
            if len(events) == self.BATCH:
                continue  # catching up: no wait
            if events:
                beat = now
            elif now - beat >= self.HEARTBEAT_SECONDS:
                yield b": heartbeat\n\n"
                beat = now
            time.sleep(min(self.POLL_SECONDS, deadline - now))


class _Slotted:
    """A stream that gives its slot back once: when it ends, before the server sends the last
    chunk (a client that reconnects at once finds it free), or when the server closes it, which
    every WSGI server does, also when the client went away or the body was never read."""

    def __init__(self, events: Iterator[bytes], slots: threading.BoundedSemaphore):
        self.events = events
        self.slots = slots
        self.lock = threading.Lock()
        self.held = True

    def __iter__(self) -> Iterator[bytes]:
        yield from self.events
        self._release()

    def close(self) -> None:
        self.events.close()
        self._release()

    def _release(self) -> None:
        with self.lock:
            if self.held:
                self.held = False
                self.slots.release()


def _resumed_from(req: falcon.Request) -> int:
    """The position a stream starts after: the `Last-Event-ID` a reconnecting client sends, else `after`."""
    last = req.get_header("Last-Event-ID")
    if last is None:
        return req.context.query["after"]
    if not POSITION.fullmatch(last) or int(last) > POSITION_MAX:
        raise errors.invalid("headers", {"Last-Event-ID": ["Not a valid event position."]})
    return int(last)
