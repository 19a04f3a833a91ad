"""The EOSC Performance domain: aggregates, their events and invariants. No I/O here."""
