"""Testing aids for ocistore and for scheme plugin authors.

* :mod:`ocistore.testing.conformance`: abstract pytest classes every scheme should pass;
* :mod:`ocistore.testing.content`: deterministic images, indexes and artifacts to push;
* :mod:`ocistore.testing.memory`: a complete in-memory scheme, also a worked example;
* :mod:`ocistore.testing.example`: a complete small plugin (files in a directory), the one
  CONTRIBUTING.md's plugin guide shows and CI runs the kit on.

Nothing here is imported by ``import ocistore``; pytest is needed only for the conformance kit.
"""

from __future__ import annotations

__all__ = ["conformance", "content", "example", "memory"]
