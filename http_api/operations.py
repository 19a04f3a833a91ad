"""Every operation of the EOSC Performance API v1 (contract §5), in the contract's order.

`query=None` means the operation declares no query arguments and ignores unknown ones;
`query=()` with `strict_query=True` declares none and rejects any (the contract's
"422 (after auth)"). `body=ANY_OBJECT` accepts any JSON object (a result document).
"""

from __future__ import annotations

from dataclasses import dataclass

from http_api.fields import Field

ANY_OBJECT = "any-object"


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str  # OpenAPI form, colon literal: /benchmarks/{benchmark_id}:approve
    summary: str
    tag: str
    access: str = "public"
    query: tuple[Field, ...] | None = None
    strict_query: bool = True
    body: tuple[Field, ...] | str | None = None
    response: str | None = None  # component schema name; "Page:<Item>" for paginated lists
    status: int = 200
    default_sort: str = ""

    @property
    def route(self) -> str:
        """Falcon's URI template: ids are UUIDs, so other segments do not match (404)."""
        return self.path.replace("_id}", "_id:uuid}")

    @property
    def field_names(self) -> set[str]:
        return {f.name for f in self.query or ()}


# --- shared query fields -------------------------------------------------------------------
PAGE = (
    Field("per_page", "integer", default=100, minimum=1, maximum=100, description="Items per page (1-100)."),
    Field("page", "integer", default=1, minimum=1, description="Page number, from 1."),
)
UPLOAD_DATES = (
    Field("upload_before", "date", description="Uploaded before this day (YYYY-MM-DD, exclusive)."),
    Field("upload_after", "date", description="Uploaded after this day (YYYY-MM-DD, 00:00 exclusive)."),
)
EXECUTION_DATES = (
    Field("execution_before", "date", description="Executed before this day (YYYY-MM-DD, UTC, exclusive)."),
    Field("execution_after", "date", description="Executed after this day (YYYY-MM-DD, UTC, 00:00 exclusive)."),
)
STATUS = Field("status", "enum", default="approved", choices=("on_review", "approved"), description="Review status.")
TERMS = Field("terms", many=True, default=(), description="Search terms; every term must match a field.")


# Event positions are BIGINT in the stores: a larger number is refused (422), not sent to the database.
POSITION_MAX = 2**63 - 1
AFTER = Field("after", "integer", default=0, minimum=0, maximum=POSITION_MAX, description="Events after this position.")


def sort_by(default: str, fields: str) -> Field:
    return Field(
        "sort_by",
        default=default,
        description=f"Comma-separated `+field` (ascending, send `%2B`) or `-field`. Fields: {fields}.",
        example=default or None,
    )


RESULT_FILTERS = (
    *UPLOAD_DATES,
    *EXECUTION_DATES,
    Field("benchmark_id", "uuid"),
    Field("site_id", "uuid"),
    Field("flavor_id", "uuid"),
    Field("tags_ids", "uuid", many=True, default=(), description="Results carrying every one of these tags."),
    Field(
        "filters",
        many=True,
        default=(),
        description="JSON filters `path op value` (space separated, op one of == > < >= <=).",
        example=["machine.cpu.count > 4"],
    ),
)
RESULT_SORT = (
    "id, upload_datetime, execution_datetime, benchmark_id, benchmark_name, site_id, site_name, "
    "site_address, flavor_id, flavor_name, json, json.<path>"
)
BENCHMARK_SORT = "id, upload_datetime, docker_image, docker_tag, name, url, description, status"
SITE_SORT = "id, upload_datetime, name, address, description, status"
FLAVOR_SORT = "id, upload_datetime, name, description, site_id, status"
TAG_SORT = "id, name, description"
USER_SORT = "sub, iss, email, registration_datetime"
CLAIM_SORT = "id, status, upload_datetime, resource_type, message"
SUBMIT_SORT = "id, upload_datetime, resource_type"

DESCRIPTION = Field("description", limit="text", description="Free text.")


def _item_bodies(*required: Field) -> tuple[Field, ...]:
    return (*required, DESCRIPTION)


