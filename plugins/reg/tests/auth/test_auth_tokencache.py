"""Token reuse, expiry, scope merging and renewal, and the guard against retry loops."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import requests
from authfakes import (
    PULL_A,
    PUSH_A,
    SECRET,
    Clock,
    Fake,
    learn,
    make_auth,
    send,
)

from ocistore_reg.credentials import Credential

# -- caching, expiry, scopes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_in", "issued_ago", "still_cached_at", "renewed_at"),
    [
        (300, None, 294, 296),  # renew ~5 s before expiry
        (60, None, 54, 56),
        (10, None, 54, 56),  # under 60 counts as 60
        (None, None, 54, 56),  # missing: default 60
        (120, 30, 84, 86),  # counted from issued_at, not receipt
        (60, 3600, 9, 11),  # a badly skewed issued_at still leaves a short use
    ],
)
def test_token_caching_and_expiry(
    fake: Fake,
    session: requests.Session,
    expires_in: int | None,
    issued_ago: int | None,
    still_cached_at: float,
    renewed_at: float,
) -> None:
    fake.expires_in = expires_in
    if issued_ago is not None:
        issued = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=issued_ago)
        fake.issued_at = issued.strftime("%Y-%m-%dT%H:%M:%S.%f123Z")  # Go-style nanoseconds
    clock = Clock()
    auth = make_auth(fake, session, clock=clock)
    learn(auth, fake, session)
    first = auth.headers_for(PULL_A)
    assert len(fake.token_hits()) == 1
    clock.now += still_cached_at
    assert auth.headers_for(PULL_A) == first
    assert len(fake.token_hits()) == 1
    clock.now += renewed_at - still_cached_at
    second = auth.headers_for(PULL_A)
    assert second != first
    assert len(fake.token_hits()) == 2


def test_scope_merge_and_cover(fake: Fake, session: requests.Session) -> None:
    auth = make_auth(fake, session, Credential("alice", SECRET))
    learn(auth, fake, session)
    fake.hits.clear()
    header = auth.headers_for(["repository:a/b:push", "repository:a/b:pull", "repository:x:pull"])
    (token_hit,) = fake.token_hits()
    assert token_hit.params["scope"] == ["repository:a/b:pull,push", "repository:x:pull"]
    # Anything covered by that token reuses it.
    assert auth.headers_for(["repository:x:pull"]) == header
    assert auth.headers_for(["repository:a/b:push"]) == header
    assert len(fake.token_hits()) == 1
    # A new resource needs a new token.
    assert auth.headers_for(["repository:y:pull"]) != header
    assert len(fake.token_hits()) == 2


def test_scope_from_challenge_is_added(fake: Fake, session: requests.Session) -> None:
    auth = make_auth(fake, session)
    response = send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", [])
    assert response.status_code == 200
    assert fake.token_hits()[0].params["scope"] == ["repository:a/b:pull"]


def test_new_scope_is_a_new_challenge(fake: Fake, session: requests.Session) -> None:
    """A token good for pull, then a push: insufficient_scope -> fetch once more -> ok."""
    auth = make_auth(fake, session, Credential("alice", SECRET))
    learn(auth, fake, session)
    pull_header = auth.headers_for(PULL_A)
    # The transport (wrongly) sends the pull token for a push; the 401 must lead to a retry.
    response = session.put(f"{fake.url}/v2/a/b/manifests/latest", headers=pull_header)
    assert response.status_code == 401
    assert auth.handle_challenge(response, PUSH_A) is True
    retry = session.put(f"{fake.url}/v2/a/b/manifests/latest", headers=auth.headers_for(PUSH_A))
    assert retry.status_code == 200


def test_invalid_token_is_renewed_once(fake: Fake, session: requests.Session) -> None:
    clock = Clock()
    auth = make_auth(fake, session, clock=clock)
    learn(auth, fake, session)
    with fake.lock:
        fake.revoked.update(fake.tokens)
    response = send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", PULL_A)
    assert response.status_code == 200
    assert len(fake.token_hits()) == 2
    # The renewed token failing at once with the challenge it answered: give up.
    fake.reject_all_tokens = True
    fake.hits.clear()
    response = send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", PULL_A)
    assert response.status_code == 401
    assert len(fake.token_hits()) == 0
    assert len(fake.registry_hits()) == 1
    # The rejected token was dropped: the next request fetches one up front, and its
    # failure is worth exactly one renewal and one retry.
    fake.hits.clear()
    response = send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", PULL_A)
    assert response.status_code == 401
    assert len(fake.token_hits()) == 2
    assert len(fake.registry_hits()) == 2


def test_same_challenge_much_later_is_renewed(fake: Fake, session: requests.Session) -> None:
    clock = Clock()
    auth = make_auth(fake, session, clock=clock)
    learn(auth, fake, session)
    url = f"{fake.url}/v2/a/b/manifests/latest"
    with fake.lock:
        fake.revoked.update(fake.tokens)
    assert send(auth, session, "GET", url, PULL_A).status_code == 200
    # The renewed token answered an invalid_token challenge; two minutes later it is revoked
    # too. Same challenge, but not a loop: renew once more.
    clock.now += 120
    with fake.lock:
        fake.revoked.update(fake.tokens)
    fake.hits.clear()
    assert send(auth, session, "GET", url, PULL_A).status_code == 200
    assert len(fake.token_hits()) == 1
    assert len(fake.registry_hits()) == 2


def test_same_challenge_returns_false(fake: Fake, session: requests.Session) -> None:
    auth = make_auth(fake, session)
    url = f"{fake.url}/v2/a/b/manifests/latest"
    first = session.put(url, headers=auth.headers_for(PUSH_A))
    assert auth.handle_challenge(first, PUSH_A) is True
    second = session.put(url, headers=auth.headers_for(PUSH_A))
    assert second.status_code == 401
    assert auth.handle_challenge(second, PUSH_A) is False
    assert auth.handle_challenge(second, PUSH_A) is False
    assert len(fake.token_hits()) == 1


def test_concurrent_requests_fetch_one_token(fake: Fake, session: requests.Session) -> None:
    auth = make_auth(fake, session)
    learn(auth, fake, session)
    fake.hits.clear()
    barrier = threading.Barrier(8)
    results: list[dict[str, str]] = []

    def work() -> None:
        barrier.wait()
        results.append(auth.headers_for(["repository:new:pull"]))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fake.token_hits()) == 1
    assert len({r["Authorization"] for r in results}) == 1
