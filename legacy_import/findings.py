"""What the import met that the original itself would not have produced or accepted: each row
skipped, adjusted or kept as it is, named with the reason. Nothing is dropped silently."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Iterable

SKIPPED, ADJUSTED, KEPT = "skipped", "adjusted", "kept as it is"

# kind -> (what the import did, why), in the order the report lists them
KINDS = {
    "orphan-claim": (
        SKIPPED,
        "claims no result refers to: the original keeps only a result's latest claim, "
        "earlier ones lose their result (Q-4); a claim here always belongs to a result",
    ),
    "missing-reference": (SKIPPED, "rows referring to a row that is missing or was skipped"),
    "duplicate-key": (SKIPPED, "rows whose unique name the original's constraints reserve for an earlier row"),
    "not-an-object": (SKIPPED, "result documents that are not JSON objects (the original accepts only objects)"),
    "dangling-submit": (SKIPPED, "submit reports of no item"),
    "registered-after-upload": (
        ADJUSTED,
        "users registered after their first upload (the original stored the "
        "process start time, Q-1): registered at their first upload",
    ),
    "status-missing": (ADJUSTED, "items without a review status: imported as on review"),
    "submit-missing": (ADJUSTED, "items on review without a submit report: their submit is dated with the item"),
    "submit-left": (ADJUSTED, "approved items that still had a submit report: the report is not imported"),
    "claimed-but-visible": (
        ADJUSTED,
        "results shown although claimed: hidden by their claim, as the original hides claimed results",
    ),
    "unknown-tag": (ADJUSTED, "results carrying a tag that is missing: imported without it"),
    "invalid-benchmark-schema": (
        KEPT,
        "benchmarks whose JSON Schema is not a valid Draft-7 schema (the original checks it on creation only, Q-12)",
    ),
    "schema-violation": (KEPT, "results whose document does not satisfy their benchmark's JSON Schema"),
    "unapproved-reference": (KEPT, "results of a benchmark or flavor that is not approved"),
    "site-mismatch": (KEPT, "results whose site is not their flavor's site"),
    "uploaded-before-reference": (KEPT, "results uploaded before their benchmark, site or flavor was"),
    "executed-after-upload": (KEPT, "results executed after they were uploaded"),
}


@dataclass(frozen=True)
class Finding:
    kind: str  # a key of KINDS
    table: str  # the legacy table
    key: str  # the row: its id, or sub@iss for users
    detail: str = ""

    @property
    def action(self) -> str:
        return KINDS[self.kind][0]


class Findings:
    def __init__(self):
        self.found: list[Finding] = []

    def add(self, kind: str, table: str, key: str, detail: str = "") -> None:
        assert kind in KINDS, kind
        self.found.append(Finding(kind, table, key, detail))

    def take(self) -> list[Finding]:
        """The findings so far, leaving none."""
        taken, self.found = self.found, []
        return taken

    def counts(self) -> dict[str, int]:
        return dict(Counter(finding.kind for finding in self.found))

    def lines(self) -> Iterable[str]:
        """The report: per kind, what was done and why, then each row."""
        by_kind: dict[str, list[Finding]] = {}
        for finding in self.found:
            by_kind.setdefault(finding.kind, []).append(finding)
        for kind, (action, reason) in KINDS.items():
            rows = by_kind.get(kind)
            if not rows:
                continue
            yield f"{action.upper()} {len(rows)}: {reason}"
            for finding in rows:
                yield f"  {finding.table} {finding.key}" + (f": {finding.detail}" if finding.detail else "")

    def as_json(self) -> str:
        return json.dumps([{**asdict(finding), "action": finding.action} for finding in self.found], indent=1)
