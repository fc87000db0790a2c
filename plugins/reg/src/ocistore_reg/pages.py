"""Lists that come in pages linked by ``Link: <url>; rel="next"`` (tags, catalog)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from ocistore.errors import (
    InvalidOptionError,
    OCIStoreError,
    RegistryError,
    SizeLimitExceededError,
)
from ocistore_reg.http import Transport, read_limited
from ocistore_reg.translate import raise_for
from ocistore_reg.urls import add_query, next_link, redact

__all__ = ["MAX_PAGES", "PAGE_LIMIT", "collect_names"]

#: The most bytes read for one page of names.
PAGE_LIMIT = 32 * 1024 * 1024
#: A registry that links pages in a circle, or on and on, must not keep us busy forever: a
#: loop, or more pages than this, is an error (a partial list would look like the whole one).
MAX_PAGES = 10_000


def _page(body: bytes, key: str, what: str) -> list[str]:
    """The names in one page; JSON whatever the Content-Type (some send text/plain)."""
    try:
        doc: Any = json.loads(body)
    except (ValueError, RecursionError):
        raise RegistryError(f"{what}: the answer is not JSON", status=200) from None
    if not isinstance(doc, dict):
        raise RegistryError(f"{what}: the answer is not a JSON object", status=200)
    names = doc.get(key)
    if names is None:  # some registries send null for an empty list
        return []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise RegistryError(f"{what}: {key!r} is not a list of strings", status=200)
    return names


def collect_names(
    t: Transport,
    url: str,
    *,
    key: str,
    what: str,
    scopes: Sequence[str],
    limit: int | None,
    last: str | None,
    not_found: Callable[[str], OCIStoreError],
) -> list[str]:
    """Follow ``Link`` pages from ``url``; the result is sorted, after ``last``, cut at ``limit``.

    Registries differ (distribution 2.8 ignores ``n`` and ``last`` and returns tags unsorted;
    others cap pages at 50 or 1000), so the client finishes the job: names are de-duplicated
    and sorted byte-wise like Go's ``sort.Strings``, those not after ``last`` dropped, and the
    list cut at ``limit``. Paging stops once ``limit`` names are in hand.
    """
    if limit is not None and limit < 0:
        raise InvalidOptionError(f"{what}: limit must be 0 or more, not {limit}")
    if limit == 0:
        return []
    params: dict[str, str | int] = {}
    if limit is not None:
        params["n"] = limit
    if last:
        params["last"] = last
    next_url: str | None = add_query(url, params)
    seen: set[str] = set()
    names: set[str] = set()
    while next_url is not None:
        if next_url in seen:
            raise RegistryError(
                f"{what}: the registry's Link pagination loops back to {redact(next_url)}",
                status=200,
            )
        if len(seen) >= MAX_PAGES:
            raise RegistryError(
                f"{what}: more than {MAX_PAGES} pages (the registry keeps linking to more)",
                status=200,
            )
        seen.add(next_url)
        response = t.request(
            "GET", next_url, what=what, scopes=scopes, headers={"Accept": "application/json"}
        )
        if response.status_code != 200:
            raise_for(response, what, not_found=not_found)
        body = read_limited(response, PAGE_LIMIT)
        if body is None:
            raise SizeLimitExceededError(f"{what}: a page is larger than {PAGE_LIMIT} bytes")
        names.update(n for n in _page(body, key, what) if not last or n > last)
        if limit is not None and len(names) >= limit:
            break
        next_url = next_link(response.headers, response.url)
    result = sorted(names)  # code point order, which is byte order for UTF-8
    return result[:limit] if limit is not None else result