BENCHMARK_BODY = _item_bodies(
    Field("docker_image", required=True, limit="name", example="deephdc/deep-oc-benchmarks_cnn"),
    Field("docker_tag", required=True, limit="name", example="latest"),
    Field("url", required=True, limit="url", example="https://github.com/org/benchmark"),
    Field("json_schema", "object", required=True, limit="schema", openapi={"type": "object"}),
)
SITE_BODY = _item_bodies(Field("name", required=True, limit="name"), Field("address", required=True, limit="text"))
NAMED_BODY = _item_bodies(Field("name", required=True, limit="name"))
CLAIM_BODY = (Field("message", required=True, limit="text"),)
TAGS_BODY = (Field("tags_ids", "uuid", many=True),)


def _reviewed(kind: str, plural: str, id_name: str, label: str, sort: str, filters: tuple[Field, ...], body):
    """The eight operations every reviewed catalog kind shares (benchmarks and sites)."""
    base = f"/{plural}"
    item = f"{base}/{{{id_name}}}"
    return [
        Operation(
            f"List{kind}s",
            "GET",
            base,
            f"List {label}s",
            plural,
            query=(*PAGE, *UPLOAD_DATES, STATUS, *filters, sort_by(f"+{filters[0].name}", sort)),
            response=f"Page:{kind}",
            default_sort=f"+{filters[0].name}",
        ),
        Operation(
            f"Create{kind}",
            "POST",
            base,
            f"Submit a new {label}",
            plural,
            access="user",
            strict_query=False,
            query=None,
            body=body,
            response=kind,
            status=201,
        ),
        Operation(
            f"Search{kind}s",
            "GET",
            f"{base}:search",
            f"Search {label}s",
            plural,
            query=(*PAGE, *UPLOAD_DATES, STATUS, TERMS, sort_by("", sort)),
            response=f"Page:{kind}",
        ),
        Operation(
            f"Get{kind}",
            "GET",
            item,
            f"Retrieve a {label}",
            plural,
            query=(),
            strict_query=kind == "Benchmark",
            response=kind,
        ),
        Operation(
            f"Update{kind}",
            "PUT",
            item,
            f"Update a {label}",
            plural,
            access="admin",
            strict_query=False,
            body=body,
            status=204,
        ),
        Operation(
            f"Delete{kind}",
            "DELETE",
            item,
            f"Delete a {label} and what depends on it",
            plural,
            access="admin",
            query=(),
            strict_query=kind == "Benchmark",
            status=204,
        ),
        Operation(
            f"Approve{kind}",
            "POST",
            f"{item}:approve",
            f"Approve a submitted {label}",
            plural,
            access="admin",
            query=(),
            strict_query=kind == "Benchmark",
            status=204,
        ),
        Operation(
            f"Reject{kind}",
            "POST",
            f"{item}:reject",
            f"Reject (remove) a submitted {label}",
            plural,
            access="admin",
            query=(),
            strict_query=kind == "Benchmark",
            status=204,
        ),
    ]


