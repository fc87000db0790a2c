"""Global options: accepted before or after the verb, and turned into :class:`Settings`.

argparse lets a subcommand's parser overwrite what the main parser stored under the same name,
so ``ocistore -v image copy -v ...`` would count one ``-v``. Each level therefore stores its copy
of a global option under its own name (``g0_verbose``, ``g1_verbose``, ...) and
:func:`merge_globals` combines them: counts add up, lists concatenate, single values take the one
written last (closest to the verb).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ocistore.cli.errors import UsageError
from ocistore.cli.output import FORMATS

if TYPE_CHECKING:
    from ocistore.platform import Platform
    from ocistore.settings import HostConfig, Settings

__all__ = [
    "GlobalOptions",
    "add_global_options",
    "build_settings",
    "merge_globals",
    "platform_arg",
    "positive_int",
]

#: Depth of the deepest parser that carries the global options (main, group, action).
LEVELS = 3


def platform_arg(text: str) -> Platform:
    """argparse ``type=`` for ``os/arch[/variant]`` (a bad value is a usage error, exit 2)."""
    from ocistore.errors import OCIStoreError
    from ocistore.platform import Platform

    try:
        return Platform.parse(text)
    except OCIStoreError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def host_arg(text: str) -> str:
    """``HOST[:PORT]`` as it appears in references: no scheme, no path."""
    if "://" in text or "/" in text or not text or text != text.strip():
        raise argparse.ArgumentTypeError(
            f"expected HOST[:PORT] as written in image references (no scheme or path), got {text!r}"
        )
    return text


def ca_arg(text: str) -> tuple[str, str]:
    host, sep, path = text.partition("=")
    if not sep or not path:
        raise argparse.ArgumentTypeError(f"expected HOST=PATH, got {text!r}")
    return host_arg(host), path


def add_global_options(parser: argparse.ArgumentParser, level: int, *, show: bool = True) -> None:
    """Add the global options to ``parser`` (``level``: 0 main, 1 verb group, 2 action)."""
    p = f"g{level}_"

    def h(text: str) -> str:
        return text if show else argparse.SUPPRESS

    g = parser.add_argument_group("global options") if show else parser
    g.add_argument(
        "-v",
        "--verbose",
        action="count",
        dest=p + "verbose",
        help=h("more detail; tracebacks on errors (repeat for debug logging)"),
    )
    g.add_argument(
        "--format",
        choices=FORMATS,
        dest=p + "format",
        help=h("output format of verbs that print data (default: text for people)"),
    )
    g.add_argument(
        "--platform",
        action="append",
        type=platform_arg,
        dest=p + "platform",
        metavar="OS/ARCH[/VARIANT]",
        help=h("select platforms of a multi-platform image (repeatable; 'local' = this host)"),
    )
    g.add_argument(
        "--concurrency",
        type=positive_int,
        dest=p + "concurrency",
        metavar="N",
        help=h("blob transfers in parallel"),
    )
    g.add_argument(
        "--insecure",
        action="append",
        type=host_arg,
        dest=p + "insecure",
        metavar="HOST",
        help=h("use TLS without certificate verification for HOST (repeatable)"),
    )
    g.add_argument(
        "--plain-http",
        action="append",
        type=host_arg,
        dest=p + "plain_http",
        metavar="HOST",
        help=h("speak plain HTTP to HOST (repeatable; loopback hosts default to it)"),
    )
    g.add_argument(
        "--ca-file",
        action="append",
        type=ca_arg,
        dest=p + "ca_file",
        metavar="HOST=PATH",
        help=h("trust the PEM CA bundle at PATH for HOST (repeatable)"),
    )
    g.add_argument(
        "--user",
        dest=p + "user",
        metavar="USER",
        help=h("user name for the registries of the references given"),
    )
    g.add_argument(
        "--password-stdin",
        action="store_const",
        const=True,
        dest=p + "password_stdin",
        help=h("read the password for --user from the first line of stdin"),
    )
    g.add_argument(
        "--no-docker-config",
        action="store_const",
        const=True,
        dest=p + "no_docker_config",
        help=h("do not read credentials from docker's config.json and helpers"),
    )


@dataclass
class GlobalOptions:
    """The global options after merging every level."""

    verbose: int = 0
    format: str | None = None
    platforms: list[Platform] = field(default_factory=list)
    concurrency: int | None = None
    insecure: list[str] = field(default_factory=list)
    plain_http: list[str] = field(default_factory=list)
    ca_files: list[tuple[str, str]] = field(default_factory=list)
    user: str | None = None
    password_stdin: bool = False
    docker_config: bool = True


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
