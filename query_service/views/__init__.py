"""Read queries, one module per resource; each function answers one query shape with JSON text."""
