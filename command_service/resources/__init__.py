"""Falcon resources of the write API: translate a request into one command and answer."""
