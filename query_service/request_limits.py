"""How much one read may ask for: filters, tags, sort keys and search terms, by number and by
length (settings.QueryLimits). Each adds SQL that the database plans and runs for every
candidate row; unbounded, one anonymous request held a worker and the database for minutes.

Checked after the request gate has validated the arguments (query_service/admission.py), and
answered like any other invalid argument: 422 with `errors.query.<name>`, items reported by
index."""

from __future__ import annotations

from typing import Mapping

from configuration.settings import QueryLimits
from http_api import errors
from query_service.listing import sort_keys


class RequestLimits:
    def __init__(self, limits: QueryLimits):
        self.limits = limits

    def problems(self, query: Mapping) -> dict:
        limits, found = self.limits, {}
        for name, most in (("filters", limits.filters), ("tags_ids", limits.filters), ("terms", limits.terms)):
            items = query.get(name) or ()
            if len(items) > most:
                found[name] = [f"At most {most} per request, not {len(items)}."]
                continue
            too_long = {
                str(index): [f"Longer than {limits.term_length} characters."]
                for index, item in enumerate(items)
                if len(str(item)) > limits.term_length
            }
            if too_long:
                found[name] = too_long
        if "sort_by" in query:
            keys = sort_keys(query["sort_by"])
            if len(keys) > limits.sort_keys:
                found["sort_by"] = [f"At most {limits.sort_keys} sort keys per request, not {len(keys)}."]
            elif any(len(key) > limits.term_length for key in keys):
                found["sort_by"] = [f"A sort key is longer than {limits.term_length} characters."]
        return found

    def check(self, query: Mapping) -> None:
        found = self.problems(query)
        if found:
            raise errors.invalid("query", found)
