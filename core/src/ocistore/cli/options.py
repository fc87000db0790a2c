"""Global options: accepted before or after the verb, and turned into :class:`Settings`.

argparse lets a subcommand's parser overwrite what the main parser stored under the same name,
so ``ocistore -v image copy -v ...`` would count one ``-v``. Each level therefore stores its copy
of a global option under its own name (``g0_verbose``, ``g1_verbose``, ...) and
:func:`merge_globals` combines them: counts add up, lists concatenate, single values take the one
written last (closest to the verb).

The argparse side (:func:`add_global_options` and the ``type=`` converters) lives in
:mod:`ocistore.cli.global_options`, which building the parser needs; this module is what runs after
parsing. Neither imports ``dataclasses`` (and with it ``inspect``): ``--help`` and ``version``
do not need them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ocistore.cli.errors import UsageError
from ocistore.cli.global_options import (
    LEVELS,
    add_global_options,
    ca_arg,
    host_arg,
    platform_arg,
    positive_int,
)

if TYPE_CHECKING:
    from ocistore.platform import Platform
    from ocistore.settings import HostConfig, Settings

__all__ = [
    "LEVELS",
    "GlobalOptions",
    "add_global_options",
    "build_settings",
    "ca_arg",
    "host_arg",
    "merge_globals",
    "platform_arg",
    "positive_int",
    "read_password",
]

_FIELDS = (
    "verbose",
    "format",
    "platforms",
    "concurrency",
    "insecure",
    "plain_http",
    "ca_files",
    "client_certs",
    "user",
    "password_stdin",
    "docker_config",
)


class GlobalOptions:
    """The global options after merging every level.

    A plain class with the ``__init__``, ``__repr__`` and ``__eq__`` a dataclass would generate.
    """

    __slots__ = _FIELDS

    def __init__(  # noqa: PLR0917  (positional, like the dataclass it replaces)
        self,
        verbose: int = 0,
        format: str | None = None,
        platforms: list[Platform] | None = None,
        concurrency: int | None = None,
        insecure: list[str] | None = None,
        plain_http: list[str] | None = None,
        ca_files: list[tuple[str, str]] | None = None,
        client_certs: list[tuple[str, str, str | None]] | None = None,
        user: str | None = None,
        password_stdin: bool = False,
        docker_config: bool = True,
    ) -> None:
        self.verbose = verbose
        self.format = format
        self.platforms: list[Platform] = [] if platforms is None else platforms
        self.concurrency = concurrency
        self.insecure: list[str] = [] if insecure is None else insecure
        self.plain_http: list[str] = [] if plain_http is None else plain_http
        self.ca_files: list[tuple[str, str]] = [] if ca_files is None else ca_files
        self.client_certs: list[tuple[str, str, str | None]] = (
            [] if client_certs is None else client_certs
        )
        self.user = user
        self.password_stdin = password_stdin
        self.docker_config = docker_config

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _FIELDS)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__ or not isinstance(other, GlobalOptions):
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  # mutable, like an unfrozen dataclass

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _FIELDS)
        return f"{type(self).__qualname__}({fields})"


def merge_globals(ns: argparse.Namespace) -> GlobalOptions:
    """Combine the per-level copies (see the module docstring)."""
    opts = GlobalOptions()
    values: dict[str, Any] = vars(ns)
    for level in range(LEVELS):
        p = f"g{level}_"

        def get(name: str, p: str = p) -> Any:
            return values.get(p + name)

        opts.verbose += get("verbose") or 0
        opts.format = get("format") or opts.format
        opts.platforms += get("platform") or []
        opts.concurrency = get("concurrency") or opts.concurrency
        opts.insecure += get("insecure") or []
        opts.plain_http += get("plain_http") or []
        opts.ca_files += get("ca_file") or []
        opts.client_certs += get("client_cert") or []
        opts.user = get("user") or opts.user
        opts.password_stdin = bool(get("password_stdin")) or opts.password_stdin
        if get("no_docker_config"):
            opts.docker_config = False
    return opts


def read_password(opts: GlobalOptions) -> str | None:
    """The password for ``--user``: stdin with ``--password-stdin``, else a terminal prompt."""
    if opts.password_stdin and not opts.user:
        raise UsageError("--password-stdin needs --user")
    if not opts.user:
        return None
    if opts.password_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise UsageError("--password-stdin: stdin is empty")
        return password
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(f"password for {opts.user}: ")
    raise UsageError(
        "--user needs a password",
        hint='pipe it in with --password-stdin (e.g. echo "$TOKEN" | ocistore --user me '
        "--password-stdin ...)",
    )


def build_settings(
    opts: GlobalOptions, registries: Iterable[str], password: str | None
) -> Settings:
    """Settings for a client: per-host TLS from the flags, credentials for ``registries``."""
    from dataclasses import replace

    from ocistore.settings import Settings

    base = Settings(docker_config=opts.docker_config)
    if opts.concurrency:
        base = replace(base, concurrency=opts.concurrency)
    hosts: dict[str, HostConfig] = {}

    def cfg(host: str) -> HostConfig:
        return hosts.get(host) or base.host(host)

    for host, path in opts.ca_files:
        # A CA file means TLS, even for a loopback host that would default to plain HTTP.
        hosts[host] = replace(cfg(host), ca_file=path, tls="enabled")
    for host, cert, key in opts.client_certs:
        # A client certificate means TLS, even for a loopback host (as a CA file does).
        current = cfg(host)
        tls = "enabled" if current.tls == "disabled" else current.tls
        hosts[host] = replace(current, client_cert=cert, client_key=key, tls=tls)
    clash = set(opts.insecure) & set(opts.plain_http)
    if clash:
        raise UsageError(
            f"--insecure and --plain-http both given for {', '.join(sorted(clash))}",
            hint="--insecure is TLS without verification, --plain-http is no TLS: pick one",
        )
    for host in opts.insecure:
        hosts[host] = replace(cfg(host), tls="insecure")
    for host in opts.plain_http:
        hosts[host] = replace(cfg(host), tls="disabled")
    if opts.user:
        for host in registries:
            hosts[host] = replace(cfg(host), username=opts.user, password=password)
    if opts.concurrency:
        for host, config in list(hosts.items()):
            hosts[host] = replace(config, concurrency=opts.concurrency)
    return replace(base, hosts=hosts)
