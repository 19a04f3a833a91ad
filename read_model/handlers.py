"""Projector handlers of the read model, one module per resource, each named after its events.

`HANDLERS` maps an event class to the function that folds it into the read tables; events
without a handler only advance the projector's position.
"""

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
