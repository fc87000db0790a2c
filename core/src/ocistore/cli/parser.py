"""The argparse machinery of the command line: uniform verb parsers, built only when used.

Every action parser gets the global options (so they may follow the verb) and a ``handler``
default; every group requires an action, so ``ocistore image`` alone is a usage error (exit 2)
that lists the actions.

Start-up: a group's or action's parser is created empty, with its name, aliases, help line,
description and epilog (all ``ocistore --help`` and usage errors need), and its arguments and
actions are added the first time argparse parses with it or formats its help (:class:`_Parser`'s
``build``). ``ocistore image copy ...`` therefore builds three of the 34 parsers fully. A
handler is a :class:`LazyHandler`: it names a module and a function and imports them when
the command runs, so a command's implementation (and whatever that imports) is loaded only for
the command chosen.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from ocistore.cli.errors import EXIT_USAGE
from ocistore.cli.global_options import add_global_options

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any, NoReturn, TypeAlias

    from ocistore.cli.context import Context

__all__ = ["Handler", "LazyHandler", "Subparsers", "action", "build_all", "group", "main_parser"]

Handler = Callable[["Context"], int | None]


def terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``, without importing shutil (and zlib, bz2, lzma).

    argparse asks for it every time it makes a help formatter, which ``add_argument`` does for
    each argument, so every start-up paid for the import.
    """
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        size = os.get_terminal_size(sys.__stdout__.fileno())  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80
    return size.columns or 80


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps hand-written examples in epilogs as written."""

    def __init__(self, prog: str) -> None:
        # argparse's default width, computed as argparse does (columns - 2) but without shutil
        super().__init__(prog, max_help_position=32, width=terminal_columns() - 2)


class _Parser(argparse.ArgumentParser):
    """Usage errors in the house format (one line, a hint, exit code 2), built on first use.

    Subparsers inherit the class (argparse creates them with ``type(parent)``).
    """

    #: Adds this parser's arguments and sub-commands; run once, by :meth:`build`.
    pending: Callable[[_Parser], None] | None = None

    def build(self) -> _Parser:
        """Add the arguments and sub-commands this parser was created without (idempotent)."""
        pending, self.pending = self.pending, None
        if pending is not None:
            pending(self)
        return self

    def format_usage(self) -> str:
        self.build()
        return super().format_usage()

    def format_help(self) -> str:
        self.build()
        return super().format_help()

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("ocistore").strip()
        where = f"{command}: " if command else ""
        sys.stderr.write(f"ocistore: error: {where}{message}\n")
        sys.stderr.write(f"hint: see '{self.prog} --help'\n")
        raise SystemExit(EXIT_USAGE)


if TYPE_CHECKING:
    Subparsers: TypeAlias = argparse._SubParsersAction[_Parser]
else:
    Subparsers = argparse._SubParsersAction


class _LazySubparsers(Subparsers):
    """Builds the chosen sub-command's parser just before argparse hands it the rest."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        if isinstance(values, list) and values:
            chosen = self._name_parser_map.get(values[0])
            if chosen is not None:
                chosen.build()
        super().__call__(parser, namespace, values, option_string)


def subparsers(parser: _Parser, dest: str, metavar: str, title: str) -> Subparsers:
    """A required set of sub-commands whose parsers :class:`_LazySubparsers` builds on use."""
    sub: Subparsers = parser.add_subparsers(
        dest=dest, metavar=metavar, title=title, action=_LazySubparsers
    )
    sub.required = True
    return sub


class LazyHandler:
    """A command's handler, named by module and function and imported when it runs."""

    __slots__ = ("function", "module")

    def __init__(self, module: str, function: str) -> None:
        self.module = module
        self.function = function

    def resolve(self) -> Handler:
        handler: Handler = getattr(importlib.import_module(self.module), self.function)
        return handler

    def __call__(self, ctx: Context) -> int | None:
        return self.resolve()(ctx)

    def __repr__(self) -> str:
        return f"LazyHandler({self.module}:{self.function})"


def group(
    sub: Subparsers,
    name: str,
    help_text: str,
    actions: Callable[[Subparsers], None],
    *,
    aliases: tuple[str, ...] = (),
) -> _Parser:
    """A verb group (``image``, ``manifest``, ...); ``actions`` adds its actions when built."""
    parser = sub.add_parser(
        name,
        help=help_text,
        description=help_text,
        aliases=list(aliases),
        formatter_class=_Formatter,
    )

    def build(p: _Parser) -> None:
        add_global_options(p, 1, show=False)
        actions(subparsers(p, f"{name}_action", "ACTION", "actions"))

    parser.pending = build
    return parser


def action(
    sub: Subparsers,
    name: str,
    handler: Handler,
    help_text: str,
    arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    *,
    description: str | None = None,
    epilog: str | None = None,
    aliases: tuple[str, ...] = (),
    level: int = 2,
) -> _Parser:
    """One runnable command; its handler is stored as the ``handler`` default.

    ``arguments`` adds the command's own arguments when the parser is built.
    """
    parser = sub.add_parser(
        name,
        help=help_text,
        description=description or help_text,
        epilog=epilog,
        aliases=list(aliases),
        formatter_class=_Formatter,
    )

    def build(p: _Parser) -> None:
        p.set_defaults(handler=handler)
        add_global_options(p, level)
        if arguments is not None:
            arguments(p)

    parser.pending = build
    return parser


def main_parser(prog: str, description: str, epilog: str) -> _Parser:
    parser = _Parser(prog=prog, description=description, epilog=epilog, formatter_class=_Formatter)
    add_global_options(parser, 0)
    return parser


def build_all(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Build every lazy parser below ``parser`` (for tools that walk the whole tree)."""
    if isinstance(parser, _Parser):
        parser.build()
    for act in parser._actions:
        if isinstance(act, argparse._SubParsersAction):
            for sub in dict.fromkeys(act._name_parser_map.values()):
                build_all(sub)
    return parser
