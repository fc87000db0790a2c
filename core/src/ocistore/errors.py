"""One error tree for everything ocistore raises.

Callers catch these and nothing else: plugins translate ``requests`` and ``OSError`` failures at
their boundary, so no caller ever imports a transport library to handle an error.

::

    OCIStoreError
    ├── InvalidReferenceError        text that is not a valid reference for its scheme
    ├── InvalidDigestError           text that is not a valid digest
    ├── InvalidOptionError           a scheme option or an argument with a value it cannot take
    ├── VerificationError            content did not match what was promised
    │   ├── DigestMismatchError
    │   ├── ShortReadError
    │   └── SizeLimitExceededError   more bytes than expected, or over a memory limit
    ├── ManifestError
    │   ├── ManifestInvalidError     JSON or schema violation (names the field)
    │   └── UnsupportedMediaTypeError
    ├── NotFoundError
    │   ├── BlobNotFoundError
    │   ├── ManifestNotFoundError
    │   │   └── TagNotFoundError     (a read by a missing tag finds no manifest either)
    │   ├── RepositoryNotFoundError
    │   └── LayoutNotFoundError
    ├── MissingDigestError           an operation needs a digest and the reference has none
    ├── MissingTagError              an operation needs a tag and the reference has none
    ├── UnsupportedError             the scheme does not do this operation
    │   └── MountRefusedError        the target declined a cross-repository mount
    ├── StorageError                 local storage failed (permissions, disk full, I/O)
    │   └── LayoutError              an OCI layout on disk is malformed
    ├── AuthError
    │   ├── UnauthorizedError        401: no or wrong credentials
    │   └── ForbiddenError           403: authenticated but not allowed
    ├── RegistryError                any other unexpected HTTP answer (keeps status and codes)
    │   └── RateLimitError           429 after retries
    ├── TransportError               connection, TLS or timeout failure
    ├── PluginError
    │   ├── PluginLoadError          an entry point failed to import or register
    │   ├── SchemeConflictError      two plugins claim one scheme name
    │   └── UnknownSchemeError       no installed plugin handles a prefix
    ├── LoopDetectedError            an index that (indirectly) contains itself
    ├── CopyError                    a copy failed; names the reference and digest
    └── ConfigError                  a configuration file is invalid; names the key
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BlobNotFoundError",
    "ConfigError",
    "CopyError",
    "DigestMismatchError",
    "ForbiddenError",
    "InvalidDigestError",
    "InvalidOptionError",
    "InvalidReferenceError",
    "LayoutError",
    "LayoutNotFoundError",
    "LoopDetectedError",
    "ManifestError",
    "ManifestInvalidError",
    "ManifestNotFoundError",
    "MissingDigestError",
    "MissingTagError",
    "MountRefusedError",
    "NotFoundError",
    "OCIStoreError",
    "PluginError",
    "PluginLoadError",
    "RateLimitError",
    "RegistryError",
    "RepositoryNotFoundError",
    "SchemeConflictError",
    "ShortReadError",
    "SizeLimitExceededError",
    "StorageError",
    "TagNotFoundError",
    "TransportError",
    "UnauthorizedError",
    "UnknownSchemeError",
    "UnsupportedError",
    "UnsupportedMediaTypeError",
    "VerificationError",
]


class OCIStoreError(Exception):
    """Root of every error ocistore raises.

    ``hint`` is an optional next step for a person (the CLI prints it under the message).
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class InvalidReferenceError(OCIStoreError, ValueError):
    """A reference string does not follow its scheme's grammar."""


class InvalidDigestError(OCIStoreError, ValueError):
    """A digest string does not follow the image-spec digest grammar."""


class InvalidOptionError(OCIStoreError, ValueError):
    """A scheme option (``Settings.options``) or an argument (``limit=-1``) is not accepted.

    The message names the option and what it accepts; an unknown option is an error rather than
    ignored, so a typo does not silently leave a default in force.
    """


