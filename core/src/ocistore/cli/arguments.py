"""Each command's own arguments: one small function per argument list, named in the table.

:mod:`ocistore.cli.commands` names these functions; argparse runs one when it first uses that
command's parser. Help text, argument order and ``type=`` converters are exactly what the verb
modules used to register themselves. Nothing here imports more than argparse and ``re``: a
converter that needs a core type (``Digest``) imports it when it is called.
"""

from __future__ import annotations

import argparse
import re

from ocistore.cli.global_options import positive_int

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from ocistore.digest import Digest

#: What ORAS records when the user names no type; better than leaving artifactType out.
DEFAULT_ARTIFACT_TYPE = "application/vnd.unknown.artifact.v1"


# The converters below keep the names they had in the verb modules: argparse puts a converter's
# ``__name__`` into its message when one raises something other than ArgumentTypeError.
def _digest(text: str) -> Digest:
    """argparse ``type=``: a malformed digest is a usage error."""
    from ocistore.digest import Digest
    from ocistore.errors import InvalidDigestError

    try:
        return Digest.parse(text)
    except InvalidDigestError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _regex(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as e:
        raise argparse.ArgumentTypeError(f"invalid regular expression {text!r}: {e}") from None


def _annotation(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def ref(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REF")


# -- image ---------------------------------------------------------------------------------------
def image_copy(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SRC", help="reference to copy from")
    p.add_argument("target", metavar="DST", help="reference to copy to")
    p.add_argument("--referrers", action="store_true", help="also copy referrers, recursively")
    p.add_argument(
        "--referrers-artifact-type",
        metavar="TYPE",
        help="with --referrers: only referrers of this artifactType",
    )
    p.add_argument(
        "--digest-tags",
        action="store_true",
        help="also copy <alg>-<hex>[.*] tags of copied manifests (cosign style)",
    )
    p.add_argument(
        "--fast", action="store_true", help="do nothing when the target tag has the same digest"
    )
    p.add_argument(
        "--force-recursive",
        action="store_true",
        help="check every child even when the top manifest matches (repairs targets)",
    )
    p.add_argument(
        "--include-external",
        action="store_true",
        help="copy layers that carry external urls (foreign/non-distributable)",
    )
    p.add_argument(
        "--attempts",
        type=int,
        default=3,
        metavar="N",
        help="tries per blob or manifest on transient errors (default 3; 1 = no retry)",
    )
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bars, even on a terminal"
    )


def image_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REF")
    p.add_argument("file", metavar="FILE", help="tar file to write ('-' for stdout)")
    p.add_argument(
        "--name", metavar="TAG", help="tag recorded in the archive (default: the reference's tag)"
    )
    p.add_argument(
        "--include-external", action="store_true", help="also export layers with external urls"
    )


def image_import(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REF", help="reference to push to")
    p.add_argument("file", metavar="FILE", help="tar file to read ('-' for stdin)")
    p.add_argument(
        "--name",
        metavar="NAME",
        help="which image of a multi-image archive (a tag, full name or digest)",
    )


# -- manifest ------------------------------------------------------------------------------------
def manifest_put(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REF", help="tag or digest reference to store at")
    p.add_argument("file", metavar="FILE", nargs="?", default="-", help="default: stdin")
    p.add_argument(
        "--content-type",
        metavar="TYPE",
        help="media type of the body (default: its mediaType field, or sniffed)",
    )
    p.add_argument(
        "--by-digest", action="store_true", help="store by digest only, without touching a tag"
    )


def manifest_delete(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REF", help="a reference with @DIGEST")
    p.add_argument(
        "--force-tag-dereference",
        action="store_true",
        help="accept a tag: resolve it and delete that digest (removes ALL its tags)",
    )


# -- blob ----------------------------------------------------------------------------------------
def blob_get(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REF", help="repository holding the blob")
    p.add_argument("digest", metavar="DIGEST", type=_digest)
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")


def ref_digest(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REF")
    p.add_argument("digest", metavar="DIGEST", type=_digest)


def blob_put(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REF", help="repository to store into")
    p.add_argument("file", metavar="FILE", nargs="?", default="-", help="default: stdin")
    p.add_argument("--digest", type=_digest, metavar="DIGEST", help="expected digest (verified)")


def blob_copy(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SRC")
    p.add_argument("target", metavar="DST")
    p.add_argument("digest", metavar="DIGEST", type=_digest)


# -- tag, repo -----------------------------------------------------------------------------------
def tag_ls(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REPO", help="repository (a tag or digest is ignored)")
    p.add_argument("--limit", type=positive_int, metavar="N", help="ask for at most N tags")
    p.add_argument("--last", metavar="TAG", help="start after this tag (pagination)")
    p.add_argument(
        "--include",
        type=_regex,
        action="append",
        default=[],
        metavar="REGEX",
        help="keep tags matching REGEX (repeatable; any may match)",
    )
    p.add_argument(
        "--exclude",
        type=_regex,
        action="append",
        default=[],
        metavar="REGEX",
        help="drop tags matching REGEX (repeatable)",
    )


def tag_delete(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REF", help="reference with the tag to remove")


def scheme_new(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="the scheme's name and reference prefix")
    p.add_argument(
        "-C",
        "--directory",
        default=".",
        metavar="DIR",
        help="where to create ocistore-NAME/ (default: the current directory)",
    )


def repo_ls(p: argparse.ArgumentParser) -> None:
    p.add_argument("registry", metavar="REGISTRY", help="HOST[:PORT] (or a prefixed location)")
    p.add_argument("--limit", type=positive_int, metavar="N", help="ask for at most N names")
    p.add_argument("--last", metavar="NAME", help="start after this repository (pagination)")


# -- artifact ------------------------------------------------------------------------------------
def artifact_put(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REF", help="where to store the artifact")
    p.add_argument("files", metavar="FILE", nargs="*", help="files to include")
    p.add_argument(
        "--artifact-type",
        metavar="TYPE",
        default=DEFAULT_ARTIFACT_TYPE,
        help=f"the artifactType (default: {DEFAULT_ARTIFACT_TYPE})",
    )
    p.add_argument(
        "--media-type",
        metavar="TYPE",
        default="application/octet-stream",
        help="media type of each file layer (default: application/octet-stream)",
    )
    p.add_argument(
        "--annotation",
        type=_annotation,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="manifest annotation (repeatable)",
    )
    p.add_argument(
        "--subject",
        metavar="REF",
        help="the manifest this artifact refers to (same repository; ':TAG' or '@DIGEST' "
        "are relative to REF); without a tag in REF the artifact is stored by digest",
    )


def artifact_get(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REF")
    p.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        help="directory for the files (default: stdout, if the artifact has one file)",
    )
    p.add_argument("--artifact-type", metavar="TYPE", help="treat REF as the subject")


def artifact_list(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REF", help="the subject (tag or digest)")
    p.add_argument("--artifact-type", metavar="TYPE", help="only referrers of this type")


# -- index ---------------------------------------------------------------------------------------
def index_create(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REF", help="where to store the index")
    p.add_argument("sources", metavar="SRC", nargs="+", help="manifests to include")
    p.add_argument(
        "--annotation",
        type=_annotation,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="index annotation (repeatable)",
    )


def index_add(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REF", help="the index to change (stored back at its tag)")
    p.add_argument("sources", metavar="SRC", nargs="+", help="manifests to add")


def index_delete(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REF", help="the index to change (stored back at its tag)")
    p.add_argument(
        "--digest",
        action="append",
        default=[],
        metavar="DIGEST",
        type=_digest,
        help="remove the entry with this digest (repeatable)",
    )


# -- sync, repo copy -----------------------------------------------------------------------------
def _pattern(text: str) -> str:
    """argparse ``type=``: a regular expression, kept as text (checked here, used later)."""
    return _regex(text).pattern


def _shard_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--shard",
        metavar="K/N",
        help="do only part K of N (1 <= K <= N): N runs together do everything once",
    )


def sync_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="CONFIG", help="the sync config (TOML; see docs/sync.md)")
    _shard_option(p)
    p.add_argument(
        "--no-progress", action="store_true", help="no progress lines, even on a terminal"
    )


def repo_copy(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SRC_REPO", help="repository to copy every tag of")
    p.add_argument("target", metavar="DST_REPO", help="repository to copy them to")
    p.add_argument(
        "--include",
        type=_pattern,
        action="append",
        default=[],
        metavar="REGEX",
        help="copy tags matching REGEX (anchored; repeatable; any may match)",
    )
    p.add_argument(
        "--exclude",
        type=_pattern,
        action="append",
        default=[],
        metavar="REGEX",
        help="skip tags matching REGEX (anchored; repeatable)",
    )
    p.add_argument("--semver", metavar="RANGE", help="only version tags in RANGE ('>=1.2,<2')")
    p.add_argument(
        "--newest", type=positive_int, metavar="N", help="only the N highest version tags"
    )
    p.add_argument("--referrers", action="store_true", help="also copy referrers, recursively")
    p.add_argument(
        "--digest-tags", action="store_true", help="also copy <alg>-<hex>[.*] tags (cosign)"
    )
    p.add_argument(
        "--fast", action="store_true", help="skip a tag whose target has the same digest"
    )
    p.add_argument("--force-recursive", action="store_true", help="check every child of every tag")
    p.add_argument("--include-external", action="store_true", help="copy layers with external urls")
    p.add_argument(
        "--backup",
        metavar="TEMPLATE",
        help="before overwriting a target tag, tag its old content so ('{tag}-old-{date}')",
    )
    p.add_argument(
        "--parallel",
        type=positive_int,
        default=4,
        metavar="N",
        help="tags copied at once (default 4)",
    )
    p.add_argument(
        "--host-requests",
        type=positive_int,
        metavar="N",
        help="requests in flight per registry host, shared by all copies (default 8)",
    )
    p.add_argument(
        "--attempts",
        type=positive_int,
        default=3,
        metavar="N",
        help="tries per blob or manifest on transient errors (default 3)",
    )
    _shard_option(p)
    p.add_argument(
        "--no-progress", action="store_true", help="no progress lines, even on a terminal"
    )
