"""Child processes for the crash and concurrency tests (run as a script, never imported by them).

``python ocidir_worker.py MODE LAYOUT [args...]``:

* ``churn SEED`` — write forever: images with multi-MB layers, tags, sessions, deletes, referrers;
  prints ``started`` once the first write is done. The parent kills it with SIGKILL at random.
* ``stall-index`` / ``stall-blob`` / ``stall-stream`` — write until the chosen point inside a
  write (index.json temp file written but not renamed; blob temp file complete but not renamed;
  blob half streamed), print ``stalled`` and sleep, so the parent kills it exactly there.
* ``tags NAME COUNT BATCH`` — wait for ``LAYOUT.go``, then push COUNT tagged images named
  ``NAME-<i>``; with BATCH > 0, inside a session flushed every BATCH pushes.
"""

from __future__ import annotations

import io
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from ocistore.testing.content import artifact, oci_image, push
from ocistore_ocidir.plugin import parse
from ocistore_ocidir.scheme import OCIDir


def churn(layout: str, seed: int) -> None:
    rng = random.Random(seed)
    scheme = OCIDir()
    ref = parse(f"ocidir://{layout}")
    announced = False
    for i in range(10**9):
        image = oci_image(f"{seed}-{i}", layers=1)
        big = rng.choice([0, 1, 3, 8]) * 1024 * 1024 + rng.randrange(1000)
        data = os.urandom(big)
        scheme.blob_put(ref, None, io.BytesIO(data), len(data))
        tag = f"t{rng.randrange(40)}"
        action = rng.randrange(6)
        if action == 0:
            with scheme.session(ref):
                for j in range(rng.randrange(2, 20)):
                    push(
                        scheme, ref.with_tag(f"s{rng.randrange(40)}"), oci_image(f"{seed}-{i}-{j}")
                    )
        elif action == 1 and scheme.tag_list(ref):
            victim = rng.choice(scheme.tag_list(ref))
            if not victim.startswith("sha256-"):
                digest = scheme.manifest_head(ref.with_tag(victim)).digest
                scheme.manifest_delete(ref.with_digest(digest))
        elif action == 2:
            push(scheme, ref.with_tag(tag), image)
            art = artifact(image.manifest.descriptor(), payload=b"%d" % i)
            push(scheme, ref.with_digest(art.digest), art, child=True)
        else:
            push(scheme, ref.with_tag(tag), image)
        if rng.randrange(10) == 0:
            scheme.close(ref)
        if not announced:
            print("started", flush=True)
            announced = True


def _stall(*_: Any, **__: Any) -> None:
    print("stalled", flush=True)
    time.sleep(3600)


def stall(layout: str, where: str) -> None:
    scheme = OCIDir()
    ref = parse(f"ocidir://{layout}")
    image = oci_image("stall")
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        """``os.replace`` (used by every rename into place) that stalls at the chosen file."""
        name = Path(dst).name
        if (where == "index" and name == "index.json") or (where == "blob" and len(name) == 64):
            _stall()
        real_replace(src, dst)

    os.replace = replace  # type: ignore[assignment]
    if where == "index":
        push(scheme, ref.with_tag("victim"), image)
    elif where == "blob":
        data = os.urandom(5 * 1024 * 1024)
        scheme.blob_put(ref, None, io.BytesIO(data), len(data))
    elif where == "stream":

        class Slow(io.RawIOBase):
            sent = 0

            def readable(self) -> bool:
                return True

            def readinto(self, b: Any) -> int:
                if self.sent >= 6 * 1024 * 1024:
                    _stall()
                n = min(len(b), 1024 * 1024)
                b[:n] = b"s" * n
                self.sent += n
                return n

        scheme.blob_put(ref, None, Slow(), None)
    raise SystemExit("stall point never reached")


def tags(layout: str, name: str, count: int, batch: int) -> None:
    scheme = OCIDir()
    ref = parse(f"ocidir://{layout}")
    go = Path(f"{layout}.go")
    while not go.exists():
        time.sleep(0.005)
    if batch <= 0:
        for i in range(count):
            push(scheme, ref.with_tag(f"{name}-{i}"), oci_image(f"{name}-{i}", layers=1))
    else:
        with scheme.session(ref) as session:
            for i in range(count):
                push(scheme, ref.with_tag(f"{name}-{i}"), oci_image(f"{name}-{i}", layers=1))
                if (i + 1) % batch == 0:
                    session.flush()
    scheme.close(ref)


def main() -> None:
    mode, layout, *args = sys.argv[1:]
    if mode == "churn":
        churn(layout, int(args[0]))
    elif mode.startswith("stall-"):
        stall(layout, mode.removeprefix("stall-"))
    elif mode == "tags":
        tags(layout, args[0], int(args[1]), int(args[2]))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
