"""The fault run: seeded copies through a chaotic relay in front of the real registry.

Each case copies its own 3-layer image (layers of 48, 96 and 160 KiB, unique per case so that no
mount or "already there" short-cut hides the transfer) through its own
:class:`~tests.support.faultproxy.FaultProxy` with a :class:`~tests.support.faultproxy.Chaos`
seeded by the case: on about one request in five it resets the connection, drops the answer,
cuts the body, answers 5xx or 429 + ``Retry-After``, answers slowly, or flips one byte (of a
download, or of a blob upload's body), never more than three faults in a row. Pushes go from a
layout to the registry, half of them with chunked uploads; pulls from the registry to a fresh
layout. The copy runs with its default attempts (3 per step); only the pauses are shortened.

Every case is judged by reading the target *directly* (not through the relay):

* **correct**: the copy returned, the tag holds the source manifest's exact bytes, and every
  blob reads back and verifies;
* **failed**: the copy raised an ocistore error, and nothing wrong was stored;
* **corrupt**: a copy that returned with wrong content, or any stored blob whose bytes do not
  match its digest (in a layout: any file under ``blobs/`` that does not hash to its name);
* **hung**: no answer within :data:`HANG_AFTER` seconds.

The test prints what it tried (cases, requests, faults injected by kind) and what held.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from ocistore import mediatype as mt
from ocistore.client import Client
from ocistore.copy import CopyOptions
from ocistore.descriptor import Descriptor
from ocistore.digest import Digest
from ocistore.errors import OCIStoreError
from ocistore.manifest import Manifest
from ocistore.settings import HostConfig, Settings
from ocistore.testing.content import Image, push, random_bytes
from tests.support.faultproxy import Chaos, FaultProxy
from tests.support.registry import RunningRegistry

pytestmark = [pytest.mark.registry, pytest.mark.timeout(240)]

#: Copies per direction; the issue asks for at least 100 in all.
CASES = 60
RATE = 0.2
MAX_IN_ROW = 3
#: A copy that takes longer than this counts as hung.
HANG_AFTER = 90.0
#: Copies run side by side (each through its own relay), so that pauses overlap.
PARALLEL = 6
LAYERS = (48 * 1024, 96 * 1024, 160 * 1024)
#: Chunk size of the chunked pushes: one to three PATCHes per layer.
CHUNK = 64 * 1024
REG_OPTIONS = {
    "retry_delay": 0.01,
    "retry_max_delay": 0.05,
    "connect_timeout": 5,
    "read_timeout": 10,
}
OPTIONS = CopyOptions(retry_delay=0.02, concurrency=2)

Outcome = Literal["correct", "failed", "corrupt", "hung"]


@dataclass
class Case:
    direction: Literal["push", "pull"]
    number: int
    chunked: bool = False
    outcome: Outcome = "hung"
    retries: int = 0
    detail: str = ""
    chaos: Chaos = field(init=False)

    def __post_init__(self) -> None:
        self.chaos = Chaos(f"{self.direction}-{self.number}", rate=RATE, max_in_row=MAX_IN_ROW)

    @property
    def name(self) -> str:
        return f"{self.direction}-{self.number}{'-chunked' if self.chunked else ''}"


def image_for(seed: str) -> Image:
    """Three layers of random bytes and a config, all unique to ``seed``."""
    blobs: dict[Digest, bytes] = {}
    layers = []
    for i, size in enumerate(LAYERS):
        payload = random_bytes(size, f"{seed}-{i}")
        digest = Digest.from_bytes(payload)
        blobs[digest] = payload
        layers.append(Descriptor(mt.OCI_LAYER, digest, size).to_dict())
    config = f'{{"architecture":"amd64","os":"linux","seed":"{seed}"}}'.encode()
    config_digest = Digest.from_bytes(config)
    blobs[config_digest] = config
    data: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": Descriptor(mt.OCI_CONFIG, config_digest, len(config)).to_dict(),
        "layers": layers,
    }
    return Image(Manifest.from_data(data), blobs)


def client_for(relay: str | None = None, *, chunked: bool = False) -> Client:
    hosts = {}
    if relay is not None and chunked:
        hosts[relay] = HostConfig(relay, tls="disabled", blob_max=0, blob_chunk=CHUNK)
    settings = Settings(hosts=hosts, docker_config=False, options={"reg": dict(REG_OPTIONS)})
    return Client(settings=settings)


def check_registry(direct: Client, target: str, image: Image, *, finished: bool) -> str:
    """What is wrong at a registry target ("" when nothing): read straight from the registry."""
    repo = direct.parse(target).bare()
    if finished and direct.manifest_get(target).raw != image.manifest.raw:
        return "the tag holds other bytes than the source manifest"
    for digest, payload in image.blobs.items():
        try:
            direct.blob_head(repo, digest)
        except OCIStoreError:
            if finished:
                return f"blob {digest} is missing"
            continue
        with direct.blob_get(repo, digest, size=len(payload)) as reader:
            if reader.read() != payload:
                return f"blob {digest} holds other bytes"
    return ""


def check_layout(direct: Client, layout: Path, target: str, image: Image, *, finished: bool) -> str:
    """What is wrong in a layout target ("" when nothing): every blob file must match its name."""
    blob_dir = layout / "blobs" / "sha256"
    for path in blob_dir.iterdir() if blob_dir.is_dir() else ():
        if hashlib.sha256(path.read_bytes()).hexdigest() != path.name:
            return f"{path} does not hash to its name"
    if not finished:
        return ""
    if direct.manifest_get(target).raw != image.manifest.raw:
        return "the tag holds other bytes than the source manifest"
    for digest, payload in image.blobs.items():
        if (blob_dir / digest.encoded).read_bytes() != payload:
            return f"blob {digest} holds other bytes"
    return ""


def run_case(case: Case, registry: RunningRegistry, tmp: Path) -> None:
    seed = f"{case.name}-{uuid.uuid4().hex[:6]}"
    image = image_for(seed)
    layout = tmp / case.name
    with client_for() as direct, FaultProxy(registry.host, chaos=case.chaos) as relay:
        if case.direction == "push":
            source = f"ocidir://{tmp / (case.name + '-src')}:v1"
            target = f"{relay.host}/faultrun/{seed}:v1"
        else:
            source = f"{relay.host}/faultrun/{seed}:v1"
            target = f"ocidir://{layout}:v1"
        seeded = direct.parse(source.replace(relay.host, registry.host))
        push(direct.scheme(seeded), seeded, image)
        direct.close(seeded)
        finished = False
        with client_for(relay.host, chunked=case.chunked) as flaky:
            try:
                result = flaky.image_copy(source, target, options=OPTIONS)
            except OCIStoreError as error:
                case.detail = str(error)
            else:
                finished = True
                case.retries = result.retries
                if result.digest != image.digest:
                    case.outcome, case.detail = "corrupt", f"copy returned {result.digest}"
                    return
        judged = target.replace(relay.host, registry.host)
        if case.direction == "push":
            wrong = check_registry(direct, judged, image, finished=finished)
        else:
            wrong = check_layout(direct, layout, judged, image, finished=finished)
    if wrong:
        case.outcome, case.detail = "corrupt", wrong
    else:
        case.outcome = "correct" if finished else "failed"


def report(cases: list[Case]) -> str:
    injected: Counter[str] = Counter()
    for case in cases:
        injected.update(case.chaos.injected)
    outcomes = Counter(c.outcome for c in cases)
    lines = [
        f"fault run: {len(cases)} copies ("
        + ", ".join(f"{n} {d}" for d, n in sorted(Counter(c.direction for c in cases).items()))
        + f"; {sum(c.chunked for c in cases)} pushes chunked), rate {RATE}, "
        f"at most {MAX_IN_ROW} faults in a row",
        f"  requests through the relays: {sum(c.chaos.requests for c in cases)}; "
        f"faults injected: {sum(injected.values())} ("
        + ", ".join(f"{k} {v}" for k, v in sorted(injected.items()))
        + ")",
        "  outcomes: " + ", ".join(f"{k} {outcomes.get(k, 0)}" for k in Outcome.__args__),  # type: ignore[attr-defined]
        f"  step retries by the engine: {sum(c.retries for c in cases)}",
    ]
    for direction in ("push", "pull"):
        mine = [c for c in cases if c.direction == direction]
        good = sum(c.outcome == "correct" for c in mine)
        lines.append(f"  {direction}: {good}/{len(mine)} correct")
    lines += [f"  {c.name}: {c.outcome}: {c.detail}" for c in cases if c.outcome != "correct"]
    return "\n".join(lines)


@pytest.fixture
def cases() -> list[Case]:
    made = [Case("push", n, chunked=n % 2 == 1) for n in range(CASES)]
    made += [Case("pull", n) for n in range(CASES)]
    return made


def test_seeded_copies_through_a_faulty_network_end_right_or_fail_cleanly(
    registry_anon: RunningRegistry,
    tmp_path: Path,
    cases: list[Case],
    capsys: pytest.CaptureFixture[str],
) -> None:
    with ThreadPoolExecutor(PARALLEL, thread_name_prefix="fault-run") as pool:
        futures = [(c, pool.submit(run_case, c, registry_anon, tmp_path)) for c in cases]
        for case, future in futures:
            try:
                future.result(timeout=HANG_AFTER)
            except FutureTimeout:
                case.outcome, case.detail = "hung", f"no answer after {HANG_AFTER} s"
            except Exception as error:  # a bug in the client or the test: shown, counted
                case.outcome, case.detail = "failed", f"{type(error).__name__}: {error}"
    text = report(cases)
    with capsys.disabled():
        print("\n" + text)
    outcomes = Counter(c.outcome for c in cases)
    injected = Counter[str]()
    for case in cases:
        injected.update(case.chaos.injected)
    assert len(cases) >= 100
    assert set(injected) == {"status", "429", "reset", "drop", "cut", "slow", "flip"}, text
    assert outcomes["corrupt"] == 0, text
    assert outcomes["hung"] == 0, text
    assert outcomes["correct"] >= 0.98 * len(cases), text
