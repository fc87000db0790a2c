"""Where things live in an OCI image layout, and whether a directory is one.

An OCI layout is ``oci-layout`` (``{"imageLayoutVersion":"1.0.0"}``), ``index.json`` and
``blobs/<alg>/<encoded>``. Reading is lenient where the spec allows it (unknown files are ignored;
a layout whose ``oci-layout`` file is missing but whose ``index.json`` exists is still read,
because some exporters forget the former) and strict where guessing would be unsafe: a layout
version other than 1.0.0 is refused, since its files may mean something else.

A layout may come from anyone, so nothing in it is followed out of it: ``blobs/`` and
``blobs/<alg>/`` must be real directories (a link there would make reads, writes and garbage
collection act on another directory), and files are opened without following links
(:func:`~ocistore_ocidir.fsutil.open_inside`).

Two hidden lock files of ours may also live at the top (:data:`INDEX_LOCK`, :data:`GC_LOCK`);
readers ignore unknown files (image-spec), and skopeo and umoci were checked to do so.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

from ocistore.digest import Digest
from ocistore.errors import LayoutError, LayoutNotFoundError
from ocistore_ocidir.fsutil import atomic_write, fsync_dir, read_inside

__all__ = [
    "BLOBS_DIR",
    "GC_LOCK",
    "INDEX_FILE",
    "INDEX_LOCK",
    "LAYOUT_FILE",
    "LAYOUT_VERSION",
    "Layout",
]

LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
BLOBS_DIR = "blobs"
LAYOUT_VERSION = "1.0.0"
LAYOUT_BYTES = b'{"imageLayoutVersion":"1.0.0"}'
#: oci-layout is one small object; more than this is not a layout file.
_LAYOUT_FILE_LIMIT = 64 * 1024
#: Exclusive lock around every read-modify-write of index.json (see ``locking``).
INDEX_LOCK = ".ocistore-index.lock"
#: Shared while a process writes or holds ``gc_lock``, exclusive while it collects garbage.
GC_LOCK = ".ocistore-gc.lock"


class Layout:
    """Paths of one layout directory, plus its validity checks.

    ``path`` is kept as the user wrote it, for messages; ``root`` is the absolute path used as
    the key for per-layout state, so ``./x`` and ``x`` share their locks and sessions.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.root = Path(path).absolute()
        self._checked = False
        self._mutex = threading.Lock()
        self._real_dirs: set[str] = set()  # algorithms whose blob directory was checked

    def __str__(self) -> str:
        return self.path

    @property
    def layout_file(self) -> Path:
        return self.root / LAYOUT_FILE

    @property
    def index_file(self) -> Path:
        return self.root / INDEX_FILE

    @property
    def blobs_root(self) -> Path:
        return self.root / BLOBS_DIR

    def blob_dir(self, algorithm: str) -> Path:
        return self.root / BLOBS_DIR / algorithm

    def blob_path(self, digest: Digest) -> Path:
        """``blobs/<alg>/<encoded>``; safe because ``Digest`` validated both parts already, and
        the directories on the way are checked to be real ones (:meth:`check_blob_dir`)."""
        if digest.algorithm not in self._real_dirs:
            self.check_blob_dir(digest.algorithm)
        return self.root / BLOBS_DIR / digest.algorithm / digest.encoded

    def check_blob_dir(self, algorithm: str) -> bool:
        """Whether ``blobs/<alg>`` is a directory; ``LayoutError`` if it or ``blobs`` is a
        symbolic link (which could lead reads, writes and deletes out of the layout)."""
        for path in (self.blobs_root, self.blob_dir(algorithm)):
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                return False
            if stat.S_ISLNK(mode):
                raise LayoutError(
                    f"OCI layout {self.path}: {self.relative(path)} is a symbolic link; "
                    "ocidir does not follow links out of a layout"
                )
            if not stat.S_ISDIR(mode):
                return False  # what then fails names the file (an OSError, translated)
        self._real_dirs.add(algorithm)
        return True

    def relative(self, path: Path) -> str:
        """``path`` relative to the layout, for messages (``blobs/sha256/ab…``)."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    # -- checks -----------------------------------------------------------------------------------
    def _read_version(self) -> str | None:
        """The declared version, or ``None`` when there is no ``oci-layout`` file."""
        try:
            raw = read_inside(
                self.layout_file, _LAYOUT_FILE_LIMIT, f"OCI layout {self.path}: {LAYOUT_FILE}"
            )
        except FileNotFoundError:
            return None
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            raise LayoutError(f"OCI layout {self.path}: {LAYOUT_FILE} is not JSON: {e}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("imageLayoutVersion"), str):
            raise LayoutError(
                f"OCI layout {self.path}: {LAYOUT_FILE} has no imageLayoutVersion string"
            )
        version: str = doc["imageLayoutVersion"]
        if version != LAYOUT_VERSION:
            raise LayoutError(
                f"OCI layout {self.path}: unsupported imageLayoutVersion {version!r} "
                f"(only {LAYOUT_VERSION!r} is supported)",
                hint="this layout was written for a newer (or different) image-spec; "
                "read it with the tool that wrote it",
            )
        return version

    def check(self, *, force: bool = False) -> None:
        """Raise unless this is a readable layout (remembered after the first success).

        ``force`` re-checks, which callers do after a file turned out to be missing, to tell
        "the layout is gone" from "this one file is missing".
        """
        if self._checked and not force:
            return
        if not self.root.exists():
            raise LayoutNotFoundError(f"OCI layout {self.path} not found: no such directory")
        if not self.root.is_dir():
            raise LayoutError(f"OCI layout {self.path}: not a directory")
        if self._read_version() is None and not self.index_file.exists():
            raise LayoutNotFoundError(
                f"OCI layout {self.path} not found: the directory has neither {LAYOUT_FILE} "
                f"nor {INDEX_FILE}"
            )
        self._checked = True

    def ensure(self) -> None:
        """Make the directory a layout if it is not one yet (first write); check it otherwise.

        ``index.json`` is not created here: it is written under the index lock by the first
        index update, so two processes creating one layout cannot overwrite each other's index.
        """
        with self._mutex:
            if self._checked and self.layout_file.exists():
                return
            if self.root.exists() and not self.root.is_dir():
                raise LayoutError(f"OCI layout {self.path}: not a directory")
            self.root.mkdir(parents=True, exist_ok=True)
            if self._read_version() is None:
                atomic_write(self.layout_file, LAYOUT_BYTES)
            if not self.blobs_root.is_dir():
                self.blobs_root.mkdir(exist_ok=True)
                fsync_dir(self.root)
            self._checked = True

    def ensure_blob_dir(self, algorithm: str) -> Path:
        """``blobs/<alg>``, created (and made durable) on first use."""
        directory = self.blob_dir(algorithm)
        if not self.check_blob_dir(algorithm):
            directory.mkdir(parents=True, exist_ok=True)
            fsync_dir(directory.parent)
            self.check_blob_dir(algorithm)
        return directory
