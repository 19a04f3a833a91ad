"""`eosc-perf import-legacy`: moving in from the original EOSC Performance backend (issue 14).

`source` reads its PostgreSQL database read only; `translation` turns each row into the domain
events that would have produced it; `importer` writes them in batches and can resume;
`findings` names every row skipped, adjusted or kept as it is.
"""
