"""Image copy between any two schemes.

:func:`copy_image` copies a manifest, an image or an index (recursively) from one reference to
another, whatever schemes they belong to; :meth:`ocistore.Client.image_copy` is the usual way in.
The package is split by concern:

* :mod:`.options`: :class:`CopyOptions` and :class:`CopyResult`;
* :mod:`.progress`: :class:`ProgressEvent` and the thread-safe emitter;
* :mod:`.plan`: reading the source tree (manifests, platform filter, referrers, digest tags);
* :mod:`.sparse`: platform filtering and the sparse index it produces;
* :mod:`.blobs`: one blob transfer (skip, mount, or stream);
* :mod:`.retry`: which failures are transient, and bounded retries of one step;
* :mod:`.schedule`: a dependency-ordered, bounded, cancellable thread-pool runner;
* :mod:`.engine`: the copy itself, tying the above together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocistore.copy.options import CopyOptions, CopyResult
from ocistore.copy.progress import ProgressCallback, ProgressEvent

if TYPE_CHECKING:
    from ocistore.copy.engine import copy_image

__all__ = ["CopyOptions", "CopyResult", "ProgressCallback", "ProgressEvent", "copy_image"]


def __getattr__(name: str) -> object:
    # The engine pulls in concurrent.futures; load it only when a copy actually runs.
    if name == "copy_image":
        from ocistore.copy.engine import copy_image

        return copy_image
    raise AttributeError(f"module 'ocistore.copy' has no attribute {name!r}")
