"""Instrumented in-memory schemes and fixtures shared by the client and copy tests.

Not a test module: pytest collects it (the name is under our ownership pattern) and finds no
tests. ``Probe`` schemes are the in-memory scheme plus a call log, an in-flight gauge, fault
injection and switchable capabilities, so each engine behaviour can be pinned without a network.

Two kinds of fault: the ``fail_*`` switches of :class:`Config` fail every matching call with a
*permanent* error (HTTP 400, which the copy never retries), and :class:`Faults` queues errors
for the next few calls (transient or not), optionally part-way through a blob's bytes.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import pytest

from ocistore.blob import BlobReader
from ocistore.client import Client
from ocistore.descriptor import Descriptor
from ocistore.digest import Digest
from ocistore.errors import RegistryError, RepositoryNotFoundError
from ocistore.hookspecs import hookimpl
from ocistore.manifest import Manifest
from ocistore.ref import Ref, parse_path_reference, parse_reg_reference
from ocistore.scheme import SchemeInfo, SchemeSpec
from ocistore.settings import Settings
from ocistore.testing.content import Image, push
from ocistore.testing.memory import _LOCK, _STORES, MemoryScheme, _Repo


@dataclass(frozen=True)
class Fault:
    """One injected failure.

    :param error: raised (a copy of it, so notes do not pile up); ``None`` on ``blob_get``
        with ``after`` makes the stream end early instead (a cut download).
    :param after: ``blob_get``/``blob_put`` only: bytes that flow before the fault strikes.
    :param landed: the call completes first, then the error is raised (a lost answer).
    :param delay: seconds to wait before the fault strikes.
    :param flip: ``blob_get`` only: the stream serves the blob with byte ``after`` flipped.
    :param remote: ``blob_get`` only: the reader says its bytes crossed a network.
    """

    error: Exception | None
    after: int | None = None
    landed: bool = False
    delay: float = 0.0
    flip: bool = False
    remote: bool = False


class Faults:
    """Faults for upcoming calls, by operation name and digest (``None``: any digest).

    ``faults.add("blob_put", TransportError("reset"), digest=d, times=2)`` fails the next two
    ``blob_put`` calls for ``d``; later calls succeed. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[tuple[str, Digest | None], deque[Fault]] = {}
        self.struck: list[tuple[str, Digest | None]] = []

    def add(
        self,
        op: str,
        error: Exception | None,
        *,
        digest: Digest | None = None,
        times: int = 1,
        after: int | None = None,
        landed: bool = False,
        delay: float = 0.0,
        flip: bool = False,
        remote: bool = False,
    ) -> None:
        fault = Fault(error, after, landed, delay, flip, remote)
        with self._lock:
            self._queues.setdefault((op, digest), deque()).extend([fault] * times)

    def take(self, op: str, digest: Digest | None) -> Fault | None:
        with self._lock:
            for key in ((op, digest), (op, None)):
                queue = self._queues.get(key)
                if queue:
                    self.struck.append((op, digest))
                    return queue.popleft()
        return None

    def count(self, op: str) -> int:
        """Faults that struck ``op`` so far."""
        with self._lock:
            return sum(1 for o, _ in self.struck if o == op)

    def strike(self, op: str, digest: Digest | None) -> Fault | None:
        """Raise the next fault of ``op`` now, unless it strikes later (``after``/``landed``),
        in which case it is returned for the caller to apply."""
        fault = self.take(op, digest)
        if fault is None:
            return None
        time.sleep(fault.delay)
        if fault.after is not None or fault.landed:
            return fault
        raise fresh(fault)


def fresh(fault: Fault) -> Exception:
    assert fault.error is not None
    return copy.copy(fault.error)


@dataclass
class Config:
    """Behaviour switches of a :class:`ProbeScheme`; tests change them between copies."""

    push_first: bool = False
    blob_mount: bool = True
    #: Seconds every blob_put takes (to make concurrency observable).
    put_delay: float = 0.0
    #: Extra seconds blob_put takes for these digests (to force an order on the race).
    slow_digests: dict[Digest, float] = field(default_factory=dict)
    #: blob_put reads this many bytes at a time, sleeping ``read_delay`` between reads.
    read_size: int = 1024 * 1024
    read_delay: float = 0.0
    fail_blob_put: set[Digest] = field(default_factory=set)
    #: The n-th blob_put call (1-based) fails, whatever its digest.
    fail_put_call: int | None = None
    fail_blob_get: set[Digest] = field(default_factory=set)
    fail_manifest_put: set[Digest] = field(default_factory=set)
    fail_mount: bool = False
    #: Manifests served in place of the stored ones (a lying source, for loop tests).
    fake_manifests: dict[Digest, Manifest] = field(default_factory=dict)
    #: Referrers served in place of the real ones, by subject digest.
    fake_referrers: dict[Digest, list[Descriptor]] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)


