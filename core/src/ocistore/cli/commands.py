"""Every command of ``ocistore``: a static table of names, help, arguments and handlers.

The table is what ``ocistore --help`` and the parser need, and nothing else: building it imports
no verb module. A command's handler is named as ``module:function`` (``image:cmd_copy`` is
``ocistore.cli.image.cmd_copy``) and imported only when that command runs; its arguments are
added by a function of :mod:`ocistore.cli.arguments` when argparse first uses its parser (see
:mod:`ocistore.cli.parser`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ocistore.cli import arguments
from ocistore.cli.parser import LazyHandler, Subparsers, action, group

__all__ = ["COMMANDS", "Command", "Group", "register"]

Arguments = Callable[[argparse.ArgumentParser], None]


class Command:
    """One runnable command: its handler (``module:function``) and how to add its arguments."""

    __slots__ = ("aliases", "arguments", "description", "epilog", "handler", "help", "name")

    def __init__(
        self,
        name: str,
        help_text: str,
        handler: str,
        arguments: Arguments | None = None,
        *,
        description: str | None = None,
        epilog: str | None = None,
        aliases: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.help = help_text
        self.handler = handler
        self.arguments = arguments
        self.description = description
        self.epilog = epilog
        self.aliases = aliases

    def lazy_handler(self) -> LazyHandler:
        module, _, function = self.handler.partition(":")
        return LazyHandler(f"ocistore.cli.{module}", function)


class Group:
    """A verb group (``image``, ``manifest``, ...) and its actions."""

    __slots__ = ("aliases", "commands", "help", "name")

    def __init__(
        self,
        name: str,
        help_text: str,
        commands: tuple[Command, ...],
        *,
        aliases: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.help = help_text
        self.commands = commands
        self.aliases = aliases


# -- the table, in the order ``ocistore --help`` lists it ----------------------------------------
COMMANDS: tuple[Group | Command, ...] = (
    Group(
        "image",
        "copy, inspect, export and import images",
        (
            Command(
                "copy",
                "copy an image, index or artifact between any two references",
                "image:cmd_copy",
                arguments.image_copy,
                epilog="examples:\n"
                "  ocistore image copy ocidir://build:1.0 127.0.0.1:5000/app:1.0\n"
                "  ocistore image copy --platform linux/arm64 src:tag ocidir://out:tag\n",
                aliases=("cp",),
            ),
            Command(
                "digest",
                "print the digest a reference points at",
                "image:cmd_digest",
                arguments.ref,
            ),
            Command(
                "inspect",
                "show an image's config, or an index's platforms",
                "image:cmd_inspect",
                arguments.ref,
                description="Show an image's config (with --platform, of that platform's image), "
                "or the platforms of a multi-platform index.",
            ),
            Command(
                "export",
                "write an image as an OCI layout tar",
                "image:cmd_export",
                arguments.image_export,
                epilog="examples:\n"
                "  ocistore image export ocidir://store:1.0 image.tar\n"
                "  ocistore image export 127.0.0.1:5000/app:1.0 - | gzip > app.tar.gz\n",
            ),
            Command(
                "import",
                "push an image from an OCI layout tar or a docker-save tar",
                "image:cmd_import",
                arguments.image_import,
            ),
        ),
    ),
    Group(
        "manifest",
        "read and write single manifests",
        (
            Command(
                "get",
                "print a manifest (the exact bytes, unless --format is given)",
                "manifest:cmd_get",
                arguments.ref,
                description="Print the manifest at REF. Without --format the raw body is written "
                "unchanged (its digest is the digest of the output); --format text shows a "
                "summary and the indented document, --format json wraps it with its descriptor.",
            ),
            Command(
                "head",
                "print the digest (and descriptor) of a manifest",
                "manifest:cmd_head",
                arguments.ref,
            ),
            Command(
                "put",
                "store a manifest read from FILE or stdin",
                "manifest:cmd_put",
                arguments.manifest_put,
                epilog="examples:\n"
                "  ocistore manifest get ocidir://a:1 | ocistore manifest put ocidir://b:1\n"
                "  ocistore manifest put --content-type application/vnd.oci.image.index.v1+json "
                "ocidir://b:multi index.json\n",
            ),
            Command(
                "delete",
                "delete a manifest by digest (every tag on it goes too)",
                "manifest:cmd_delete",
                arguments.manifest_delete,
                aliases=("rm",),
            ),
        ),
    ),
    Group(
        "blob",
        "read and write single blobs",
        (
            Command(
                "get",
                "write a blob to stdout or a file (verified)",
                "blob:cmd_get",
                arguments.blob_get,
            ),
            Command(
                "head",
                "show whether a blob exists, and its size",
                "blob:cmd_head",
                arguments.ref_digest,
            ),
            Command(
                "put",
                "store a blob read from FILE or stdin; prints its digest",
                "blob:cmd_put",
                arguments.blob_put,
            ),
            Command(
                "delete", "delete a blob", "blob:cmd_delete", arguments.ref_digest, aliases=("rm",)
            ),
            Command(
                "copy",
                "copy one blob between repositories",
                "blob:cmd_copy",
                arguments.blob_copy,
                aliases=("cp",),
            ),
        ),
        aliases=("layer",),
    ),
    Group(
        "tag",
        "list and delete tags",
        (
            Command(
                "ls",
                "list the tags of a repository",
                "tag:cmd_ls",
                arguments.tag_ls,
                description="List the tags of a repository. --include and --exclude take regular "
                "expressions that must match the whole tag (they are anchored, as in regctl).",
                epilog="examples:\n"
                "  ocistore tag ls ocidir://store\n"
                "  ocistore tag ls --include 'v1\\..*' --exclude '.*-rc.*' 127.0.0.1:5000/app\n",
                aliases=("list",),
            ),
            Command(
                "delete",
                "remove a tag (the manifest stays)",
                "tag:cmd_delete",
                arguments.tag_delete,
                aliases=("rm",),
            ),
        ),
    ),
    Group(
        "repo",
        "list repositories, copy every tag of one",
        (
            Command(
                "ls",
                "list repositories (registry catalog)",
                "tag:cmd_repo_ls",
                arguments.repo_ls,
                aliases=("list",),
            ),
            Command(
                "copy",
                "copy every tag of a repository (filtered), skipping what is identical",
                "sync:cmd_repo_copy",
                arguments.repo_copy,
                epilog="examples:\n"
                "  ocistore repo copy 127.0.0.1:5000/app 127.0.0.1:5001/mirror/app\n"
                "  ocistore repo copy --include 'v1\\..*' --newest 3 127.0.0.1:5000/app ocidir://out\n",
                aliases=("cp",),
            ),
        ),
    ),
    Group(
        "sync",
        "mirror many images and repositories from one config",
        (
            Command(
                "run",
                "bring every target of the config up to date",
                "sync:cmd_run",
                arguments.sync_config,
                description="Copy what the config lists (TOML; see docs/sync.md). Tags already "
                "identical cost one HEAD each; tags deleted upstream are left alone. Exit 1 "
                "when an entry failed (the summary says which).",
                epilog="examples:\n"
                "  ocistore sync run mirror.toml\n"
                "  ocistore sync run --shard 2/3 --format json mirror.toml\n",
            ),
            Command(
                "check",
                "report what is out of date (changes nothing; exit 1 if anything is)",
                "sync:cmd_check",
                arguments.sync_config,
            ),
            Command(
                "serve",
                "run each entry on its interval until SIGTERM or SIGINT",
                "sync:cmd_serve",
                arguments.sync_config,
            ),
        ),
    ),
    Group(
        "artifact",
        "store files as OCI artifacts, list referrers",
        (
            Command(
                "put",
                "store files as an OCI artifact (one layer per file)",
                "artifact:cmd_put",
                arguments.artifact_put,
                epilog="examples:\n"
                "  ocistore artifact put ocidir://store:docs README.md LICENSE "
                "--artifact-type application/vnd.example.docs\n"
                "  ocistore artifact put ocidir://store sbom.json --subject ocidir://store:1.0 "
                "--artifact-type application/spdx+json\n",
            ),
            Command(
                "get",
                "write an artifact's files to a directory (verified)",
                "artifact:cmd_get",
                arguments.artifact_get,
                description="Write the files of the artifact at REF. With --artifact-type, REF is "
                "the subject and its (single) referrer of that type is fetched.",
            ),
            Command(
                "list",
                "list the referrers of a subject",
                "artifact:cmd_list",
                arguments.artifact_list,
                aliases=("ls",),
            ),
        ),
    ),
    Group(
        "index",
        "build and edit multi-platform indexes",
        (
            Command(
                "create",
                "create an OCI index from existing images or indexes",
                "index:cmd_create",
                arguments.index_create,
                description="Create an OCI index at REF whose entries are the SRC manifests (an "
                "index source contributes its entries). SRC may be ':TAG' or '@DIGEST' in REF's "
                "repository, or any reference (it is copied next to the index first). --platform "
                "keeps only entries of those platforms.",
                epilog="example:\n  ocistore index create ocidir://store:multi :amd64 :arm64\n",
            ),
            Command(
                "add", "add manifests to an existing index", "index:cmd_add", arguments.index_add
            ),
            Command(
                "delete",
                "remove entries from an index",
                "index:cmd_delete",
                arguments.index_delete,
                aliases=("rm",),
            ),
        ),
    ),
    Group(
        "scheme",
        "installed storage schemes",
        (
            Command(
                "list",
                "list installed schemes: plugin, distribution, version and capabilities",
                "info:cmd_scheme_list",
                aliases=("ls",),
            ),
            Command(
                "new",
                "write a pip-installable scheme plugin skeleton that passes the kit's first checks",
                "scaffold:cmd_scheme_new",
                arguments.scheme_new,
                epilog="example:\n  ocistore scheme new sqlite\n"
                "  pip install -e 'ocistore-sqlite[test]'\n",
            ),
        ),
    ),
    Command("version", "print versions of ocistore and its plugins", "info:cmd_version"),
)


def _add(sub: Subparsers, command: Command, level: int) -> None:
    action(
        sub,
        command.name,
        command.lazy_handler(),
        command.help,
        command.arguments,
        description=command.description,
        epilog=command.epilog,
        aliases=command.aliases,
        level=level,
    )


def register(verbs: Subparsers) -> None:
    """Add every command of :data:`COMMANDS` to ``verbs`` (each parser is built on first use)."""
    for entry in COMMANDS:
        if isinstance(entry, Group):

            def actions(sub: Subparsers, commands: tuple[Command, ...] = entry.commands) -> None:
                for command in commands:
                    _add(sub, command, 2)

            group(verbs, entry.name, entry.help, actions, aliases=entry.aliases)
        else:
            _add(verbs, entry, 1)
