"""Projector handlers of the read model, one module per resource, each named after its events.

`HANDLERS` maps an event class to the function that folds it into the read tables; events
without a handler only advance the projector's position.
"""

from domain.benchmark import Benchmark
from domain.claim import Claim
from domain.flavor import Flavor
from domain.result import Result
from domain.site import Site
from domain.tag import Tag
from domain.user import User
from read_model import benchmarks, claims, flavors, legacy, results, sites, tags, users

HANDLERS = {
    **users.HANDLERS,
    **benchmarks.HANDLERS,
    **sites.HANDLERS,
    **flavors.HANDLERS,
    **tags.HANDLERS,
    **results.HANDLERS,
    **claims.HANDLERS,
    **legacy.HANDLERS,
}

# Event types whose consecutive runs one call folds together (see Projector.handle_all).
BULK_HANDLERS = {**results.BULK_HANDLERS}

# Event types whose handlers find rows by their keys alone (ids, sequence numbers): none of them
# searches results by benchmark, site, flavor or uploader, or result tags by tag, as renames and
# removals do. A replay into an empty store creates the indexes of those searches only when an
# event of another type comes (projections/replay.py). Events without a handler search nothing.
FOUND_BY_KEY = frozenset(
    {
        User.Registered,
        User.RegisteredAgain,
        User.EmailUpdated,
        Benchmark.Submitted,
        Benchmark.Approved,
        Site.Submitted,
        Site.Approved,
        Flavor.Submitted,
        Flavor.Approved,
        Tag.Created,
        Result.Uploaded,
        results.PreparedUpload,
        Result.TagsReplaced,
        Result.Claimed,
        Result.Restored,
        Result.Deleted,
        Claim.Submitted,
        Claim.Approved,
        Claim.Rejected,
    }
)
