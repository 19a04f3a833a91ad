"""Application commands: load aggregates from the event store, check invariants, save once."""
