"""Each legacy row becomes the events that would have produced it, built through the domain's
aggregates with the row's own id and the original's times.

The library stamps an event with the time it is triggered unless it is given one:
`Aggregate._create(event_class, id=..., timestamp=...)` and `trigger_event(..., timestamp=...)`
take the original's time, so an imported benchmark's `upload_datetime` (the time of its
Submitted event) is the original's. The original keeps no time for approvals, admin deletions
and claim approvals: those events carry the time of the row they concern. Tags have no time
at all: a tag is created when the first result carrying it was uploaded (unused tags: when the
import started). Legacy times are naive; the original's deployments run in UTC.

Translation is pure: it builds aggregates (with their pending events) and notes findings; the
importer decides which to save. Each table's rows may refer only to rows of earlier tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from uuid import UUID

from eventsourcing.domain import Aggregate

from command_service.services import schemas
from domain import benchmark as benchmarks
from domain import flavor as flavors
from domain import site as sites
from domain import tag as tags
from domain.actor import Actor
from domain.benchmark import Benchmark
from domain.claim import Claim
from domain.errors import InvalidDocument
from domain.flavor import Flavor
from domain.legacy_import import ACTOR
from domain.result import Result
from domain.review import APPROVED, ON_REVIEW, ReviewedItem
from domain.site import Site
from domain.tag import Tag
from domain.transcoding import loads
from domain.unique_key import UniqueKey
from domain.user import User
from legacy_import.findings import Findings
from legacy_import.schema_check import ResultCheck, described


def at(naive: datetime) -> datetime:
    """A legacy time (naive, UTC) as an event time."""
    return naive.replace(tzinfo=timezone.utc)


def iso(value: datetime) -> str:
    return value.isoformat()


@dataclass
class Translated:
    """What one legacy row becomes: aggregates to save, and the time of its submit report when
    it waits for review."""

    aggregates: list[Aggregate] = field(default_factory=list)
    submits: dict[str, datetime] = field(default_factory=dict)


SKIPPED = Translated()


class Translation:
    def __init__(self, started: datetime, first_uploads: dict, first_uses: dict, findings: Findings):
        """`started`: when the import started; `first_uploads`: (sub, iss) -> first upload;
        `first_uses`: tag id -> first upload of a result carrying it."""
        self.started = started
        self.first_uploads = first_uploads
        self.first_uses = first_uses
        self.findings = findings
        self.users: set[tuple[str, str]] = set()
        self.tags: dict[str, UUID] = {}
        self.sites: dict[str, Site] = {}
        self.flavors: dict[str, Flavor] = {}
        self.benchmarks: dict[str, Benchmark] = {}
        self._keys: dict[tuple[str, str], str] = {}  # (scope, natural key) -> owner id
        self.result_check = ResultCheck()

    # -- helpers --------------------------------------------------------------------------------

    def _uploader(self, table: str, row: dict) -> Actor | None:
        uploader = (row["uploader_sub"], row["uploader_iss"])
        if uploader not in self.users:
            self.findings.add("missing-reference", table, row["id"], f"uploader {uploader[0]}@{uploader[1]}")
            return None
        return Actor(*uploader)

    def _key(self, scope: str, key: str, table: str, row: dict, when: datetime) -> UniqueKey | None:
        """The uniqueness key of a new item, or None (noted) when an earlier row holds it."""
        holder = self._keys.setdefault((scope, key), row["id"])
        if holder != row["id"]:
            self.findings.add("duplicate-key", table, row["id"], f"{scope} {key!r} is {holder}'s")
            return None
        return UniqueKey._create(UniqueKey.Reserved, scope=scope, key=key, owner_id=UUID(row["id"]), timestamp=when)

    def _reviewed(
        self, cls: type[ReviewedItem], row: dict, scope: str, key: str, imported: dict, **fields
    ) -> Translated:
        """A benchmark, site or flavor with its uniqueness key: submitted by its uploader and,
        when approved, approved. `imported` keeps it for the rows that refer to it."""
        table = cls.kind.lower()
        when = at(row["upload_datetime"])
        uploader = self._uploader(table, row)
        unique = uploader and self._key(scope, key, table, row, when)
        if unique is None:
            return SKIPPED
        item = cls._create(cls.Submitted, id=UUID(row["id"]), timestamp=when, actor=uploader, **fields)
        imported[row["id"]] = item
        status = row["status"]
        if status is None:
            self.findings.add("status-missing", table, row["id"])
            status = ON_REVIEW
        submitted = row["submitted"]
        if status == APPROVED:
            item.trigger_event(cls.Approved, actor=ACTOR, timestamp=when)
            if submitted is not None:
                self.findings.add("submit-left", table, row["id"])
            return Translated([item, unique])
        if submitted is None:
            self.findings.add("submit-missing", table, row["id"])
            submitted = row["upload_datetime"]
        return Translated([item, unique], {row["id"]: submitted})

    # -- users and tags -------------------------------------------------------------------------

    def user(self, row: dict) -> Translated:
        identity = (row["sub"], row["iss"])
        registered = row["registration_datetime"]
        first = self.first_uploads.get(identity)
        if first is not None and first < registered:
            self.findings.add(
                "registered-after-upload",
                "user",
                f"{row['sub']}@{row['iss']}",
                f"registered {iso(registered)}, first upload {iso(first)}",
            )
            registered = first
        self.users.add(identity)
        user = User._create(
            User.Registered,
            sub=row["sub"],
            iss=row["iss"],
            email=row["email"],
            actor=Actor(*identity),
            timestamp=at(registered),
        )
        return Translated([user])

    def tag(self, row: dict) -> Translated:
        first_use = self.first_uses.get(row["id"])
        when = at(first_use) if first_use is not None else self.started
        key = self._key(tags.UNIQUE_SCOPE, row["name"], "tag", row, when)
        if key is None:
            return SKIPPED
        self.tags[row["id"]] = UUID(row["id"])
        tag = Tag._create(
            Tag.Created,
            id=UUID(row["id"]),
            timestamp=when,
            name=row["name"],
            description=row["description"],
            actor=ACTOR,
        )
        return Translated([tag, key])

    # -- benchmarks, sites, flavors ----------------------------------------------------------------

    def site(self, row: dict) -> Translated:
        return self._reviewed(
            Site,
            row,
            sites.UNIQUE_SCOPE,
            row["name"],
            self.sites,
            name=row["name"],
            address=row["address"],
            description=row["description"],
        )

    def flavor(self, row: dict) -> Translated:
        if row["site_id"] not in self.sites:
            self.findings.add("missing-reference", "flavor", row["id"], f"site {row['site_id']}")
            return SKIPPED
        site_id = self.sites[row["site_id"]].id
        return self._reviewed(
            Flavor,
            row,
            flavors.UNIQUE_SCOPE,
            flavors.unique_name(site_id, row["name"]),
            self.flavors,
            site_id=site_id,
            name=row["name"],
            description=row["description"],
        )

    def benchmark(self, row: dict) -> Translated:
        translated = self._reviewed(
            Benchmark,
            row,
            benchmarks.UNIQUE_SCOPE,
            benchmarks.unique_name(row["docker_image"], row["docker_tag"]),
            self.benchmarks,
            docker_image=row["docker_image"],
            docker_tag=row["docker_tag"],
            url=row["url"],
            json_schema=row["json_schema"],
            description=row["description"],
        )
        if translated.aggregates:
            try:
                schemas.check_benchmark_schema(row["json_schema"])
            except InvalidDocument as error:
                self.findings.add("invalid-benchmark-schema", "benchmark", row["id"], described(error))
        return translated

    # -- results and their claims ------------------------------------------------------------------

    def result(self, row: dict) -> Translated:
        """Uploaded with its tags; then claimed (and the claim approved) or deleted, as the
        original's `deleted` flag and claim link say."""
        uploader = self._uploader("result", row)
        if uploader is None or not self._references_found(row):
            return SKIPPED
        document = loads(row["json"])  # orjson where it reads as json.loads does: a third of the time
        if not isinstance(document, dict):
            self.findings.add("not-an-object", "result", row["id"], type(document).__name__)
            return SKIPPED
        benchmark, flavor = self.benchmarks[row["benchmark_id"]], self.flavors[row["flavor_id"]]
        site = self.sites[row["site_id"]]
        self._check_result(row, document, benchmark, flavor, site)
        tags_ids = []
        for tag_id in row["tags_ids"]:
            if tag_id in self.tags:
                tags_ids.append(self.tags[tag_id])
            else:
                self.findings.add("unknown-tag", "result", row["id"], f"tag {tag_id}")
        uploaded = at(row["upload_datetime"])
        result = Result._create(
            Result.Uploaded,
            id=UUID(row["id"]),
            timestamp=uploaded,
            benchmark_id=benchmark.id,
            flavor_id=flavor.id,
            site_id=site.id,
            execution_datetime=row["execution_datetime"],
            json=document,
            tags_ids=tags_ids,
            actor=uploader,
        )
        translated = Translated([result])
        claimed = row["claim_id"] is not None and self._claim(row, result, translated)
        if row["deleted"] and not claimed:
            # Hidden without a claim: deleted by an admin, or left hidden by a rejected claim;
            # the original keeps no difference. Imported as deleted.
            result.trigger_event(Result.Deleted, actor=ACTOR, reason="deleted", timestamp=uploaded)
        return translated

    def _references_found(self, row: dict) -> bool:
        for name, known in (("benchmark", self.benchmarks), ("flavor", self.flavors), ("site", self.sites)):
            if row[f"{name}_id"] not in known:
                self.findings.add("missing-reference", "result", row["id"], f"{name} {row[f'{name}_id']}")
                return False
        return True

    def _check_result(self, row: dict, document: dict, benchmark: Benchmark, flavor: Flavor, site: Site) -> None:
        """Notes what the original would have refused on upload; the row is imported as it is."""
        id = row["id"]
        violation = self.result_check.violation(document, benchmark)
        if violation is not None:
            self.findings.add("schema-violation", "result", id, violation)
        for name, item in (("benchmark", benchmark), ("flavor", flavor)):
            if item.status != APPROVED:
                self.findings.add("unapproved-reference", "result", id, f"{name} {item.id} is {item.status}")
        if flavor.site_id != site.id:
            self.findings.add("site-mismatch", "result", id, f"site {site.id}, flavor's site {flavor.site_id}")
        uploaded = at(row["upload_datetime"])
        late = [item.kind.lower() for item in (benchmark, site, flavor) if uploaded < item.created_on]
        if late:
            self.findings.add("uploaded-before-reference", "result", id, f"uploaded before its {', '.join(late)}")
        if row["execution_datetime"] > row["upload_datetime"]:
            self.findings.add(
                "executed-after-upload",
                "result",
                id,
                f"executed {iso(row['execution_datetime'])}, uploaded {iso(row['upload_datetime'])}",
            )

    def _claim(self, row: dict, result: Result, translated: Translated) -> bool:
        """The result's claim, submitted (and approved); False when it cannot be imported."""
        claimer = (row["claim_sub"], row["claim_iss"])
        if claimer not in self.users:
            self.findings.add("missing-reference", "claim", row["claim_id"], f"uploader {claimer[0]}@{claimer[1]}")
            return False
        if not row["deleted"]:
            self.findings.add("claimed-but-visible", "result", row["id"], f"claim {row['claim_id']}")
        when = at(row["claim_datetime"])
        claim = Claim._create(
            Claim.Submitted,
            id=UUID(row["claim_id"]),
            timestamp=when,
            result_id=result.id,
            message=row["claim_message"],
            actor=Actor(*claimer),
        )
        result.trigger_event(Result.Claimed, claim_id=claim.id, actor=Actor(*claimer), timestamp=when)
        translated.aggregates.append(claim)
        if row["claim_status"] == APPROVED:
            claim.trigger_event(Claim.Approved, actor=ACTOR, timestamp=when)
            if row["claim_submitted"] is not None:
                self.findings.add("submit-left", "claim", row["claim_id"])
            return True
        if row["claim_status"] is None:
            self.findings.add("status-missing", "claim", row["claim_id"])
        submitted = row["claim_submitted"]
        if submitted is None:
            self.findings.add("submit-missing", "claim", row["claim_id"])
            submitted = row["claim_datetime"]
        translated.submits[row["claim_id"]] = submitted
        return True
