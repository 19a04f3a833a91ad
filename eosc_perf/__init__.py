"""Shared plumbing of the EOSC Performance services: settings, identity, errors, CLI."""
