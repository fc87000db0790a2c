"""Settings a client passes to the schemes it creates.

Per-host settings live here, not in the reg plugin, because the client and the command line set
them without knowing which scheme will use them; schemes read what concerns them and ignore the
rest. Scheme-specific switches go in ``Settings.options[scheme_name]``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

__all__ = ["HostConfig", "Settings", "TLSMode"]

TLSMode = Literal["enabled", "insecure", "disabled"]

_LOOPBACK = ("localhost", "127.0.0.1", "[::1]", "::1")


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.startswith("[") or "]:" in host else host
    if host.startswith("[") and "]:" in host:
        name = host.split("]:", 1)[0] + "]"
    return name in _LOOPBACK or name.startswith("127.")


@dataclass(frozen=True)
class HostConfig:
    """How to reach one registry host (``hostname[:port]``).

    ``tls``: ``enabled`` verifies certificates (the default), ``insecure`` uses TLS without
    verification, ``disabled`` speaks plain HTTP. Loopback hosts default to plain HTTP (see
    :meth:`Settings.host`), because a registry started for development on 127.0.0.1 has no
    certificate, and nothing leaves the machine.
    """

    hostname: str
    tls: TLSMode = "enabled"
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    username: str | None = None
    password: str | None = None
    #: An identity (refresh) token, used instead of a password with OAuth2 token servers.
    identity_token: str | None = None
    #: A registry token sent as ``Authorization: Bearer`` without any exchange.
    registry_token: str | None = None
    #: Connections kept open to this host (None: ``Settings.concurrency``). How many transfers
    #: run at once is bounded by the copy's worker count (``Settings.concurrency`` or
    #: ``CopyOptions.concurrency``), which is shared by all hosts of one copy.
    concurrency: int | None = None
    #: Requests in flight to this host at once (None: no limit of its own). Every copy made
    #: through one client shares the limit, so many images mirrored in parallel cannot open a
    #: connection each per blob; a 429 from the host pauses all of them (``ocistore sync``).
    max_requests: int | None = None
    #: Above this size blobs are uploaded in chunks (None: monolithic PUT when the size is known).
    blob_max: int | None = None
    #: Chunk size for chunked uploads.
    blob_chunk: int = 8 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Everything a scheme factory receives."""

    hosts: dict[str, HostConfig] = field(default_factory=dict)
    #: Default number of blob transfers in parallel.
    concurrency: int = 4
    #: Read credentials from docker's config.json and credential helpers.
    docker_config: bool = True
    user_agent: str = "ocistore"
    #: Scheme-specific options, keyed by scheme name (``{"ocidir": {"gc": False}}``).
    options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def host(self, hostname: str) -> HostConfig:
        """The configuration for ``hostname``; loopback hosts default to plain HTTP."""
        found = self.hosts.get(hostname)
        if found is not None:
            return found
        return HostConfig(hostname, tls="disabled" if _is_loopback(hostname) else "enabled")

    def with_host(self, config: HostConfig) -> Settings:
        return replace(self, hosts={**self.hosts, config.hostname: config})

    def scheme_options(self, scheme: str, *, known: Iterable[str] | None = None) -> dict[str, Any]:
        """The options given for ``scheme``; with ``known``, any other key is an
        :class:`~ocistore.errors.InvalidOptionError` (a typo must not leave a default in force)."""
        given = dict(self.options.get(scheme, {}))
        if known is not None:
            allowed = set(known)
            unknown = sorted(set(given) - allowed)
            if unknown:
                from ocistore.errors import InvalidOptionError

                raise InvalidOptionError(
                    f"unknown {scheme} option(s): {', '.join(unknown)} "
                    f"(known: {', '.join(sorted(allowed)) or 'none'})"
                )
        return given
