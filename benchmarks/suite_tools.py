"""The contenders of ``suite.py``: one command line per tool and operation, and the checks.

Every tool gets the same job (:class:`Job`): push an OCI layout's image to a registry, pull it
into a new layout, copy it between two registries, or list a repository's tags. ``ocistore`` and
``skopeo`` are the CLIs; ``oras-py`` and ``python-dxf`` run in a Python process of their own
(``peer_driver.py``); ``curl`` is the floor: a generated bash script that moves the same blobs
with parallel ``curl`` transfers (one ``curl --parallel`` process per step, so no process
start-up per blob) and hashes them with ``openssl dgst`` (SHA-NI), the least any tool that
checks digests must do. After every run the target is checked against the source (manifest
digest, every blob present with its size), so each tool provably did the whole job.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from benchlib import OCISTORE, TAG, Skopeo
from peer_driver import MANIFEST_ACCEPT, blob_path, read_layout

__all__ = [
    "TOOLS",
    "Image",
    "Job",
    "command",
    "verify",
]

#: Tools in table order; ocistore first (every ratio is ocistore / the others).
TOOLS = ("ocistore", "skopeo", "oras-py", "python-dxf", "curl")
DRIVER = str(Path(__file__).resolve().with_name("peer_driver.py"))
DRIVER_NAMES = {"oras-py": "oras", "python-dxf": "dxf"}
PARALLEL = 4  # ocistore's default concurrency; curl gets the same


@dataclass(frozen=True)
class Image:
    """A source image in an OCI layout, and what a floor script needs to know about it."""

    name: str
    layout: Path
    digest: str
    manifest: bytes
    media_type: str
    blobs: list[dict[str, Any]]
    """Descriptors of the config and the layers."""

    @classmethod
    def load(cls, name: str, layout: Path) -> Image:
        raw, manifest, blobs = read_layout(layout, TAG)
        import hashlib

        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        return cls(name, layout, digest, raw, manifest["mediaType"], blobs)

    @property
    def size(self) -> int:
        return sum(int(b["size"]) for b in self.blobs)


@dataclass
class Job:
    op: str
    """push, pull, copy or tags."""
    image: Image | None = None
    src_host: str = ""
    src_repo: str = ""
    dst_host: str = ""
    dst_repo: str = ""
    dest: Path | None = None
    """The new layout of a pull."""
    scratch: Path = field(default_factory=lambda: Path("/tmp"))
    """Where a floor script goes."""


def command(tool: str, job: Job, skopeo: Skopeo | None) -> list[str]:
    """The command that does ``job`` with ``tool``."""
    if tool == "ocistore":
        return ocistore_cmd(job)
    if tool == "skopeo":
        assert skopeo is not None
        return skopeo_cmd(job, skopeo)
    if tool in ("oras-py", "python-dxf"):
        return [sys.executable, DRIVER, DRIVER_NAMES[tool], *driver_args(job)]
    if tool == "curl":
        script = job.scratch / f"floor-{job.op}.sh"
        script.write_text(curl_script(job))
        return ["bash", str(script)]
    raise ValueError(tool)


def _refs(job: Job) -> tuple[str, str]:
    """(source, target) as ``HOST/REPO:TAG`` or a layout path."""
    src = f"{job.src_host}/{job.src_repo}:{TAG}"
    dst = f"{job.dst_host}/{job.dst_repo}:{TAG}"
    return src, dst


def ocistore_cmd(job: Job) -> list[str]:
    src, dst = _refs(job)
    copy = [OCISTORE, "image", "copy", "--no-progress"]
    if job.op == "push":
        assert job.image is not None
        return [*copy, f"ocidir://{job.image.layout}:{TAG}", dst]
    if job.op == "pull":
        return [*copy, src, f"ocidir://{job.dest}:{TAG}"]
    if job.op == "copy":
        return [*copy, src, dst]
    return [OCISTORE, "tag", "ls", f"{job.src_host}/{job.src_repo}"]


def skopeo_cmd(job: Job, skopeo: Skopeo) -> list[str]:
    src, dst = _refs(job)
    if job.op == "push":
        assert job.image is not None
        return skopeo.copy(f"oci:{job.image.layout}:{TAG}", f"docker://{dst}")
    if job.op == "pull":
        return skopeo.copy(f"docker://{src}", f"oci:{job.dest}:{TAG}")
    if job.op == "copy":
        return skopeo.copy(f"docker://{src}", f"docker://{dst}")
    repo = f"docker://{job.src_host}/{job.src_repo}"
    return ["/usr/bin/skopeo", "list-tags", "--tls-verify=false", repo]


def driver_args(job: Job) -> list[str]:
    if job.op == "push":
        assert job.image is not None
        return ["push", str(job.image.layout), TAG, job.dst_host, job.dst_repo]
    if job.op == "pull":
        return ["pull", job.src_host, job.src_repo, TAG, str(job.dest)]
    if job.op == "copy":
        return ["copy", job.src_host, job.src_repo, TAG, job.dst_host, job.dst_repo]
    return ["tags", job.src_host, job.src_repo]


# -- the curl floor -----------------------------------------------------------------------------
_PRELUDE = """set -euo pipefail
CT='Content-Type: application/octet-stream'
# Upload sessions, one POST each, all from one curl; prints each session's absolute URL.
sessions() {  # URL COUNT ORIGIN (for a relative Location)
  local args=() i
  for ((i = 0; i < $2; i++)); do args+=(-o /dev/null "$1/blobs/uploads/"); done
  curl -sf --parallel --parallel-max %(par)d -X POST -w '%header{location}\\n' "${args[@]}" |
    while read -r loc; do loc=${loc%$'\\r'}; [[ $loc == /* ]] && loc="$3$loc"; echo "$loc"; done
}
""".replace("%(par)d", str(PARALLEL))


def _hash(files: Sequence[str]) -> str:
    """Hash ``files`` with two openssl processes (two cores), as digests must be checked."""
    quoted = " ".join(shlex.quote(f) for f in files)
    per = max(1, (len(files) + 1) // 2)
    return f"printf '%s\\n' {quoted} | xargs -P 2 -n {per} openssl dgst -sha256 >/dev/null\n"


def curl_script(job: Job) -> str:
    image = job.image
    src_url = f"http://{job.src_host}/v2/{job.src_repo}"
    dst_url = f"http://{job.dst_host}/v2/{job.dst_repo}"
    if job.op == "tags":
        return f"set -euo pipefail\ncurl -sf '{src_url}/tags/list'\n"
    assert image is not None
    digests = [str(b["digest"]) for b in image.blobs]
    out = [_PRELUDE]
    put_manifest = (
        f"curl -sf -X PUT -H 'Content-Type: {image.media_type}' --data-binary @- "
        f"-o /dev/null '{dst_url}/manifests/{TAG}'"
    )
    if job.op == "push":
        files = [str(blob_path(image.layout, d)) for d in digests]
        out.append(_hash(files))
        out.append(
            f"mapfile -t locs < <(sessions '{dst_url}' {len(files)} 'http://{job.dst_host}')\nargs=()\n"
        )
        for i, (f, d) in enumerate(zip(files, digests, strict=True)):
            out.append(f'args+=(-o /dev/null -T {shlex.quote(f)} "${{locs[{i}]}}&digest={d}")\n')
        out.append(f'curl -sf --parallel --parallel-max {PARALLEL} -H "$CT" "${{args[@]}}"\n')
        manifest = blob_path(image.layout, image.digest)
        out.append(f"{put_manifest} < {shlex.quote(str(manifest))}\n")
    elif job.op == "pull":
        assert job.dest is not None
        blobs = job.dest / "blobs" / "sha256"
        out.append(f"mkdir -p {shlex.quote(str(blobs))}\n")
        out.append(
            f"curl -sf -H 'Accept: {MANIFEST_ACCEPT}' "
            f"-o {shlex.quote(str(blob_path(job.dest, image.digest)))} '{src_url}/manifests/{TAG}'\n"
        )
        args = " ".join(
            f"-o {shlex.quote(str(blob_path(job.dest, d)))} '{src_url}/blobs/{d}'" for d in digests
        )
        out.append(f"curl -sf --parallel --parallel-max {PARALLEL} {args}\n")
        out.append(_hash([str(blob_path(job.dest, d)) for d in digests]))
        index = {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": image.media_type,
                    "digest": image.digest,
                    "size": len(image.manifest),
                    "annotations": {"org.opencontainers.image.ref.name": TAG},
                }
            ],
        }
        out.append(
            f"printf '%s' {shlex.quote(json.dumps(index))} > {shlex.quote(str(job.dest / 'index.json'))}\n"
        )
        layout_file = shlex.quote(str(job.dest / "oci-layout"))
        out.append(f"""printf '{{"imageLayoutVersion":"1.0.0"}}' > {layout_file}\n""")
    else:  # copy: each blob streams down, through a hash, and up; PARALLEL at a time
        out.append(
            f"mapfile -t locs < <(sessions '{dst_url}' {len(digests)} 'http://{job.dst_host}')\n"
        )
        out.append("{\n")
        for i, d in enumerate(digests):
            out.append(f"  printf '%s %s\\n' '{src_url}/blobs/{d}' \"${{locs[{i}]}}&digest={d}\"\n")
        out.append(
            f"}} | xargs -P {PARALLEL} -L 1 bash -c "
            '\'set -o pipefail; curl -sf "$0" | tee >(openssl dgst -sha256 >/dev/null) '
            '| curl -sf -T - -H "Content-Type: application/octet-stream" -o /dev/null "$1"\'\n'
        )
        out.append(
            f"curl -sf -H 'Accept: {MANIFEST_ACCEPT}' '{src_url}/manifests/{TAG}' | {put_manifest}\n"
        )
    return "".join(out)


# -- checks -------------------------------------------------------------------------------------
_SESSION = requests.Session()
_SESSION.trust_env = False  # loopback only, never through a proxy


def verify(job: Job, stdout: str, tags: int = 0) -> None:
    """Fail loudly unless the job's target holds the whole source image (or all the tags)."""
    if job.op == "tags":
        got = count_tags(stdout)
        if got != tags:
            raise SystemExit(f"tag list of {job.src_repo}: {got} tags, want {tags}")
        return
    image = job.image
    assert image is not None
    if job.op == "pull":
        assert job.dest is not None
        verify_layout(job.dest, image)
    else:
        verify_registry(job.dst_host, job.dst_repo, image)


def count_tags(stdout: str) -> int:
    text = stdout.strip()
    if text.startswith("{"):
        doc = json.loads(text)
        if "tags" in doc:  # curl: the registry's answer
            return len(doc["tags"])
        if "Tags" in doc:  # skopeo list-tags
            return len(doc["Tags"])
        return int(doc["count"])  # peer_driver
    return len(text.splitlines())  # ocistore tag ls: one per line


def verify_layout(dest: Path, image: Image) -> None:
    index = json.loads((dest / "index.json").read_text())
    names = {
        e.get("annotations", {}).get("org.opencontainers.image.ref.name"): e["digest"]
        for e in index["manifests"]
    }
    if names.get(TAG) != image.digest:
        raise SystemExit(f"{dest}: tag {TAG} is {names.get(TAG)}, want {image.digest}")
    for desc in image.blobs:
        path = blob_path(dest, desc["digest"])
        if not path.is_file() or path.stat().st_size != desc["size"]:
            raise SystemExit(f"{dest}: blob {desc['digest']} missing or of the wrong size")


def verify_registry(host: str, repo: str, image: Image) -> None:
    url = f"http://{host}/v2/{repo}"
    r = _SESSION.head(f"{url}/manifests/{TAG}", headers={"Accept": MANIFEST_ACCEPT}, timeout=30)
    got = r.headers.get("Docker-Content-Digest")
    if r.status_code != 200 or got != image.digest:
        raise SystemExit(
            f"{host}/{repo}:{TAG} is {got} (HTTP {r.status_code}), want {image.digest}"
        )
    for desc in image.blobs:
        r = _SESSION.head(f"{url}/blobs/{desc['digest']}", timeout=30)
        if r.status_code != 200 or int(r.headers.get("Content-Length", -1)) != desc["size"]:
            raise SystemExit(f"{host}/{repo}: blob {desc['digest']} missing (HTTP {r.status_code})")
