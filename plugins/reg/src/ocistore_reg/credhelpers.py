"""Running docker credential helpers (``docker-credential-<name>``) and caching their answers.

The protocol: the helper is found on ``PATH``, called as ``docker-credential-<name> <action>``
with the request on stdin (a server URL for ``get``), and answers JSON on stdout. A failure is
a non-zero exit with the message on stdout (broken helpers use stderr); the message
``credentials not found in native keychain`` means "no login here", not an error.

Helpers may prompt (a keychain unlock) or be slow, so each answer, "not found" included, is
cached for the life of the process; concurrent callers wait for the first. Failures are not
cached, so a retry asks again. What the answers mean for a registry is
:mod:`ocistore_reg.credentials`' business; this module never looks inside them, and never quotes
a helper's output, which may hold the secret.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Mapping

from ocistore.errors import AuthError

__all__ = ["clear_helper_cache", "helper_answer", "helper_list"]

_NOT_FOUND = "credentials not found in native keychain"
_HELPER_TIMEOUT = 120.0
_MESSAGE_LIMIT = 500

_cache_lock = threading.Lock()
_cache: dict[tuple[str, str, str], object] = {}
_key_locks: dict[tuple[str, str, str], threading.Lock] = {}


def clear_helper_cache() -> None:
    """Forget cached helper answers (after a login, or between tests)."""
    with _cache_lock:
        _cache.clear()
        _key_locks.clear()


def helper_answer(helper: str, action: str, data: str, env: Mapping[str, str]) -> object:
    """``docker-credential-<helper> <action>`` with ``data`` on stdin, cached per process.

    The parsed JSON answer, or None when the helper says it has no such credentials. Raises
    :class:`AuthError` naming the helper when it is missing, fails, times out or prints
    something that is not JSON.
    """
    program = _program(helper, env)
    return _cached((program, action, data), _Compute(program, action, data, env))


def helper_list(helper: str, *, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``docker-credential-<helper> list``: server URL -> username."""
    environ = os.environ if env is None else env
    answer = helper_answer(helper, "list", "unused", environ)
    if not isinstance(answer, dict):
        return {}
    return {str(k): str(v) for k, v in answer.items()}


def _program(helper: str, env: Mapping[str, str]) -> str:
    name = f"docker-credential-{helper}"
    found = shutil.which(name, path=env.get("PATH", os.defpath))
    if found is None:
        raise AuthError(
            f"credential helper {name} not found on PATH",
            hint=f"install {name} or remove it from the docker config",
        )
    return found


def _cached(key: tuple[str, str, str], compute: _Compute) -> object:
    """Run ``compute`` once per key per process; concurrent callers wait for the first."""
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:
        with _cache_lock:
            if key in _cache:
                return _cache[key]
        value = compute()
        with _cache_lock:
            _cache[key] = value
        return value


class _Compute:
    """A deferred helper call (a class, not a lambda, so mypy sees the return type)."""

    def __init__(self, program: str, action: str, data: str, env: Mapping[str, str]) -> None:
        self.program, self.action, self.data, self.env = program, action, data, env

    def __call__(self) -> object:
        return _run_helper(self.program, self.action, self.data, self.env)


def _run_helper(program: str, action: str, data: str, env: Mapping[str, str]) -> object:
    """Run ``program action`` with ``data`` on stdin; parsed JSON, or None for "not found"."""
    import subprocess  # here: ~2 ms of every registry command's start-up, most run no helper

    name = os.path.basename(program)
    try:
        done = subprocess.run(
            [program, action],
            input=data.encode("utf-8"),
            capture_output=True,
            timeout=_HELPER_TIMEOUT,
            env=dict(env),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AuthError(f"credential helper {name} {action} timed out") from None
    except OSError as exc:
        raise AuthError(f"cannot run credential helper {name}: {exc.strerror or exc}") from None
    stdout = done.stdout.decode("utf-8", errors="replace")
    if done.returncode != 0:
        # The protocol puts error messages on stdout; fall back to stderr for broken helpers.
        message = stdout.strip() or done.stderr.decode("utf-8", errors="replace").strip()
        if message == _NOT_FOUND:
            return None
        target = f" for {data.strip()!r}" if action == "get" else ""
        raise AuthError(
            f"credential helper {name} {action} failed{target} "
            f"(exit {done.returncode}): {message[:_MESSAGE_LIMIT] or 'no message'}"
        )
    try:
        return json.loads(stdout)
    except (json.JSONDecodeError, RecursionError):
        # Do not quote the output: it may well contain the secret.
        raise AuthError(f"credential helper {name} {action} printed invalid JSON") from None
