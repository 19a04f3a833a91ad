"""Moving the event log between stores: `eosc-perf export` and `eosc-perf import` (docs/operations.md)."""
