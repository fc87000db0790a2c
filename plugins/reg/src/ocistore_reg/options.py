"""Tunables of the ``reg`` scheme, read once from ``Settings.options["reg"]``.

Per-host facts (TLS, credentials, chunk sizes) live in :class:`ocistore.settings.HostConfig`;
what is here concerns every host alike: how patient to be with a failing registry, and for how
long an answer about optional APIs stays true.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ocistore.errors import InvalidOptionError
from ocistore.settings import Settings

__all__ = ["RegOptions"]


@dataclass(frozen=True)
class RegOptions:
    """``Settings(options={"reg": {...}})`` keys, with their defaults.

    * ``retries``: attempts per request, the first included (connection errors, 408, 429, 5xx).
    * ``retry_delay`` / ``retry_max_delay``: first backoff and its cap, in seconds; each retry
      doubles the delay, jittered
      between half and all of it; a ``Retry-After`` answer replaces the computed delay.
    * ``retry_total``: seconds after which no new attempt starts, whatever ``Retry-After`` says.
    * ``connect_timeout`` / ``read_timeout``: per socket operation, in seconds.
    * ``body_timeout``: seconds to read a whole small answer (a manifest, a page of tags, a
      token, an error), however the server spaces its bytes.
    * ``low_speed_limit`` / ``low_speed_time``: a blob download that brings fewer than
      ``low_speed_limit`` bytes a second for ``low_speed_time`` seconds is abandoned (curl's
      ``--speed-limit``/``--speed-time``); 0 switches the check off.
    * ``referrers_cache_ttl``: seconds a repository's referrers-API support is remembered.

    How these retries multiply with the copy engine's: ``plugins/reg/README.md``.
    """

    retries: int = 5
    retry_delay: float = 0.5
    retry_max_delay: float = 10.0
    retry_total: float = 120.0
    connect_timeout: float = 15.0
    read_timeout: float = 120.0
    body_timeout: float = 300.0
    low_speed_limit: float = 1024.0
    low_speed_time: float = 60.0
    referrers_cache_ttl: float = 300.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RegOptions:
        given: dict[str, Any] = settings.scheme_options("reg")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(given) - known)
        if unknown:
            raise InvalidOptionError(
                f"unknown reg option(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        values: dict[str, Any] = {}
        for name, value in given.items():
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise InvalidOptionError(f"reg option {name}: expected a non-negative number")
            values[name] = int(value) if name == "retries" else float(value)
        opts = cls(**values)
        if opts.retries < 1:
            raise InvalidOptionError("reg option retries: at least 1 (the first attempt)")
        return opts
