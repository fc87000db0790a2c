"""Tag listing and tag deletion.

Deleting a tag without deleting what it points at is not in distribution 2.8 (``DELETE
/manifests/<tag>`` answers 400), so the fallback moves the tag away first: a unique dummy image
(one empty-JSON layer, labels naming the tag and the time) is pushed over the tag and then
deleted by digest, which removes the tag with it. The original manifest is untouched.

Before touching the tag, the dummy is pushed untagged and deleted once as a probe: a registry
with deletion disabled then fails the probe, and the tag still points where it did, instead of
being left on the dummy (regclient issue #819).
"""

from __future__ import annotations

import datetime as dt
import io
import json

from ocistore import mediatype as mt
from ocistore.digest import EMPTY_JSON_DIGEST, Digest
from ocistore.errors import (
    ManifestNotFoundError,
    MissingTagError,
    RepositoryNotFoundError,
    TagNotFoundError,
    UnsupportedError,
)
from ocistore.manifest import Manifest
from ocistore.ref import Ref
from ocistore_reg import scopes
from ocistore_reg.http import Transport
from ocistore_reg.manifests import manifest_delete, manifest_head, manifest_put
from ocistore_reg.pages import collect_names
from ocistore_reg.translate import raise_for, read_error_body
from ocistore_reg.upload import blob_put

__all__ = ["dummy_image", "tag_delete", "tag_list"]


def tag_list(t: Transport, ref: Ref, *, limit: int | None, last: str | None) -> list[str]:
    return collect_names(
        t,
        t.repo_url(ref.repository, "tags/list"),
        key="tags",
        what=f"list tags of {ref.location}",
        scopes=(scopes.pull(ref.repository),),
        limit=limit,
        last=last,
        not_found=RepositoryNotFoundError,
    )


def tag_delete(t: Transport, ref: Ref) -> None:
    if not ref.tag:
        raise MissingTagError(f"{ref}: deleting a tag needs a tag")
    tagged = ref.with_tag(ref.tag)
    what = f"DELETE tag {tagged}"
    response = t.request(
        "DELETE",
        t.repo_url(ref.repository, f"manifests/{ref.tag}"),
        what=what,
        scopes=(scopes.delete(ref.repository),),
    )
    status = response.status_code
    if status in (200, 202, 204):
        response.close()
        return
    if status in (401, 403):
        raise_for(response, what)
    if status == 404:
        body = read_error_body(response)
        raise TagNotFoundError(f"{what}: no such tag{f': {body}' if body.text else ''}")
    response.close()  # 400 (distribution), 405, ...: the registry cannot delete tags directly
    _delete_via_dummy(t, tagged)


def dummy_image(tag: str, *, docker: bool) -> tuple[bytes, Manifest]:
    """A config blob and a manifest no other push can produce (time and nonce in the labels)."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    import uuid  # here: uuid imports platform, ~3 ms of every registry command's start-up

    labels = {"delete-tag": tag, "delete-date": now, "delete-nonce": uuid.uuid4().hex}
    config = {
        "created": now,
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": labels},
        "rootfs": {"type": "layers", "diff_ids": [str(EMPTY_JSON_DIGEST)]},
    }
    config_raw = json.dumps(config, separators=(",", ":")).encode()
    kind = mt.DOCKER_MANIFEST if docker else mt.OCI_MANIFEST
    manifest = Manifest.from_data(
        {
            "schemaVersion": 2,
            "mediaType": kind,
            "config": {
                "mediaType": mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG,
                "digest": str(Digest.from_bytes(config_raw)),
                "size": len(config_raw),
            },
            "layers": [
                {
                    "mediaType": mt.DOCKER_LAYER_GZIP if docker else mt.OCI_EMPTY,
                    "digest": str(EMPTY_JSON_DIGEST),
                    "size": 2,
                }
            ],
        },
        media_type=kind,
    )
    return config_raw, manifest


def _delete_via_dummy(t: Transport, ref: Ref) -> None:
    what = f"delete tag {ref}"
    try:
        current = manifest_head(t, ref)
    except ManifestNotFoundError as exc:
        raise TagNotFoundError(f"{what}: no such tag ({exc})") from None
    docker = current.media_type in (mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST)
    config_raw, dummy = dummy_image(ref.tag, docker=docker)
    blob_put(t, ref, Digest.from_bytes(config_raw), io.BytesIO(config_raw), len(config_raw))
    blob_put(t, ref, EMPTY_JSON_DIGEST, io.BytesIO(b"{}"), 2)
    by_digest = ref.with_digest(dummy.digest)
    manifest_put(t, by_digest, dummy, child=True)
    try:
        manifest_delete(t, by_digest)
    except UnsupportedError as exc:
        raise UnsupportedError(
            f"{what}: the registry cannot delete tags, and it refuses to delete manifests, "
            f"so the tag cannot be removed; it is unchanged ({exc})",
            hint=exc.hint,
        ) from None
    manifest_put(t, ref, dummy, child=False)
    try:
        manifest_delete(t, by_digest)
    except UnsupportedError as exc:  # the probe passed, so this is unlikely, but say what is left
        raise UnsupportedError(
            f"{what}: the tag now points at the placeholder manifest {dummy.digest}, which the "
            f"registry refused to delete ({exc})",
            hint=exc.hint,
        ) from None
