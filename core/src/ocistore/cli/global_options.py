"""The global options' argparse definitions and their ``type=`` converters.

Everything here runs while the parser is built, which ``ocistore --help`` pays for, so this module
imports only argparse and the output format names; :func:`platform_arg` imports ``Platform`` when
it is called. Each command's own arguments are in :mod:`ocistore.cli.arguments`.

argparse lets a subcommand's parser overwrite what the main parser stored under the same name, so
each level stores its copy of a global option under its own name (``g0_verbose``,
``g1_verbose``, ...); :func:`ocistore.cli.options.merge_globals` combines them.
"""

from __future__ import annotations

import argparse

from ocistore.cli.output import FORMATS

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from ocistore.platform import Platform

__all__ = [
    "LEVELS",
    "add_global_options",
    "ca_arg",
    "client_cert_arg",
    "host_arg",
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


def client_cert_arg(text: str) -> tuple[str, str, str | None]:
    """``HOST=CERT[,KEY]``: a PEM certificate (key inside it, or the key file after a comma)."""
    host, sep, files = text.partition("=")
    cert, _, key = files.partition(",")
    if not sep or not cert:
        raise argparse.ArgumentTypeError(f"expected HOST=CERT[,KEY], got {text!r}")
    return host_arg(host), cert, key or None


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
        "--client-cert",
        action="append",
        type=client_cert_arg,
        dest=p + "client_cert",
        metavar="HOST=CERT[,KEY]",
        help=h("present this PEM client certificate (and key) to HOST for mutual TLS (repeatable)"),
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