OPERATIONS: tuple[Operation, ...] = (
    *_reviewed(
        "Benchmark",
        "benchmarks",
        "benchmark_id",
        "benchmark",
        BENCHMARK_SORT,
        (Field("docker_image"), Field("docker_tag")),
        BENCHMARK_BODY,
    ),
    *_reviewed("Site", "sites", "site_id", "site", SITE_SORT, (Field("name"), Field("address")), SITE_BODY),
    Operation(
        "ListFlavors",
        "GET",
        "/sites/{site_id}/flavors",
        "List the flavors of a site",
        "sites",
        query=(*PAGE, *UPLOAD_DATES, STATUS, Field("name"), sort_by("+name", FLAVOR_SORT)),
        response="Page:Flavor",
        default_sort="+name",
    ),
    Operation(
        "AddFlavor",
        "POST",
        "/sites/{site_id}/flavors",
        "Submit a new flavor of a site",
        "sites",
        access="user",
        strict_query=False,
        body=NAMED_BODY,
        response="Flavor",
        status=201,
    ),
    Operation(
        "SearchFlavor",
        "GET",
        "/sites/{site_id}/flavors:search",
        "Search the flavors of a site",
        "sites",
        query=(*PAGE, *UPLOAD_DATES, STATUS, TERMS, sort_by("", FLAVOR_SORT)),
        response="Page:Flavor",
    ),
    Operation(
        "GetFlavor",
        "GET",
        "/flavors/{flavor_id}",
        "Retrieve a flavor",
        "flavors",
        strict_query=False,
        response="Flavor",
    ),
    Operation(
        "UpdateFlavor",
        "PUT",
        "/flavors/{flavor_id}",
        "Update a flavor",
        "flavors",
        access="admin",
        strict_query=False,
        body=NAMED_BODY,
        status=204,
    ),
    Operation(
        "DeleteFlavor",
        "DELETE",
        "/flavors/{flavor_id}",
        "Delete a flavor and its results",
        "flavors",
        access="admin",
        strict_query=False,
        status=204,
    ),
    Operation(
        "ApproveFlavor",
        "POST",
        "/flavors/{flavor_id}:approve",
        "Approve a submitted flavor",
        "flavors",
        access="admin",
        strict_query=False,
        status=204,
    ),
    Operation(
        "RejectFlavor",
        "POST",
        "/flavors/{flavor_id}:reject",
        "Reject (remove) a submitted flavor",
        "flavors",
        access="admin",
        strict_query=False,
        status=204,
    ),
    Operation(
        "GetFlavorSite",
        "GET",
        "/flavors/{flavor_id}/site",
        "Retrieve the site of a flavor",
        "flavors",
        strict_query=False,
        response="Site",
    ),
    Operation(
        "ListTags",
        "GET",
        "/tags",
        "List tags",
        "tags",
        query=(*PAGE, Field("name"), sort_by("+name", TAG_SORT)),
        response="Page:Tag",
        default_sort="+name",
    ),
    Operation(
        "CreateTag",
        "POST",
        "/tags",
        "Create a tag",
        "tags",
        access="user",
        strict_query=False,
        body=NAMED_BODY,
        response="Tag",
        status=201,
    ),
    Operation(
        "SearchTag",
        "GET",
        "/tags:search",
        "Search tags",
        "tags",
        query=(*PAGE, TERMS, sort_by("", TAG_SORT)),
        response="Page:Tag",
    ),
    Operation("GetTag", "GET", "/tags/{tag_id}", "Retrieve a tag", "tags", strict_query=False, response="Tag"),
    Operation(
        "UpdateTag",
        "PUT",
        "/tags/{tag_id}",
        "Update a tag",
        "tags",
        access="admin",
        strict_query=False,
        body=NAMED_BODY,
        status=204,
    ),
    Operation(
        "DeleteTag",
        "DELETE",
        "/tags/{tag_id}",
        "Delete a tag (results keep existing)",
        "tags",
        access="admin",
        strict_query=False,
        status=204,
    ),
    Operation(
        "ListResults",
        "GET",
        "/results",
        "List results",
        "results",
        query=(*PAGE, *RESULT_FILTERS, sort_by("+execution_datetime", RESULT_SORT)),
        response="Page:Result",
        default_sort="+execution_datetime",
    ),
    Operation(
        "CreateResult",
        "POST",
        "/results",
        "Upload a result",
        "results",
        access="user",
        query=(
            Field(
                "execution_datetime",
                "datetime",
                required=True,
                example="2024-05-21T10:31:00+00:00",
                description="When the benchmark ran, with a timezone offset.",
            ),
            Field("benchmark_id", "uuid", required=True),
            Field("flavor_id", "uuid", required=True),
            Field("tags_ids", "uuid", many=True, default=()),
        ),
        body=ANY_OBJECT,
        response="Result",
        status=201,
    ),
    Operation(
        "SearchResults",
        "GET",
        "/results:search",
        "Search results",
        "results",
        query=(*PAGE, *UPLOAD_DATES, TERMS, sort_by("", RESULT_SORT)),
        response="Page:Result",
    ),
    Operation(
        "GetResult",
        "GET",
        "/results/{result_id}",
        "Retrieve a result",
        "results",
        strict_query=False,
        response="Result",
    ),
    Operation(
        "DeleteResult",
        "DELETE",
        "/results/{result_id}",
        "Delete (hide) a result",
        "results",
        access="admin",
        strict_query=False,
        status=204,
    ),
    Operation(
        "ClaimReport",
        "POST",
        "/results/{result_id}:claim",
        "Claim a result is doubtful",
        "results",
        access="user",
        strict_query=False,
        body=CLAIM_BODY,
        response="Claim",
        status=201,
    ),
    Operation(
        "UpdateResult",
        "PUT",
        "/results/{result_id}/tags",
        "Replace the tags of a result",
        "results",
        access="user",
        strict_query=False,
        body=TAGS_BODY,
        status=204,
    ),
    Operation(
        "ListResultClaims",
        "GET",
        "/results/{result_id}/claims",
        "List the claims of a result",
        "results",
        access="user",
        query=(*PAGE, *UPLOAD_DATES, STATUS, sort_by("+upload_datetime", CLAIM_SORT)),
        response="Page:Claim",
        default_sort="+upload_datetime",
    ),
    Operation(
        "ResultUploader",
        "GET",
        "/results/{result_id}/uploader",
        "Retrieve the uploader of a result",
        "results",
        access="admin",
        strict_query=False,
        response="User",
    ),
    Operation(
        "ListSubmits",
        "GET",
        "/reports/submits",
        "List items waiting for review",
        "reports",
        access="admin",
        query=(
            *PAGE,
            *UPLOAD_DATES,
            Field("resource_type", "enum", choices=("benchmark", "claim", "site", "flavor")),
            sort_by("+resource_type", SUBMIT_SORT),
        ),
        response="Page:Submit",
        default_sort="+resource_type",
    ),
    Operation(
        "ListClaims",
        "GET",
        "/reports/claims",
        "List claims",
        "reports",
        access="admin",
        query=(*PAGE, *UPLOAD_DATES, STATUS, sort_by("+upload_datetime", CLAIM_SORT)),
        response="Page:Claim",
        default_sort="+upload_datetime",
    ),
    Operation(
        "GetClaim",
        "GET",
        "/reports/claims/{report_id}",
        "Retrieve a claim",
        "reports",
        access="admin",
        strict_query=False,
        response="Claim",
    ),
    Operation(
        "ApproveClaim",
        "POST",
        "/reports/claims/{report_id}:approve",
        "Approve a claim (result stays hidden)",
        "reports",
        access="admin",
        query=(),
        status=204,
    ),
    Operation(
        "RejectClaim",
        "POST",
        "/reports/claims/{report_id}:reject",
        "Reject a claim (may restore the result)",
        "reports",
        access="admin",
        query=(),
        status=204,
    ),
    Operation(
        "ListUsers",
        "GET",
        "/users",
        "List users",
        "users",
        access="admin",
        query=(*PAGE, Field("sub"), Field("iss"), Field("email"), sort_by("+iss,+sub", USER_SORT)),
        response="Page:User",
        default_sort="+iss,+sub",
    ),
    Operation(
        "RegisterSelf",
        "POST",
        "/users:register",
        "Register the caller",
        "users",
        access="token",
        strict_query=False,
        response="User",
        status=201,
    ),
    Operation(
        "RemoveUsers",
        "POST",
        "/users:remove",
        "Remove and ban users (sub and iss together, or email), with their results and claims",
        "users",
        access="admin",
        query=(Field("sub"), Field("iss"), Field("email")),
        status=204,
    ),
    Operation(
        "RestoreUser",
        "POST",
        "/users:restore",
        "Lift the ban of a removed user: they may register again",
        "users",
        access="admin",
        query=(Field("sub", required=True), Field("iss", required=True)),
        status=204,
    ),
    Operation(
        "SearchUsers",
        "GET",
        "/users:search",
        "Search users by email",
        "users",
        access="admin",
        query=(*PAGE, TERMS, sort_by("", USER_SORT)),
        response="Page:User",
    ),
    Operation(
        "GetSelf",
        "GET",
        "/users/self",
        "Retrieve the caller's registration",
        "users",
        access="token",
        strict_query=False,
        response="User",
    ),
    Operation(
        "UpdateSelf",
        "POST",
        "/users/self:update",
        "Refresh the caller's email from the token",
        "users",
        access="user",
        strict_query=False,
        status=204,
    ),
    Operation(
        "TryAdmin",
        "GET",
        "/users/self:try_admin",
        "Succeeds for admins",
        "users",
        access="admin",
        strict_query=False,
        status=204,
    ),
    Operation(
        "ListUserResults",
        "GET",
        "/users/self/results",
        "List the caller's results, hidden ones too",
        "users",
        access="user",
        query=(*PAGE, *RESULT_FILTERS, sort_by("+execution_datetime", RESULT_SORT)),
        response="Page:Result",
        default_sort="+execution_datetime",
    ),
    Operation(
        "ListUserClaims",
        "GET",
        "/users/self/claims",
        "List the caller's claims",
        "users",
        access="user",
        query=(*PAGE, *UPLOAD_DATES, STATUS, sort_by("+upload_datetime", CLAIM_SORT)),
        response="Page:Claim",
        default_sort="+upload_datetime",
    ),
    # --- histories, audit search, change feed (issue 12; docs/audit.md) -----------------------
    *(
        Operation(
            f"Get{kind}History",
            "GET",
            f"{item}/history",
            f"The events of a {label}, oldest first{extra}",
            tag,
            access="user",
            query=PAGE,
            response="Page:Event",
        )
        for kind, item, label, tag, extra in (
            ("Benchmark", "/benchmarks/{benchmark_id}", "benchmark", "benchmarks", ""),
            ("Site", "/sites/{site_id}", "site", "sites", ""),
            ("Flavor", "/flavors/{flavor_id}", "flavor", "flavors", ""),
            ("Tag", "/tags/{tag_id}", "tag", "tags", ""),
            ("Result", "/results/{result_id}", "result", "results", ", its claims' included"),
            ("Claim", "/reports/claims/{report_id}", "claim", "reports", ""),
        )
    ),
    Operation(
        "GetUserHistory",
        "GET",
        "/users/self/history",
        "The events of the caller's registration, oldest first",
        "users",
        access="user",
        query=PAGE,
        response="Page:Event",
    ),
    Operation(
        "SearchEvents",
        "GET",
        "/reports/events",
        "Search the event log (audit)",
        "reports",
        access="admin",
        query=(
            *PAGE,
            Field("item_id", "uuid", description="Events of this item."),
            Field("type", description="Event type, e.g. Result.Claimed."),
            Field("actor_sub", description="Events caused by this identity (with actor_iss)."),
            Field("actor_iss"),
            Field("after", "datetime", description="Recorded after this time (ISO 8601; UTC without offset)."),
            Field("before", "datetime", description="Recorded before this time (ISO 8601; UTC without offset)."),
            Field(
                "from_position",
                "integer",
                minimum=0,
                maximum=POSITION_MAX,
                description="Events at this position or later.",
            ),
            sort_by("+position", "position"),
        ),
        response="Page:Event",
        default_sort="+position",
    ),
    Operation(
        "ListEvents",
        "GET",
        "/events",
        "The change feed: events after a position, without personal data",
        "events",
        query=(
            AFTER,
            Field("limit", "integer", default=100, minimum=1, maximum=1000, description="At most this many events."),
        ),
        response="EventFeed",
    ),
    Operation(
        "StreamEvents",
        "GET",
        "/events:stream",
        "The change feed as Server-Sent Events, resumed after the Last-Event-ID header if sent",
        "events",
        query=(AFTER,),
    ),
)

# Reads without `as_of` (query_service/as_of.py): a stream goes on after the request, it has no past state.
WITHOUT_AS_OF = frozenset({"StreamEvents"})

BY_ID = {operation.operation_id: operation for operation in OPERATIONS}
BY_ROUTE = {(operation.method, operation.route): operation for operation in OPERATIONS}
ROUTES = tuple(dict.fromkeys(operation.route for operation in OPERATIONS))
