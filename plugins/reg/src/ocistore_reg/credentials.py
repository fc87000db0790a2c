"""Registry credentials from Docker's ``config.json`` and credential helpers.

Users log in with ``docker login`` (or podman, skopeo, regctl...) and expect every other tool to
reuse that login, so ocistore reads the same file with the same rules: ``credHelpers[host]``,
then ``credsStore``, then the plain ``auths`` entry, with the ``DOCKER_AUTH_CONFIG`` environment
variable consulted before the file. Helpers are external programs that may prompt or be slow,
so their answers are cached for the life of the process; running them, and that cache, is
:mod:`ocistore_reg.credhelpers`' job (re-exported here), and this module decides what their
answers mean.

Nothing here ever puts a password or token into a message, a log line or a ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ocistore.errors import AuthError
from ocistore_reg.credhelpers import clear_helper_cache, helper_answer, helper_list

if TYPE_CHECKING:
    from ocistore.settings import Settings

__all__ = [
    "DOCKER_HUB_KEY",
    "Credential",
    "clear_helper_cache",
    "config_path",
    "credential_for_host",
    "helper_get",
    "helper_list",
    "lookup_credentials",
    "normalize_server",
]

log = logging.getLogger(__name__)

#: The key Docker files Docker Hub logins under (in ``auths`` and in helpers).
DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_TOKEN_USER = "<token>"  # noqa: S105 - the protocol's marker, not a secret


@dataclass(frozen=True, repr=False)
class Credential:
    """What we may present to one registry; every field is optional.

    ``identity_token`` is an OAuth2 refresh token (docker's ``identitytoken``), exchanged at the
    token server. ``registry_token`` is sent to the registry as-is (``Bearer``).
    """

    username: str | None = None
    password: str | None = None
    identity_token: str | None = None
    registry_token: str | None = None

    def __repr__(self) -> str:
        def shown(value: str | None) -> str:
            return "None" if value is None else "'***'"

        return (
            f"Credential(username={self.username!r}, password={shown(self.password)}, "
            f"identity_token={shown(self.identity_token)}, "
            f"registry_token={shown(self.registry_token)})"
        )

    __str__ = __repr__

    @property
    def has_basic(self) -> bool:
        """True when a username and password are known (Basic auth is possible)."""
        return bool(self.username) and self.password is not None

    @property
    def is_empty(self) -> bool:
        """True when there is no secret at all (a bare username is not a credential)."""
        return self.password is None and not (self.identity_token or self.registry_token)


def normalize_server(server: str) -> str:
    """``https://Reg.example:5000/v2/`` -> ``reg.example:5000`` (docker's ConvertToHostname).

    Docker Hub's aliases all become ``index.docker.io`` so any of them finds a Hub login.
    """
    text = server.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    host = text.split("/", 1)[0].lower()
    return "index.docker.io" if host in _HUB_HOSTS else host


def _lookup_key(hostname: str) -> str:
    """The exact key docker uses for ``hostname`` in ``auths`` and with helpers."""
    host = normalize_server(hostname)
    return DOCKER_HUB_KEY if host == "index.docker.io" else host


def config_path(*, config_dir: str | None = None, env: Mapping[str, str] | None = None) -> Path:
    """``<config_dir>/config.json``, else ``$DOCKER_CONFIG/config.json``, else ``~/.docker``."""
    environ = os.environ if env is None else env
    if config_dir:
        return Path(config_dir) / "config.json"
    if environ.get("DOCKER_CONFIG"):
        return Path(environ["DOCKER_CONFIG"]) / "config.json"
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".docker" / "config.json"


def lookup_credentials(
    hostname: str, *, config_dir: str | None = None, env: Mapping[str, str] | None = None
) -> Credential | None:
    """The credential Docker would use for ``hostname`` (``host[:port]``), or None.

    ``DOCKER_AUTH_CONFIG`` (JSON with the same shape as the file) is tried first, then the
    config file. A missing file is not an error; malformed JSON, a broken ``auth`` value or a
    failing helper raises :class:`AuthError` naming the file or helper.
    """
    environ = os.environ if env is None else env
    inline = environ.get("DOCKER_AUTH_CONFIG")
    if inline and inline.strip():
        found = _resolve(
            _parse_config(inline, "DOCKER_AUTH_CONFIG"), hostname, environ, "DOCKER_AUTH_CONFIG"
        )
        if found is not None:
            return found
    path = config_path(config_dir=config_dir, env=environ)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise AuthError(f"cannot read docker config {path}: {exc}") from exc
    return _resolve(_parse_config(text, str(path)), hostname, environ, str(path))


def credential_for_host(settings: Settings, hostname: str) -> Credential | None:
    """Explicit per-host settings first, then Docker's config when ``settings.docker_config``."""
    host = settings.host(hostname)
    explicit = Credential(host.username, host.password, host.identity_token, host.registry_token)
    if not explicit.is_empty:
        return explicit
    return lookup_credentials(hostname) if settings.docker_config else None


# -- config file --------------------------------------------------------------------------------


def _parse_config(text: str, source: str) -> dict[str, object]:
    if not text.strip():
        return {}  # docker accepts an empty file
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AuthError(
            f"invalid JSON in docker config {source}: line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise AuthError(f"invalid docker config {source}: JSON nested too deep") from None
    if not isinstance(data, dict):
        raise AuthError(f"invalid docker config {source}: the top level is not a JSON object")
    return data


def _mapping(config: Mapping[str, object], key: str, source: str) -> dict[str, object]:
    value = config.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AuthError(f"invalid docker config {source}: {key!r} is not a JSON object")
    return value


def _find(table: Mapping[str, object], hostname: str) -> list[tuple[str, object]]:
    """Entries for ``hostname``: the exact docker key first, then legacy keys that normalise to it.

    Legacy entries (``https://host/v1/``, ``http://host``) come from old docker versions and
    other tools; docker matches them after dropping the scheme and path.
    """
    exact = _lookup_key(hostname)
    wanted = normalize_server(hostname)
    found: list[tuple[str, object]] = []
    if exact in table:
        found.append((exact, table[exact]))
    found.extend(
        (key, value)
        for key, value in table.items()
        if key != exact and normalize_server(key) == wanted
    )
    return found


def _resolve(
    config: Mapping[str, object], hostname: str, env: Mapping[str, str], source: str
) -> Credential | None:
    key = _lookup_key(hostname)
    helpers = _mapping(config, "credHelpers", source)
    for _, helper in _find(helpers, hostname)[:1]:
        if not isinstance(helper, str) or not helper:
            raise AuthError(f"invalid docker config {source}: credHelpers entry for {key!r}")
        found = helper_get(helper, key, env=env)
        if found is not None:
            return found
    store = config.get("credsStore")
    if store is not None:
        if not isinstance(store, str):
            raise AuthError(f"invalid docker config {source}: 'credsStore' is not a string")
        if store:
            found = _store_get(store, hostname, env)
            if found is not None:
                return found
    auths = _mapping(config, "auths", source)
    for entry_key, entry in _find(auths, hostname):
        found = _decode_entry(entry, entry_key, source)
        if found is not None:
            return found
    return None


def _decode_entry(entry: object, key: str, source: str) -> Credential | None:
    """An ``auths`` entry as a Credential; None for entries without secrets (``{}``)."""
    if not isinstance(entry, dict):
        raise AuthError(f"invalid docker config {source}: auths entry {key!r} is not an object")

    def text(name: str) -> str | None:
        value = entry.get(name)
        return value if isinstance(value, str) and value else None

    username, password = text("username"), text("password")
    encoded = text("auth")
    if encoded is not None:
        username, password = _decode_auth(encoded, key, source)
    found = Credential(username, password, text("identitytoken"), text("registrytoken"))
    return None if found.is_empty else found


def _decode_auth(encoded: str, key: str, source: str) -> tuple[str, str]:
    """Docker's rules: standard base64 of ``user:password``, split at the first ``:``."""
    padded = encoded.strip() + "=" * (-len(encoded.strip()) % 4)
    try:
        raw = base64.b64decode(padded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise AuthError(
            f"invalid auth configuration file {source}: the 'auth' value for {key!r} "
            "is not base64 of user:password"
        ) from None
    username, sep, password = raw.partition(":")
    if not sep or not username:
        raise AuthError(
            f"invalid auth configuration file {source}: the 'auth' value for {key!r} "
            "has no username"
        )
    return username, password.strip("\x00")


# -- credential helpers: what their answers mean ------------------------------------------------


def helper_get(
    helper: str, server_url: str, *, env: Mapping[str, str] | None = None
) -> Credential | None:
    """Ask ``docker-credential-<helper>`` for ``server_url``; None if it has nothing."""
    environ = os.environ if env is None else env
    answer = helper_answer(helper, "get", server_url, environ)
    if answer is None:
        return None
    if not isinstance(answer, dict):
        raise AuthError(f"credential helper docker-credential-{helper} get printed no object")
    username, secret = answer.get("Username"), answer.get("Secret")
    username = username if isinstance(username, str) and username else None
    secret = secret if isinstance(secret, str) and secret else None
    if secret is None:
        return None
    if username == _TOKEN_USER:
        return Credential(identity_token=secret)
    return Credential(username=username, password=secret)


def _store_get(store: str, hostname: str, env: Mapping[str, str]) -> Credential | None:
    """``credsStore`` lookup; falls back to ``list`` for logins filed under another spelling.

    Docker Desktop and older clients file logins as ``https://host`` or ``https://host/v1/``
    while ``get`` wants the exact key, so a miss is retried with the listed key that
    normalises to the same host.
    """
    key = _lookup_key(hostname)
    found = helper_get(store, key, env=env)
    if found is not None:
        return found
    try:
        listed = helper_list(store, env=env)
    except AuthError as exc:
        log.debug("ignoring failed credential helper list: %s", exc)
        return None
    wanted = normalize_server(hostname)
    for server in listed:
        if server != key and normalize_server(server) == wanted:
            found = helper_get(store, server, env=env)
            if found is not None:
                return found
    return None
