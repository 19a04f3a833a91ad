"""Deep pages of a listing sorted by one JSON number: where pages begin, remembered per
read-model position, so a page far down is sought from a known place instead of walked to.

A benchmark's visible results narrowed by number filters alone and sorted by one number have
their page chosen from the number index (views/results.py `_page_choice`): its entries for the
sort path are walked in order and each is probed against the filters, until the page's offset
is passed. Page 50 of 100 walks some 5,000 entries; at about 4 µs a probe, that is 20 ms of
PostgreSQL per request, where the page itself costs under 1 ms.

Every such page, once chosen, shows where it begins and ends: the sort keys (number, seq) of
its first and last row, and their places in the listing; the walk to it shows one place every
PLACES_EVERY rows it passed (numbered as they come, which costs little beside the probes). The
read tables at one position of the event log are always the same (the projector writes rows
and position in one transaction), so at that position a later page can start from the nearest
known place before it: the index is entered at that key and only the rows between it and the
page are walked. Paging on through a listing (page N, then N+1), coming back to a page, or
going to another page before a deep one already visited, then costs at most PLACES_EVERY rows
more than the page.

Nothing is answered from an older state: the statement choosing the page also reads the
read model's position, in its own snapshot, and a place is used only when that position is the
one it was learnt at. Otherwise the page is chosen again from the start of the index (a write
between two pages costs the later one a seek of a few rows, wasted). Pages nearer the start
than FROM_OFFSET are always walked: there the walk costs less than the second statement.

Per worker process, bounded: LISTINGS listings (least recently used out), PLACES places each.
The statements of a listing's walks are built once too (`_walk`), and run by the driver.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Hashable, Sequence

from sqlalchemy import BigInteger, Double, Select, and_, bindparam, func, or_, select
from sqlalchemy.engine import Connection

from query_service.driver_reads import DriverRead
from read_model import READ_MODEL
from read_model.active_store import LOCATION
from read_model.tables import positions

FROM_OFFSET = 500  # about 2 ms of walking and probing on PostgreSQL
PLACES_EVERY = 500  # a walk leaves a place at each multiple of this many rows it walks past
LISTINGS = 256
PLACES = 64


@dataclass(frozen=True)
class Place:
    """A row of a listing: its place in it (from 0) and its sort key."""

    index: int
    value: float
    seq: int


@dataclass
class _Known:
    position: int
    places: dict[int, Place] = field(default_factory=dict)  # by index, oldest learnt first


class PageBoundaries:
    """The places learnt from the deep pages of listings, each at the read-model position where
    it holds. Shared by the threads of a worker."""

    def __init__(self, listings: int = LISTINGS, places: int = PLACES):
        self.listings = listings
        self.places = places
        self._known: OrderedDict[Hashable, _Known] = OrderedDict()
        self._lock = threading.Lock()

    def nearest(self, listing: Hashable, index: int) -> tuple[int, Place] | None:
        """The known place nearest before or at `index`, and the position where it holds."""
        with self._lock:
            known = self._known.get(listing)
            if known is None:
                return None
            self._known.move_to_end(listing)
            before = [place for place in known.places.values() if place.index <= index]
            return (known.position, max(before, key=lambda place: place.index)) if before else None

    def learn(self, listing: Hashable, position: int, places: Sequence[Place]) -> None:
        """Places that hold at `position`; those of any other position are forgotten."""
        with self._lock:
            known = self._known.get(listing)
            if known is None or known.position != position:
                known = self._known[listing] = _Known(position)
            self._known.move_to_end(listing)
            for place in places:
                known.places[place.index] = place
            while len(known.places) > self.places:
                del known.places[next(iter(known.places))]
            while len(self._known) > self.listings:
                self._known.popitem(last=False)


@dataclass(frozen=True)
class SortedByNumber:
    """A listing whose page is chosen by `chosen` (selecting `page_key`, the result's seq, and
    `page_sort_0`, its number) from `numbers` (a named `result_numbers`), in the number's order
    (`descending` or not), then by seq. `listing`: what names it among others (its benchmark,
    filters and sort). `probes`: whether `chosen` probes each entry it walks against the filters
    (views/results.py `_walks`); a listing is chosen by one of these two statements, with the
    same rows."""

    chosen: Select
    numbers: object
    descending: bool
    listing: Hashable
    probes: bool


_POSITION = select(positions.c.position).where(positions.c.name == READ_MODEL).scalar_subquery().label("position")
# A walk's bounds and its start, given to each run of its statement.
_PLACE_VALUE = bindparam("place_value", type_=Double)
_PLACE_SEQ = bindparam("place_seq", type_=BigInteger)
_SKIPPED = bindparam("skipped", type_=BigInteger)
_WALKED = bindparam("walked", type_=BigInteger)
_EVERY = bindparam("places_every", type_=BigInteger)
WALKS_KEPT = 2 * LISTINGS  # each listing's walk from its start and from a place


def _from(sorted_by: SortedByNumber):
    """The rows at the place (`place_value`, `place_seq`) and after it, in the listing's order."""
    value, seq = sorted_by.numbers.c.value, sorted_by.numbers.c.seq
    same = and_(value == _PLACE_VALUE, seq >= _PLACE_SEQ)
    if sorted_by.descending:  # `value <= at` bounds the index range; the rest is checked per row
        return and_(value <= _PLACE_VALUE, or_(value < _PLACE_VALUE, same))
    return and_(value >= _PLACE_VALUE, or_(value > _PLACE_VALUE, same))