class Log:
    """Thread-safe call log plus a gauge of blob_put calls in flight."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[Any, ...]] = []
        self.in_flight = 0
        self.max_in_flight = 0

    def add(self, *call: Any) -> None:
        with self.lock:
            self.calls.append(call)

    def ops(self, name: str) -> list[tuple[Any, ...]]:
        with self.lock:
            return [c for c in self.calls if c[0] == name]

    @contextlib.contextmanager
    def flight(self) -> Iterator[None]:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self.lock:
                self.in_flight -= 1


class InjectedError(RegistryError):
    """The failure a ``fail_*`` switch injects: HTTP 400 unless told, which is permanent."""

    def __init__(self, message: str, *, status: int | None = 400) -> None:
        super().__init__(message, status=status)


class ProbeScheme(MemoryScheme):
    """The memory scheme, instrumented (see :class:`Config`)."""

    def __init__(self, settings: Settings | None, config: Config, log: Log) -> None:
        super().__init__(settings)
        self.config = config
        self.log = log

    def info(self) -> SchemeInfo:
        return dataclasses.replace(
            super().info(),
            manifest_push_first=self.config.push_first,
            blob_mount=self.config.blob_mount,
        )

    def blob_get(self, ref: Ref, digest: Digest, *, size: int | None = None) -> Any:
        self.log.add("blob_get", digest)
        if digest in self.config.fail_blob_get:
            raise InjectedError(f"injected blob_get failure for {digest}")
        fault = self.config.faults.strike("blob_get", digest)
        reader = super().blob_get(ref, digest, size=size)
        if fault is None:
            return reader
        data = self._repo(ref).blobs[digest]
        if fault.flip:
            at = fault.after or 0
            stream: Any = io.BytesIO(data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :])
        else:
            stream = _CutStream(data, fault)
        return BlobReader(
            stream, digest=digest, size=size, name=f"blob {digest}", remote=fault.remote
        )

    def blob_head(self, ref: Ref, digest: Digest) -> Descriptor:
        self.log.add("blob_head", digest)
        self.config.faults.strike("blob_head", digest)
        return super().blob_head(ref, digest)

    def blob_put(
        self, ref: Ref, digest: Digest | None, reader: IO[bytes], length: int | None
    ) -> tuple[Digest, int]:
        self.log.add("blob_put", digest, str(ref))
        nth = len(self.log.ops("blob_put"))
        with self.log.flight():
            if digest in self.config.fail_blob_put or nth == self.config.fail_put_call:
                raise InjectedError(f"injected blob_put failure for {digest}")
            fault = self.config.faults.strike("blob_put", digest)
            extra = self.config.slow_digests.get(digest, 0.0) if digest else 0.0
            time.sleep(self.config.put_delay + extra)
            if fault is not None and fault.after is not None:
                reader.read(fault.after)  # part of the body went out, then the line broke
                raise fresh(fault)
            slow = _SlowReader(reader, self.config.read_size, self.config.read_delay)
            result = super().blob_put(ref, digest, slow, length)  # type: ignore[arg-type]
        self.log.add("blob_stored", digest)
        if fault is not None:
            raise fresh(fault)  # stored, but the answer was lost
        return result

    def blob_mount(self, source: Ref, target: Ref, digest: Digest) -> None:
        self.log.add("blob_mount", digest, str(source), str(target))
        if self.config.fail_mount:
            raise InjectedError("injected mount refusal", status=202)
        super().blob_mount(source, target, digest)

    def manifest_get(self, ref: Ref) -> Manifest:
        self.log.add("manifest_get", ref.digest, str(ref))
        self.config.faults.strike("manifest_get", ref.digest)
        if ref.digest is not None and ref.digest in self.config.fake_manifests:
            return self.config.fake_manifests[ref.digest]
        return super().manifest_get(ref)

    def manifest_head(self, ref: Ref) -> Descriptor:
        self.config.faults.strike("manifest_head", ref.digest)
        if ref.digest is not None and ref.digest in self.config.fake_manifests:
            return self.config.fake_manifests[ref.digest].descriptor()
        return super().manifest_head(ref)

    def manifest_put(self, ref: Ref, manifest: Manifest, *, child: bool = False) -> None:
        self.log.add("manifest_put", manifest.digest, str(ref), child)
        if manifest.digest in self.config.fail_manifest_put:
            raise InjectedError(f"injected manifest_put failure for {manifest.digest}")
        fault = self.config.faults.strike("manifest_put", manifest.digest)
        super().manifest_put(ref, manifest, child=child)
        if fault is not None:
            raise fresh(fault)  # stored, but the answer was lost

    def referrers(
        self, ref: Ref, digest: Digest, *, artifact_type: str | None = None
    ) -> list[Descriptor]:
        self.log.add("referrers", digest)
        self.config.faults.strike("referrers", digest)
        if digest in self.config.fake_referrers:
            return self.config.fake_referrers[digest]
        return super().referrers(ref, digest, artifact_type=artifact_type)

    def tag_list(self, ref: Ref, *, limit: int | None = None, last: str | None = None) -> list[str]:
        self.config.faults.strike("tag_list", None)
        return super().tag_list(ref, limit=limit, last=last)

    def gc_lock(self, ref: Ref) -> contextlib.AbstractContextManager[None]:
        @contextlib.contextmanager
        def hold() -> Iterator[None]:
            self.log.add("gc_lock", str(ref))
            try:
                yield
            finally:
                self.log.add("gc_unlock", str(ref))

        return hold()

    def close(self, ref: Ref) -> None:
        self.log.add("close", str(ref))

    def _repo(self, ref: Ref, *, create: bool = False) -> _Repo:
        # Keyed by location (scheme included), so src://a and dst://a are two stores.
        key = ref.location
        with _LOCK:
            repo = _STORES.get(key)
            if repo is None:
                if not create:
                    raise RepositoryNotFoundError(f"repository {ref.location} not found")
                repo = _STORES[key] = _Repo()
            return repo


class FakeRegistryScheme(ProbeScheme):
    """A ``reg``-shaped memory scheme: registry/repository references, so that
    ``Ref.same_registry`` (and with it cross-repository mounts) means something."""

    name = "reg"


class _CutStream:
    """A blob's bytes up to ``fault.after``; then the fault's error, or a plain early end."""

    def __init__(self, data: bytes, fault: Fault) -> None:
        self._data = io.BytesIO(data)
        self._fault = fault
        self._left = fault.after or 0

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            if self._fault.error is not None:
                raise fresh(self._fault)
            return b""
        data = self._data.read(min(n, self._left) if n > 0 else self._left)
        self._left -= len(data)
        return data


class _SlowReader:
    def __init__(self, inner: IO[bytes], size: int, delay: float) -> None:
        self._inner, self._size, self._delay = inner, size, delay

    def read(self, n: int = -1) -> bytes:
        if self._delay:
            time.sleep(self._delay)
        return self._inner.read(min(n, self._size) if n and n > 0 else self._size)


class SchemePlugin:
    """Registers one scheme under ``name`` with the given parser and factory."""

    def __init__(
        self, name: str, parse: Callable[[str], Ref], factory: Callable[[Settings], Any]
    ) -> None:
        self.spec = SchemeSpec(name, parse, factory)

    @hookimpl
    def ocistore_add_schemes(self, registry: Any) -> None:
        registry.add(self.spec)


@dataclass
class World:
    """A client over three instrumented schemes: ``src://``, ``dst://`` and ``reg`` (bare)."""

    client: Client
    src: Config
    dst: Config
    reg: Config
    log: Log
    src_log: Log
    factories: dict[str, int]

    def ref(self, text: str) -> Ref:
        return self.client.parse(text)

    def put(self, text: str, image: Image) -> Ref:
        ref = self.ref(text)
        push(self.client.scheme(ref), ref, image)
        return ref


