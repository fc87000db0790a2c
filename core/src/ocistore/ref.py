"""References: which scheme, where, and which tag and/or digest.

Each scheme owns its grammar. This module provides the two grammars the shipped schemes use, as
pure functions, so that a third-party scheme with a path-like location can reuse
:func:`parse_path_reference` instead of writing its own:

* registry references, ``[registry[:port]/]repo[:tag][@digest]`` (:func:`parse_reg_reference`);
* path references, ``<scheme>://path[:tag][@digest]`` (:func:`parse_path_reference`).

A ``Ref`` prints back (``str(ref)``) to text that parses to an equal ``Ref``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ocistore.digest import Digest
from ocistore.errors import InvalidDigestError, InvalidReferenceError
from ocistore.lazyre import LazyPattern

__all__ = [
    "DOCKER_HUB",
    "Ref",
    "parse_path_reference",
    "parse_reg_reference",
    "split_scheme",
]

DOCKER_HUB = "docker.io"
_HUB_ALIASES = {"", "docker.io", "index.docker.io", "registry-1.docker.io"}
SCHEME_PREFIX = LazyPattern(r"^([a-z][a-z0-9+.-]*)://(.*)$", re.DOTALL)
_TAG = LazyPattern(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
_REPO_COMPONENT = LazyPattern(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$")
_HOST = LazyPattern(
    r"^(?:"
    r"\[[0-9a-fA-F:.]+\]"  # bracketed IPv6
    r"|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*\.?"
    r")(?::[0-9]{1,5})?$"
)
_PATH = LazyPattern(r"^[/a-zA-Z0-9_\-. ~+]+$")
_MAX_NAME = 255


@dataclass(frozen=True)
class Ref:
    """A parsed reference.

    ``registry`` and ``repository`` are set for registry-like schemes, ``path`` for path-like
    ones, and ``path`` plus ``repository`` for a path that holds several repositories
    (``parse_path_reference(..., repository=True)``; printed ``scheme://path#repo``).
    ``tag`` and ``digest`` may both be set; the digest then wins for lookups and the tag is
    kept for display and for tagging on write.
    """

    scheme: str
    registry: str = ""
    repository: str = ""
    path: str = ""
    tag: str = ""
    digest: Digest | None = None

    @property
    def reference(self) -> str:
        """What to look up: the digest if set, else the tag."""
        return str(self.digest) if self.digest else self.tag

    def with_tag(self, tag: str) -> Ref:
        """This repository at ``tag`` (any digest is dropped)."""
        if not _TAG.match(tag):
            raise InvalidReferenceError(f"invalid tag {tag!r} for {self}")
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: Digest | str, *, keep_tag: bool = False) -> Ref:
        """This repository at ``digest``; the tag is dropped unless ``keep_tag``."""
        return replace(self, digest=Digest.parse(digest), tag=self.tag if keep_tag else "")

    def bare(self) -> Ref:
        """The repository itself, with neither tag nor digest."""
        return replace(self, tag="", digest=None)

    def same_repository(self, other: Ref) -> bool:
        return (self.scheme, self.registry, self.repository, self.path) == (
            other.scheme,
            other.registry,
            other.repository,
            other.path,
        )

    def same_registry(self, other: Ref) -> bool:
        return (
            self.scheme == other.scheme and self.registry == other.registry and bool(self.registry)
        )

    def same_store(self, other: Ref) -> bool:
        """Same scheme and same registry host (always true between two path references of one
        scheme): where a scheme may be able to link content instead of copying it."""
        return self.scheme == other.scheme and self.registry == other.registry

    @property
    def location(self) -> str:
        """Where the content lives, without tag or digest."""
        if self.scheme == "reg":
            return f"{self.registry}/{self.repository}"
        if self.repository:  # a file or directory holding several repositories
            return f"{self.scheme}://{self.path}#{self.repository}"
        return f"{self.scheme}://{self.path}"

    def __str__(self) -> str:
        out = self.location
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def split_scheme(text: str) -> tuple[str | None, str]:
    """Split ``scheme://rest``; a reference without ``://`` has no scheme (``None``)."""
    m = SCHEME_PREFIX.match(text)
    if not m:
        return None, text
    return m.group(1), m.group(2)


def _parse_digest(text: str, full: str) -> Digest:
    try:
        return Digest.parse(text)
    except InvalidDigestError as e:
        raise InvalidReferenceError(f"invalid reference {full!r}: {e}") from None


def _split_tag_digest(text: str, full: str) -> tuple[str, str, Digest | None]:
    digest = None
    if "@" in text:
        text, _, dtext = text.partition("@")
        digest = _parse_digest(dtext, full)
    tag = ""
    slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > slash:
        text, tag = text[:colon], text[colon + 1 :]
        if not _TAG.match(tag):
            raise InvalidReferenceError(
                f"invalid reference {full!r}: invalid tag {tag!r} "
                "(letters, digits, '_', '.', '-'; at most 128 characters; "
                "not starting with '.' or '-')"
            )
    return text, tag, digest


def _is_registry(component: str) -> bool:
    if component == "localhost" or component.startswith("localhost:"):
        return True
    if component.startswith("["):
        return True
    return "." in component or ":" in component or component != component.lower()


def parse_reg_reference(text: str) -> Ref:
    """Parse ``[registry[:port]/]repo[:tag][@digest]`` (Docker Hub defaults, tag ``latest``)."""
    full = text
    if not text or text != text.strip():
        raise InvalidReferenceError(f"invalid reference {full!r}: empty or surrounded by spaces")
    if "://" in text:
        raise InvalidReferenceError(
            f"invalid reference {full!r}: registry references have no scheme prefix "
            "(write registry.example.com/repo:tag)"
        )
    name, tag, digest = _split_tag_digest(text, full)
    if "/" not in name and (name == "localhost" or name.startswith("localhost:")):
        raise InvalidReferenceError(f"invalid reference {full!r}: repository is empty")
    registry, _, repository = name.partition("/")
    if not repository or not _is_registry(registry):
        registry, repository = "", name
    if registry and not _HOST.match(registry):
        raise InvalidReferenceError(
            f"invalid reference {full!r}: invalid registry host {registry!r}"
        )
    if not repository:
        raise InvalidReferenceError(f"invalid reference {full!r}: repository is empty")
    if registry.lower() in _HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in repository:
            repository = f"library/{repository}"
    for component in repository.split("/"):
        if not _REPO_COMPONENT.match(component):
            if _REPO_COMPONENT.match(component.lower()):
                raise InvalidReferenceError(
                    f"invalid reference {full!r}: repository must be lowercase ({repository!r})"
                )
            raise InvalidReferenceError(
                f"invalid reference {full!r}: invalid repository component {component!r} "
                "(lowercase letters and digits, separated by '.', '_', '__' or dashes)"
            )
    if len(registry) + 1 + len(repository) > _MAX_NAME:
        raise InvalidReferenceError(f"invalid reference {full!r}: name longer than {_MAX_NAME}")
    if not tag and digest is None:
        tag = "latest"
    return Ref("reg", registry=registry, repository=repository, tag=tag, digest=digest)


def parse_path_reference(scheme: str, text: str, *, repository: bool = False) -> Ref:
    """Parse ``<scheme>://path[:tag][@digest]`` (the scheme prefix is optional in ``text``).

    The path may be relative or absolute and may contain spaces, but never ``:``, ``@`` or
    ``#``, which separate tag, digest and repository. No default tag is applied: that is the
    scheme's decision.

    With ``repository=True`` (a scheme whose one file or directory holds several repositories,
    such as a database) the grammar is ``<scheme>://path[#repo/name][:tag][@digest]``; the
    repository follows the registry rules for names and prints back the same way.
    """
    full = text
    prefix, rest = split_scheme(text)
    if prefix is not None:
        if prefix != scheme:
            raise InvalidReferenceError(f"invalid reference {full!r}: expected {scheme}://")
        text = rest
    path, tag, digest = _split_tag_digest(text, full)
    repo = ""
    if repository and "#" in path:
        path, _, repo = path.partition("#")
        if not repo or not all(_REPO_COMPONENT.match(c) for c in repo.split("/")):
            raise InvalidReferenceError(
                f"invalid reference {full!r}: invalid repository {repo!r} (lowercase letters "
                "and digits, separated by '.', '_', '__', dashes or '/')"
            )
    if not path:
        raise InvalidReferenceError(f"invalid reference {full!r}: path is empty")
    if not _PATH.match(path):
        bad = sorted({c for c in path if not _PATH.match(c)})
        raise InvalidReferenceError(
            f"invalid reference {full!r}: path {path!r} has characters not allowed: "
            + " ".join(repr(c) for c in bad)
        )
    return Ref(scheme, repository=repo, path=path, tag=tag, digest=digest)
