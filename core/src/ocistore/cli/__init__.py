"""The ``ocistore`` command line (also ``python -m ocistore``).

Start-up is kept light on purpose: this package imports argparse and the static command table
(:mod:`ocistore.cli.commands`), never a verb's implementation. Only the parsers of the command
being run get their arguments (:mod:`ocistore.cli.parser`); the chosen handler's module is
imported when it runs, and it imports the client, the copy engine, ``rich`` or an archive module
only when needed; plugins load when the first reference is parsed. So ``ocistore --help`` loads
no verb module and no plugin, and verbs on ``ocidir://`` never import an HTTP library.

Exit codes: 0 success, 1 the operation failed, 2 the command line was wrong.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ocistore.cli import commands
from ocistore.cli.errors import EXIT_ERROR, EXIT_OK, EXIT_USAGE, UsageError, report
from ocistore.cli.parser import main_parser, subparsers

__all__ = ["build_parser", "main"]

_EPILOG = """\
references:
  ocidir://PATH[:TAG][@DIGEST]          an OCI image layout directory
  [HOST[:PORT]/]REPO[:TAG][@DIGEST]     a registry (the default scheme)
  see 'ocistore scheme list' for every installed scheme

examples:
  ocistore image copy ocidir://build:1.0 127.0.0.1:5000/app:1.0
  ocistore artifact put ocidir://store:docs README.md --artifact-type application/vnd.example
  ocistore tag ls --include '1\\..*' ocidir://store
"""


def build_parser() -> argparse.ArgumentParser:
    """The parser tree (cheap: no verb module, plugin or client is imported).

    Sub-command parsers get their arguments when argparse first uses them; call
    :func:`ocistore.cli.parser.build_all` on the result to walk a complete tree.
    """
    from ocistore import __version__

    parser = main_parser(
        "ocistore",
        "Move container images and OCI artifacts between registries, OCI layouts and any\n"
        "other installed storage scheme.",
        _EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"ocistore {__version__}")
    commands.register(subparsers(parser, "verb", "COMMAND", "commands"))
    return parser


def _setup_logging(verbose: int) -> None:
    if verbose < 1:
        return
    import logging

    logging.basicConfig(
        level=logging.DEBUG if verbose > 1 else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code instead of exiting."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help/--version (0) or a usage error (2)
        return e.code if isinstance(e.code, int) else (EXIT_OK if e.code is None else EXIT_USAGE)
    from ocistore.cli.context import Context
    from ocistore.cli.options import merge_globals
    from ocistore.cli.output import Output

    opts = merge_globals(args)
    _setup_logging(opts.verbose)
    ctx = Context(args, opts, Output(opts.format))
    code = EXIT_OK
    try:
        try:
            result = args.handler(ctx)
            code = EXIT_OK if result is None else int(result)
        finally:
            ctx.close()
    except UsageError as e:
        if not e.hint:
            e.hint = f"see '{_subparser(parser, args).prog} --help'"
        code = report(e, verbose=opts.verbose)
    except BrokenPipeError:
        # The reader went away (``| head``): not an error worth a message. Point stdout at
        # /dev/null so the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = EXIT_ERROR
    except (Exception, KeyboardInterrupt) as e:
        code = report(e, verbose=opts.verbose)
    return code


def _subparser(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> argparse.ArgumentParser:
    """The parser of the command that ran, so a usage error shows that command's usage line."""
    current = parser
    for dest in ("verb", f"{getattr(args, 'verb', '')}_action"):
        name = getattr(args, dest, None)
        found = None
        for act in current._actions:
            if isinstance(act, argparse._SubParsersAction) and name in act.choices:
                found = act.choices[name]
        if found is None:
            break
        current = found
    return current
