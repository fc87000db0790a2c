"""Hook specifications for ocistore plugins (pluggy project ``ocistore``).

A plugin is a module (or object) exposed through the ``ocistore.plugins`` entry-point group that
implements some of these hooks with :data:`hookimpl`. The shipped ``reg`` and ``ocidir`` schemes
are plugins of exactly this kind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from ocistore.plugins import SchemeRegistry

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT = "ocistore"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def ocistore_add_schemes(registry: SchemeRegistry) -> None:
    """Register the schemes this plugin provides.

    :param registry: call ``registry.add(SchemeSpec(...))`` once per scheme. A name already taken
        by another plugin raises :class:`~ocistore.errors.SchemeConflictError` naming both.

    Keep this cheap: import the scheme's implementation inside its factory, not here.
    """
