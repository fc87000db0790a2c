"""What a verb handler receives: its arguments, the merged global options, output, a client.

The client is built only when a handler asks for it, with the references it is about to use:
credentials from ``--user`` go to exactly those registries and nowhere else, and verbs that need
no client (``version``, ``--help``) never load a plugin.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING

from ocistore.cli.errors import UsageError
from ocistore.cli.options import GlobalOptions, build_settings, read_password
from ocistore.cli.output import Output

if TYPE_CHECKING:
    from ocistore.client import Client
    from ocistore.platform import Platform
    from ocistore.ref import Ref
    from ocistore.router import Router

__all__ = ["Context"]


class Context:
    """Per-invocation state shared by the handlers; :meth:`close` runs once at the end."""

    def __init__(self, args: argparse.Namespace, opts: GlobalOptions, out: Output) -> None:
        self.args = args
        self.opts = opts
        self.out = out
        self._router: Router | None = None
        self._client: Client | None = None

    @property
    def router(self) -> Router:
        if self._router is None:
            from ocistore.router import Router

            self._router = Router()
        return self._router

    def parse(self, text: str) -> Ref:
        """Parse reference text; a malformed reference is a usage error (exit 2)."""
        from ocistore.errors import InvalidReferenceError

        try:
            return self.router.parse(text)
        except InvalidReferenceError as e:
            raise UsageError(str(e), hint=e.hint) from e

    def open(self, *texts: str, gc: bool = True) -> tuple[Client, list[Ref]]:
        """Parse ``texts`` and build the client, with ``--user`` credentials for their hosts.

        ``gc=False`` keeps OCI layouts from collecting garbage when the client closes: the
        single-blob verbs write blobs nothing references yet, and collecting them at exit would
        undo the very command the user ran.
        """
        refs = [self.parse(t) for t in texts]
        return self.client(refs, gc=gc), refs

    def client(self, refs: list[Ref] | None = None, *, gc: bool = True) -> Client:
        if self._client is not None:
            return self._client
        registries = sorted({r.registry for r in refs or () if r.registry})
        password = read_password(self.opts)
        settings = build_settings(self.opts, registries, password)
        if not gc:
            from dataclasses import replace

            options = {
                **settings.options,
                "ocidir": {**settings.scheme_options("ocidir"), "gc": False},
            }
            settings = replace(settings, options=options)
        from ocistore.client import Client

        self._client = Client(settings=settings, router=self.router)
        return self._client

    def platform(self) -> Platform | None:
        """The single ``--platform`` a verb that resolves one image accepts."""
        if len(self.opts.platforms) > 1:
            raise UsageError("this command takes at most one --platform")
        return self.opts.platforms[0] if self.opts.platforms else None

    def stdin(self, what: str) -> IO[bytes]:
        """Stdin as bytes for ``what``; refused when ``--password-stdin`` already used it."""
        if self.opts.password_stdin:
            raise UsageError(
                f"{what} cannot read stdin: --password-stdin uses it",
                hint="give the content as a FILE argument instead of '-'",
            )
        return sys.stdin.buffer

    def close(self) -> None:
        """Release the client (an OCI layout collects garbage here)."""
        client, self._client = self._client, None
        if client is not None:
            client.close()
