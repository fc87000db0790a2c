"""Small helpers that keep the verb modules' argparse definitions uniform.

Every action parser gets the global options (so they may follow the verb) and a ``handler``
default; every group requires an action, so ``ocistore image`` alone is a usage error (exit 2)
that lists the actions.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn, TypeAlias

from ocistore.cli.errors import EXIT_USAGE
from ocistore.cli.options import add_global_options

if TYPE_CHECKING:
    from ocistore.cli.context import Context

    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Subparsers = argparse._SubParsersAction

__all__ = ["Handler", "Subparsers", "action", "group"]

Handler = Callable[["Context"], int | None]


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps hand-written examples in epilogs as written."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def group(
    sub: Subparsers, name: str, help_text: str, *, aliases: tuple[str, ...] = ()
) -> Subparsers:
    """A verb group (``image``, ``manifest``, ...); returns the subparsers for its actions."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help_text,
        description=help_text,
        aliases=list(aliases),
        formatter_class=_Formatter,
    )
    add_global_options(parser, 1, show=False)
    actions: Subparsers = parser.add_subparsers(
        dest=f"{name}_action", metavar="ACTION", title="actions"
    )
    actions.required = True
    return actions


def action(
    sub: Subparsers,
    name: str,
    handler: Handler,
    help_text: str,
    *,
    description: str | None = None,
    epilog: str | None = None,
    aliases: tuple[str, ...] = (),
    level: int = 2,
) -> argparse.ArgumentParser:
    """One runnable command; its handler is stored as the ``handler`` default."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help_text,
        description=description or help_text,
        epilog=epilog,
        aliases=list(aliases),
        formatter_class=_Formatter,
    )
    parser.set_defaults(handler=handler)
    add_global_options(parser, level)
    return parser


class _Parser(argparse.ArgumentParser):
    """Usage errors in the house format: one line, a hint, exit code 2.

    Subparsers inherit the class (argparse creates them with ``type(parent)``).
    """

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("ocistore").strip()
        where = f"{command}: " if command else ""
        sys.stderr.write(f"ocistore: error: {where}{message}\n")
        sys.stderr.write(f"hint: see '{self.prog} --help'\n")
        raise SystemExit(EXIT_USAGE)


def main_parser(prog: str, description: str, epilog: str) -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, description=description, epilog=epilog, formatter_class=_Formatter)
    add_global_options(parser, 0)
    return parser