def _walk_statement(sorted_by: SortedByNumber, from_place: bool) -> Select:
    """The rows the listing's statement chooses (from the place, `from_place`) past the first
    `skipped` (`walked` in all), after every `places_every`-th row of those skipped: each with
    `n`, its place among the rows walked (from 1), and the read model's position."""
    statement = sorted_by.chosen.where(_from(sorted_by)) if from_place else sorted_by.chosen
    walked = statement.add_columns(_POSITION).limit(_WALKED).subquery()
    value = walked.c.page_sort_0.desc() if sorted_by.descending else walked.c.page_sort_0.asc()
    # In the order the rows come in (PostgreSQL sorts nothing again: the walk is in that order).
    numbered = select(walked, func.row_number().over(order_by=[value, walked.c.page_key]).label("n")).subquery()
    wanted = or_(numbered.c.n > _SKIPPED, numbered.c.n % _EVERY == 0)
    return select(numbered).where(wanted).order_by(numbered.c.n)


# Built for each request, a walk's statement and SQLAlchemy's execution of it (its cache key
# among them) were about a fifth of a deep page's CPU in the query worker: each listing's are
# kept, and run by the driver. Cleared when full: listings asked often are built again at once.
_WALKS: dict[tuple[Hashable, bool, bool], DriverRead] = {}


def _walk(sorted_by: SortedByNumber, from_place: bool) -> DriverRead:
    key = (sorted_by.listing, sorted_by.probes, from_place)
    read = _WALKS.get(key)
    if read is None:
        if len(_WALKS) >= WALKS_KEPT:
            _WALKS.clear()
        read = _WALKS[key] = DriverRead(_walk_statement(sorted_by, from_place))
    return read


def _walked(conn: Connection, sorted_by: SortedByNumber, place: Place | None, skipped: int, limit: int) -> list:
    """`_walk_statement`'s rows, as (page_key, page_sort_0, position, n)."""
    parameters = {"skipped": skipped, "walked": skipped + limit, "places_every": PLACES_EVERY}
    if place is not None:
        parameters |= {"place_value": place.value, "place_seq": place.seq}
    return list(_walk(sorted_by, place is not None).rows(conn, parameters))


def page_keys(
    conn: Connection, sorted_by: SortedByNumber, boundaries: PageBoundaries, offset: int, limit: int
) -> list[int]:
    """The seqs of the page at `offset` (at least FROM_OFFSET) in the listing's order, sought
    from the nearest known place when it holds at the position read with the page. The places
    the walk passed and the page's ends are learnt."""
    listing = (conn.info.get(LOCATION), sorted_by.listing)  # each store its own places
    rows, start = None, 0
    nearest = boundaries.nearest(listing, offset)
    if nearest is not None:
        position, place = nearest
        rows, start = _walked(conn, sorted_by, place, offset - place.index, limit), place.index
        if not rows or rows[0][2] != position:
            rows = None
    if rows is None:
        rows, start = _walked(conn, sorted_by, None, offset, limit), 0
    page = [row for row in rows if start + row[3] > offset]
    learnt = [row for row in rows if start + row[3] <= offset] + page[:1] + page[-1:]
    if rows:
        places = [Place(start + n - 1, value, key) for key, value, _position, n in learnt]
        boundaries.learn(listing, rows[0][2], places)
    return [row[0] for row in page]
