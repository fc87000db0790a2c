"""The scheme conformance kit: the executable form of the scheme contract.

Subclass :class:`SchemeConformance` in a test module and provide the fixtures (the full guide,
with every rule these tests enforce, is the "Writing a scheme plugin" section of
CONTRIBUTING.md; :mod:`ocistore.testing.example` is a complete plugin that passes)::

    class TestMyScheme(SchemeConformance):
        @pytest.fixture
        def scheme_factory(self):
            return MyScheme                    # picklable: Settings -> scheme

        @pytest.fixture
        def new_repo(self, tmp_path):
            counter = itertools.count()
            return lambda: my_parse(f"my://{tmp_path}/repo{next(counter)}")

        @pytest.fixture
        def tamper(self):
            return MyTamper()                  # changes stored bytes behind the scheme's back

``new_repo()`` returns a fresh, empty repository reference (no digest; no tag, or the
``latest`` a registry reference parses with) each call; two calls give two repositories of the
same backend (used for mounts). A ``scheme`` fixture may replace ``scheme_factory``, at the
price of the checks that need new scheme objects (options, first use, two processes), which
are then skipped with a reason, as are the read-verification checks without ``tamper``
(:mod:`ocistore.testing.conformance.fixtures`).

The classes can be adopted one by one while a scheme grows: :class:`UnsupportedTests` passes
for a scheme that implements nothing yet, then :class:`BlobTests`, :class:`ManifestTests`,
:class:`TagTests`, :class:`ReferrersTests`, :class:`CloseTests` and :class:`ConcurrencyTests`.
Optional abilities are checked against ``scheme.info()``: a scheme that does not declare one
must raise :class:`~ocistore.errors.UnsupportedError` for it, and one that declares it must do
it.
"""

from __future__ import annotations

try:
    import pytest  # noqa: F401 - fail here, with an install hint, rather than deep inside
except ImportError as e:  # pragma: no cover - depends on the install
    raise ImportError(
        "the ocistore conformance kit needs pytest: pip install 'ocistore[testing]'"
    ) from e

from ocistore.testing.conformance.blobs import BlobTests
from ocistore.testing.conformance.concurrency import ConcurrencyTests
from ocistore.testing.conformance.fixtures import SchemeFixtures, Tamper
from ocistore.testing.conformance.lifecycle import CloseTests, ReferrersTests
from ocistore.testing.conformance.manifests import ManifestTests
from ocistore.testing.conformance.tags import TagTests
from ocistore.testing.conformance.unsupported import UnsupportedTests

__all__ = [
    "BlobTests",
    "CloseTests",
    "ConcurrencyTests",
    "ManifestTests",
    "ReferrersTests",
    "SchemeConformance",
    "SchemeFixtures",
    "TagTests",
    "Tamper",
    "UnsupportedTests",
]


class SchemeConformance(
    UnsupportedTests,
    BlobTests,
    ManifestTests,
    TagTests,
    ReferrersTests,
    CloseTests,
    ConcurrencyTests,
):
    """Every conformance test; subclass it with the fixtures described above."""
