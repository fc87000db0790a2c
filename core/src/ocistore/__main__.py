"""``python -m ocistore``: the same command line as the ``ocistore`` script."""

from __future__ import annotations

from ocistore.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