def _path_parser(name: str) -> Callable[[str], Ref]:
    return lambda text: parse_path_reference(name, text)


def _reg_parser(text: str) -> Ref:
    return parse_reg_reference(text)


def make_world(settings: Settings | None = None) -> World:
    MemoryScheme.reset()
    log = Log()
    src_log = Log()
    configs = {"src": Config(), "dst": Config(), "reg": Config()}
    factories = {"src": 0, "dst": 0, "reg": 0}

    def factory(name: str, cls: type[ProbeScheme], which: Log) -> Callable[[Settings], Any]:
        def build(s: Settings) -> ProbeScheme:
            factories[name] += 1
            return cls(s, configs[name], which)

        return build

    plugins: list[object | tuple[str, object]] = [
        (
            "src-plugin",
            SchemePlugin("src", _path_parser("src"), factory("src", ProbeScheme, src_log)),
        ),
        ("dst-plugin", SchemePlugin("dst", _path_parser("dst"), factory("dst", ProbeScheme, log))),
        ("reg-plugin", SchemePlugin("reg", _reg_parser, factory("reg", FakeRegistryScheme, log))),
    ]
    client = Client(settings=settings, plugins=plugins, autoload=False)
    return World(client, configs["src"], configs["dst"], configs["reg"], log, src_log, factories)


@pytest.fixture(name="world")
def world_fixture() -> Iterator[World]:
    """A fresh :class:`World`; import ``world_fixture`` into a test module to use it."""
    w = make_world()
    yield w
    MemoryScheme.reset()


def stored_blobs(world: World, text: str) -> set[Digest]:
    """Digests of the blobs stored at the repository of ``text``."""
    ref = world.ref(text)
    scheme = world.client.scheme(ref)
    assert isinstance(scheme, MemoryScheme)
    try:
        return set(scheme._repo(ref).blobs)
    except Exception:
        return set()


def stored_manifests(world: World, text: str) -> set[Digest]:
    ref = world.ref(text)
    scheme = world.client.scheme(ref)
    assert isinstance(scheme, MemoryScheme)
    try:
        return set(scheme._repo(ref).manifests)
    except Exception:
        return set()


def blob_bytes(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)
