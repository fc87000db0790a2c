"""Child processes for the crash and concurrency tests (run as a script, never imported by them).

``python ocidir_worker.py MODE LAYOUT [args...]``:

* ``churn SEED`` — write forever: images with multi-MB layers, tags, sessions, deletes, referrers;
  prints ``started`` once the first write is done. The parent kills it with SIGKILL at random.
* ``stall-index`` / ``stall-blob`` / ``stall-stream`` — write until the chosen point inside a
  write (index.json temp file written but not renamed; blob temp file complete but not renamed;
  blob half streamed), print ``stalled`` and sleep, so the parent kills it exactly there.
* ``tags NAME COUNT BATCH`` — wait for ``LAYOUT.go``, then push COUNT tagged images named
  ``NAME-<i>``; with BATCH > 0, inside a session flushed every BATCH pushes.
* ``copier`` — a fork server for the copy crash tests: imports everything once, then for each
  ``SRC DST`` line on stdin forks a child that runs ``image_copy(SRC, DST)`` and closes the
  client (an OCI layout collects its garbage there), prints ``pid <pid>`` at once and
  ``exit <status>`` when the child ends (``-9`` when the parent killed it). Forking keeps each of
  the many kills to milliseconds instead of a fresh interpreter's start-up.
* ``gc-loop`` — wait for ``LAYOUT.go``, then until ``LAYOUT.stop`` exists: push an image that
  shares its base layer with the copied ones under a ``junk-*`` tag, delete that tag (and any
  other ``junk-*``), and collect garbage; prints how many collections ran and how many blobs
  they removed.
* ``copy-many SRC COUNT`` — wait for ``LAYOUT.go``, then copy ``SRC:img-<i>`` to
  ``LAYOUT:copy-<i>`` for each i, one client and one close (so one GC window) per copy.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from ocistore.errors import TagNotFoundError
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
    _wait_go(layout)
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


def copier() -> None:
    from ocistore.client import Client
    from ocistore.settings import Settings

    for line in sys.stdin:
        src, dst = line.split()
        pid = os.fork()
        if pid == 0:
            try:
                with Client(settings=Settings(docker_config=False)) as client:
                    client.image_copy(src, dst)
            except BaseException as e:
                print(f"copy failed: {e!r}", file=sys.stderr, flush=True)
                os._exit(1)
            os._exit(0)
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"exit {os.waitstatus_to_exitcode(status)}", flush=True)


def _wait_go(layout: str) -> None:
    go = Path(f"{layout}.go")
    while not go.exists():
        time.sleep(0.005)


def gc_loop(layout: str) -> None:
    from ocidir_testlib import sharing_image

    ref = parse(f"ocidir://{layout}")
    _wait_go(layout)
    stop = Path(f"{layout}.stop")
    rounds = runs = removed = 0
    while not stop.exists():
        rounds += 1
        scheme = OCIDir()
        push(scheme, ref.with_tag(f"junk-{rounds}"), sharing_image(f"junk-{rounds}"))
        for tag in scheme.tag_list(ref):
            if tag.startswith("junk-"):
                with contextlib.suppress(TagNotFoundError):
                    scheme.tag_delete(ref.with_tag(tag))
        scheme.close(ref)  # this instance wrote, so close collects unless a writer is busy
        if scheme.last_gc is not None:
            runs += 1
            removed += len(scheme.last_gc.removed)
    print(f"{rounds} {runs} {removed}", flush=True)


def copy_many(layout: str, src: str, count: int) -> None:
    from ocistore.client import Client
    from ocistore.settings import Settings

    _wait_go(layout)
    for i in range(count):
        with Client(settings=Settings(docker_config=False)) as client:
            client.image_copy(f"{src}:img-{i}", f"ocidir://{layout}:copy-{i}")
        time.sleep(0.01)  # a window for the collector between two copies


def main() -> None:
    mode, layout, *args = sys.argv[1:]
    if mode == "churn":
        churn(layout, int(args[0]))
    elif mode.startswith("stall-"):
        stall(layout, mode.removeprefix("stall-"))
    elif mode == "tags":
        tags(layout, args[0], int(args[1]), int(args[2]))
    elif mode == "copier":
        copier()
    elif mode == "gc-loop":
        gc_loop(layout)
    elif mode == "copy-many":
        copy_many(layout, args[0], int(args[1]))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
