"""The HTTP contract shared by both services: every operation with its access level, query and
body fields (`operations`, `fields`), request parsing and bounds (`requests`, `bounds`), the
OpenAPI document generated from them (`openapi`), the access gate (`access`), error rendering in
the contract's bodies, domain errors included (`errors`), the public JSON documents
(`documents`) and the headers of every answer (`response_headers`).

One source of truth: the services validate requests with these declarations and the OpenAPI
document is generated from them. It may import `domain`, `configuration` and `identity`, never a
service, the projectors or the composition root (`eosc_perf`).
"""
