"""Who calls: OIDC bearer-token verification (`tokens`) and the development mode's local token
issuer (`dev_tokens`). It may import `configuration` and `http_api.errors` (its 401 answers),
never a service, the projectors or the composition root (`eosc_perf`)."""
