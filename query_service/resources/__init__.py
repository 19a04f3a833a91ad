"""Falcon resources of the read API: translate a request into one view query."""
