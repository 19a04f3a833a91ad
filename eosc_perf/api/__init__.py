"""The API's declarations: every operation with its access level, query and body fields.

One source of truth: the services validate requests with these declarations and the
OpenAPI document is generated from them.
"""
