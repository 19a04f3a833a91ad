"""Answers of public reads, kept per worker and keyed by the read model's position.

The read tables at a given position are always the same (the projector writes rows and
position in one transaction, and a replay reproduces them), so a public answer computed at
position P is the answer to the same request for as long as the position stays P. Any event
moves the position and so retires every entry at once; nothing is ever served stale.

An answer is kept only when the position was the same before and after computing it: the
view's snapshot then lay at that position. Only public operations are cached (their answers
never depend on the caller), only 200s, within a budget of bytes (least recently used out)
that counts what an entry really holds: its key (the URL, which a client chooses), its text
and a fixed overhead per entry, so many distinct URLs with tiny answers fill it as surely
as a few large answers. `QUERY_CACHE_MB=0` turns it off.

The position is also the answer's entity tag (`ETag: "<position>"`, sent with every answer
known to be of one position): a client that sends it back in `If-None-Match` gets 304 without
a body while no event has been projected since.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import falcon

from http_api.operations import BY_ROUTE

# Bytes an entry holds beyond its key and text: the Entry object, its slot in the dict and its
# link in the LRU order, its position (tracemalloc: about 220 bytes on CPython 3.11).
ENTRY_OVERHEAD = 256


@dataclass(frozen=True)
class Entry:
    position: int
    content_type: str  # one of a few shared strings
    text: str


def cost(key: str, entry: Entry) -> int:
    return sys.getsizeof(key) + sys.getsizeof(entry.text) + ENTRY_OVERHEAD


class ResponseCache:
    def __init__(self, current_position: Callable[[], int], max_bytes: int):
        self.current_position = current_position
        self.max_bytes = max_bytes
        self.entries: OrderedDict[str, Entry] = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()  # gunicorn threads share a worker's cache

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource, params) -> None:
        if req.method not in ("GET", "HEAD"):
            return
        operation = BY_ROUTE.get(("GET", req.uri_template))
        if operation is None or operation.access != "public":
            return
        # An as-of answer is the same for as long as it is kept: its position is its own.
        as_of = req.context.get("as_of")
        key = f"{req.path}?{req.query_string}" + ("" if as_of is None else f"#as_of={as_of}")
        position = self.current_position() if as_of is None else as_of
        with self.lock:
            entry = self.entries.get(key)
            hit = entry is not None and entry.position == position
            if hit:
                self.entries.move_to_end(key)
        if hit:
            resp.content_type = entry.content_type
            resp.text = entry.text
            tag(req, resp, position)
            resp.complete = True
            return
        req.context.cache_key, req.context.cache_position = key, position

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource, req_succeeded: bool) -> None:
        key = req.context.get("cache_key")
        if key is None or not req_succeeded or resp.status not in (200, falcon.HTTP_200) or resp.text is None:
            return
        position = req.context.cache_position
        if req.context.get("as_of") is None and self.current_position() != position:
            return  # the projector committed while this answer was computed: its snapshot is unknown
        entry = Entry(position, resp.content_type, resp.text)
        if cost(key, entry) <= self.max_bytes:
            with self.lock:
                self._put(key, entry)
        tag(req, resp, position)

    def _put(self, key: str, entry: Entry) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.size -= cost(key, old)
        self.entries[key] = entry
        self.size += cost(key, entry)
        while self.size > self.max_bytes:
            dropped_key, dropped = self.entries.popitem(last=False)
            self.size -= cost(dropped_key, dropped)


def tag(req: falcon.Request, resp: falcon.Response, position: int) -> None:
    """Tags a 200 known to be of `position`; a client holding that tag gets 304 instead. Only a
    2xx answer may become a 304: an invalid request stays refused whatever it sends."""
    resp.etag = f'"{position}"'
    if any(tag in ("*", str(position)) for tag in req.if_none_match or ()):  # weak comparison
        resp.status = falcon.HTTP_304
        resp.text = resp.content_type = None  # a 304 carries no content
