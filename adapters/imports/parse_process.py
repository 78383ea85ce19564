"""Run a batch generator in a child process and stream its batches back.

Parsing and translating a big export is pure Python and holds the GIL; in a child
process it takes its own core while the importer stores the previous batch. The child
is a fresh interpreter (``python -m adapters.imports.parse_process``), not a fork: the
parent runs an event loop and database threads, which a fork would copy mid-flight, and
multiprocessing's spawn would re-run the caller's ``__main__``. Frames go over the
child's stdout, whose pipe holds about one batch, so the child never runs far ahead and
memory stays bounded; its log records are forwarded to the parent's logging.
"""

from __future__ import annotations

import copyreg
import dataclasses
import importlib
import logging
import os
import pickle
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import IO, Any

from adapters.base import ImportBatch
from bot.core import events
from bot.core.errors import ImportFailure

log = logging.getLogger(__name__)

BatchFunction = Callable[..., Iterator[ImportBatch]]

_HEADER = struct.Struct("!cQ")
_BATCH, _LOG, _ERROR, _DONE = b"B", b"L", b"E", b"D"


def _by_constructor(cls: type[Any]) -> None:
    """Pickle a frozen slotted dataclass as ``cls(*fields)``: about twice as fast to load as its state."""
    names = tuple(f.name for f in dataclasses.fields(cls))

    def reduce(obj: Any) -> tuple[type[Any], tuple[Any, ...]]:
        return cls, tuple(getattr(obj, n) for n in names)

    copyreg.pickle(cls, reduce)


for _cls in (
    events.ActorRef, events.PlaceRef, events.MessageText, events.MessagePosted, events.MessageEdited,
    events.MessageDeleted, events.ReactionAdded, events.MemberJoined, events.MemberLeft, events.ProfileSeen,
):
    _by_constructor(_cls)


def _write(out: IO[bytes], tag: bytes, payload: bytes) -> None:
    out.write(_HEADER.pack(tag, len(payload)))
    out.write(payload)
    out.flush()


class _Forward(logging.Handler):
    def __init__(self, out: IO[bytes]) -> None:
        super().__init__(logging.INFO)
        self.out = out

    def emit(self, record: logging.LogRecord) -> None:
        message = (record.name, record.levelno, record.getMessage())
        _write(self.out, _LOG, pickle.dumps(message))


def _child_main() -> None:
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames may reach the pipe
    root = logging.getLogger()
    root.addHandler(_Forward(out))
    root.setLevel(logging.INFO)
    try:
        module, name, args = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - our parent's job
        func: BatchFunction = getattr(importlib.import_module(module), name)
        for batch in func(*args):
            _write(out, _BATCH, pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL))
        _write(out, _DONE, b"")
    except BrokenPipeError:  # the parent stopped reading: it wants no more
        return
    except BaseException as exc:
        _write(out, _ERROR, f"{type(exc).__name__}: {exc}".encode("utf-8", "replace"))


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise EOFError
    return data


def batches_in_child(func: BatchFunction, *args: Any) -> Iterator[ImportBatch]:
    """Yield what ``func(*args)`` yields, computed in a child process.

    ``func`` must be a module-level function and ``args`` picklable.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    try:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
    except OSError as exc:
        log.warning("cannot start a parser process (%s); parsing in this process", exc)
        yield from func(*args)
        return
    assert proc.stdin is not None and proc.stdout is not None
    received = False
    try:
        try:
            proc.stdin.write(pickle.dumps((func.__module__, func.__name__, args)))
            proc.stdin.close()
        except BrokenPipeError:
            pass  # the child died at start-up; reading says so
        while True:
            try:
                tag, size = _HEADER.unpack(_read_exact(proc.stdout, _HEADER.size))
                payload = _read_exact(proc.stdout, size)
            except EOFError as exc:
                if not received:
                    # It never got going (no interpreter, an import failing there): do the work here.
                    log.warning("parser process exited (code %s) before its first batch; parsing in this "
                                "process", proc.wait())
                    yield from func(*args)
                    return
                raise ImportFailure(f"import parser process died (exit code {proc.poll()})") from exc
            received = True
            if tag == _BATCH:
                batch = pickle.loads(payload)  # noqa: S301 - bytes from our own child process
                assert isinstance(batch, ImportBatch)
                yield batch
            elif tag == _LOG:
                name, level, message = pickle.loads(payload)  # noqa: S301
                logging.getLogger(name).log(level, "%s", message)
            elif tag == _ERROR:
                raise ImportFailure(f"import parser failed: {payload.decode('utf-8', 'replace')}")
            else:
                return
    finally:
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait()


if __name__ == "__main__":
    _child_main()