class VerificationError(OCIStoreError):
    """Content read or written does not match the digest or size it was promised under."""


class DigestMismatchError(VerificationError):
    """The bytes hash to a different digest than expected."""


class ShortReadError(VerificationError):
    """The stream ended before the expected number of bytes."""


class SizeLimitExceededError(VerificationError):
    """More bytes than expected, or more than a memory limit allows."""


class ManifestError(OCIStoreError):
    """A manifest cannot be used."""


class ManifestInvalidError(ManifestError, ValueError):
    """A manifest is not valid JSON or violates its schema."""


class UnsupportedMediaTypeError(ManifestError):
    """The media type is unknown, or known but not supported for this operation."""


class NotFoundError(OCIStoreError):
    """Something named does not exist."""


class BlobNotFoundError(NotFoundError):
    """A blob is missing."""


class ManifestNotFoundError(NotFoundError):
    """A manifest (by tag or digest) is missing."""


class TagNotFoundError(ManifestNotFoundError):
    """A tag is missing.

    A subclass of :class:`ManifestNotFoundError` because a manifest read by a tag that does not
    exist has not found its manifest either: callers catch the one, schemes may say the other.
    """


class RepositoryNotFoundError(NotFoundError):
    """A repository is missing."""


class LayoutNotFoundError(NotFoundError):
    """An OCI layout directory is missing."""


class MissingDigestError(OCIStoreError, ValueError):
    """The operation needs a reference with a digest."""


class MissingTagError(OCIStoreError, ValueError):
    """The operation needs a reference with a tag."""


class UnsupportedError(OCIStoreError):
    """The scheme (or the server behind it) does not support this operation."""


class MountRefusedError(UnsupportedError):
    """The target would not link the blob from the other repository; send the bytes instead."""


class StorageError(OCIStoreError):
    """Local storage failed: permissions, a full disk, an I/O error."""


class LayoutError(StorageError):
    """An OCI image layout on disk is malformed or cannot be written."""


class AuthError(OCIStoreError):
    """Authentication or authorisation failed."""


class UnauthorizedError(AuthError):
    """The server wants (other) credentials."""


class ForbiddenError(AuthError):
    """The server knows who we are and refuses."""


class RegistryError(OCIStoreError):
    """An HTTP answer the protocol does not allow here.

    ``status`` is the HTTP status, ``codes`` the distribution-spec error codes from the body.
    ``retry_after`` is the pause in seconds the server asked for (a ``Retry-After`` header on
    a 429 or 503), or None when it asked for none; callers that retry wait at least that long.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        codes: tuple[str, ...] = (),
        hint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.codes = codes
        self.retry_after = retry_after


class RateLimitError(RegistryError):
    """The registry kept answering 429 after every retry."""


class TransportError(OCIStoreError):
    """The connection failed: refused, reset, timed out or TLS."""


class PluginError(OCIStoreError):
    """A plugin could not be used."""


class PluginLoadError(PluginError):
    """An entry point failed to import or register."""


class SchemeConflictError(PluginError):
    """Two plugins claim one scheme name."""


class UnknownSchemeError(PluginError):
    """No installed plugin handles this scheme prefix."""


class LoopDetectedError(OCIStoreError):
    """An index refers back to one of its own parents."""


class CopyError(OCIStoreError):
    """Copying one piece of an image failed.

    The message names the reference and digest; ``ref`` and ``digest`` carry them for programs.
    """

    def __init__(
        self,
        message: str,
        *,
        ref: str | None = None,
        digest: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.ref = ref
        self.digest = digest


class ConfigError(OCIStoreError, ValueError):
    """A configuration file (a sync config) is invalid.

    The message starts with the file and the dotted path of the offending key
    (``sync.toml: sync[2].tags.newest: ...``); ``key`` carries that path for programs.
    """

    def __init__(self, message: str, *, key: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.key = key
