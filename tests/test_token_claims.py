"""Tokens a trusted provider signed but that must still be refused, through the API on both
deployments: claims of the wrong type (401 on every use, never a 500) and tokens issued to
another client (OIDC_CLIENT_IDS)."""

from __future__ import annotations

import pytest

INVALID_TIMES = "Token claims are invalid: exp, nbf and iat must be numbers"


@pytest.mark.parametrize("claims", [{"exp": "9999999999"}, {"nbf": "0"}, {"iat": [1]}, {"exp": True}])
def test_a_token_with_a_claim_of_the_wrong_type_is_refused_on_every_use(api, claims):
    # Email only from userinfo: the userinfo cache was what turned the second use into a 500.
    token = api.provider.mint("typo", email="typo@example.org", include_email_in_token=False, extra_claims=claims)
    for _ in range(2):
        for method, path in (("POST", "/users:register"), ("GET", "/users/self"), ("GET", "/users/self/results")):
            answer = api.request(method, path, token)
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.json == {"error": "Unauthenticated", "error_description": INVALID_TIMES}


def test_a_token_whose_sub_is_no_string_is_refused(api):
    token = api.provider.mint("x", extra_claims={"sub": 12345})
    answer = api.post("/users:register", token)
    assert answer.status_code == 401
    assert answer.json["error_description"] == "Token is missing the sub claim"


def test_a_token_issued_to_another_client_is_refused(api, callers):
    for audience in ("another-client", ["another-client", "yet-another"], None):
        token = api.provider.mint("alice", email="alice@example.org", audience=audience)
        answer = api.get("/users/self", token)
        assert answer.status_code == 401, audience
        assert answer.json == {
            "error": "Unauthenticated",
            "error_description": "Token is not meant for this service: its audience names no client id of it",
        }
    ours = api.provider.mint("alice", email="alice@example.org", audience=["another-client", "eosc-perf-tests"])
    assert api.get("/users/self", ours).status_code == 200
