"""The hosts a :class:`~ocistore_reg.scheme.Reg` talks to, and how each authenticates."""

from __future__ import annotations

import threading

import requests

from ocistore.settings import HostConfig, Settings
from ocistore_reg.http import Auth, AuthFactory, Transport, tls_options
from ocistore_reg.options import RegOptions
from ocistore_reg.urls import api_host

__all__ = ["HostPool", "default_auth_factory"]


def default_auth_factory(
    hostname: str, session: requests.Session, config: HostConfig, settings: Settings
) -> Auth:
    """The real authenticator, with explicit host credentials winning over docker's config."""
    from ocistore_reg.auth import Authenticator
    from ocistore_reg.credentials import Credential, lookup_credentials

    credential: Credential | None = None
    if config.username or config.password or config.identity_token or config.registry_token:
        credential = Credential(
            config.username, config.password, config.identity_token, config.registry_token
        )
    elif settings.docker_config:
        credential = lookup_credentials(hostname)
    verify, cert = tls_options(config)
    return Authenticator(
        api_host(hostname),
        session,
        credential,
        verify=verify,
        cert=cert,
        user_agent=settings.user_agent,
        trusted_hosts=frozenset(settings.hosts),
    )


class HostPool:
    """One :class:`Transport` per registry host, created on first use."""

    def __init__(self, settings: Settings, auth_factory: AuthFactory | None = None) -> None:
        self.settings = settings
        self.options = RegOptions.from_settings(settings)
        self._auth_factory = auth_factory or default_auth_factory
        self._hosts: dict[str, Transport] = {}
        self._lock = threading.Lock()

    def get(self, hostname: str) -> Transport:
        with self._lock:
            found = self._hosts.get(hostname)
            if found is None:
                found = Transport(
                    hostname,
                    self.settings.host(hostname),
                    self.settings,
                    self.options,
                    self._auth_factory,
                )
                self._hosts[hostname] = found
            return found

    def close(self, hostname: str | None = None) -> None:
        """Close one host's connections (all when ``hostname`` is None)."""
        with self._lock:
            names = [hostname] if hostname is not None else list(self._hosts)
            closing = [self._hosts.pop(n) for n in names if n in self._hosts]
        for transport in closing:
            transport.close()
