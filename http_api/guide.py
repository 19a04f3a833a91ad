"""The OpenAPI document's description: what a client needs before the first call (tokens, the
query syntax that the parameters' schemas cannot say, read-your-writes). Swagger UI shows it."""

from __future__ import annotations

GUIDE = """\
Benchmarks (container images with a JSON Schema for their results), sites and their flavors,
tags, and results uploaded by registered users; new items wait for an admin's review, and a
community claim hides a doubtful result until it is decided.

**Tokens.** Reads are public; writes need `Authorization: Bearer <access token>` of a trusted
OpenID Connect provider (production: your community's provider). Register once with
`POST /users:register`. Locally, in development mode, `eosc-perf dev-token --sub alice` prints
a token; paste it into "Authorize" without the word `Bearer`.

**Sorting.** `sort_by=+name,-upload_datetime`: `+` ascending, `-` descending. In a query string
`+` means a space, so send it as `%2B` (`sort_by=%2Bname`); the same holds for the `+` of a time
offset (`execution_datetime=2024-05-21T10:31:00%2B02:00`). Results sort by paths inside their
document with `json.`: `sort_by=-json.score`.

**JSON filters** (results): `filters=<path> <op> <value>`, repeated and ANDed, single spaces
(`%20`). The path is inside the result document, without `json.` (`filters=score > 1`,
`filters=machine.cores == 4`); operators `==`, `>`, `<`, `>=`, `<=`. A value that reads as a
number compares numerically, `true`/`false` as booleans, anything else as text. Results lacking
the path do not match.

**Searching.** `:search` endpoints take `terms`, repeated: every term must occur in one of the
item's searched fields (case-sensitive).

**Read your writes.** Every write answers with `X-Event-Position`. A read that sends it back as
`X-Min-Position` waits (a few seconds at most) until the answer includes that write, or is
answered 503 with `Retry-After`.

**Limits.** Request bodies, strings, document depth and size, filters, sort keys and search
terms per request are bounded; what exceeds them is answered 413 or 422 with a message naming the
limit, and an expensive query 422 once it runs too long.
"""
