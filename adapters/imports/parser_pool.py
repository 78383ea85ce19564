"""A few fresh child interpreters that parse chunks of raw mail, results back in submission order.

Why not ``concurrent.futures.ProcessPoolExecutor``: its forkserver and spawn children
re-run the caller's ``__main__`` (for the CLI that imports Typer, Rich and SQLAlchemy into
every worker: about half a second and tens of megabytes each, and a crash in scripts
without the ``if __name__ == "__main__":`` guard), while ``fork`` is unsafe in a process
that runs an event loop and database threads. These children are started as
``python -m adapters.imports.parser_pool`` and import only the parser.

Protocol: one frame per chunk each way. Raw messages go down as a small header (counts and
lengths) followed by the message bytes themselves, written with ``os.writev`` by a writer
thread per worker: no pickling and no copy of ~170 MB under the parent's GIL. Rows come
back as length-prefixed pickles. Chunk *i* goes to worker *i mod n*; each worker answers in
order, so reading the workers round-robin yields results in submission order. The writer
threads mean a worker blocked on a full stdout pipe can never block the caller.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from array import array
from typing import IO, Any

log = logging.getLogger(__name__)

_LENGTH = struct.Struct("!Q")
_CHUNK_HEAD = struct.Struct("=QQ")  # messages, bytes of list hint (the child is this machine)
_IOV_MAX = 512  # buffers per writev call, well below every platform's IOV_MAX


class PoolBroken(Exception):
    """A parser process died or answered garbage; the caller parses in-process instead."""


def _frame(obj: Any) -> bytes:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(payload)) + payload


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise EOFError
    return data


def _read_frame(stream: IO[bytes]) -> Any:
    (size,) = _LENGTH.unpack(_read_exact(stream, _LENGTH.size))
    return pickle.loads(_read_exact(stream, size))  # noqa: S301 - frames from our own child


def _chunk_parts(records: list[tuple[bytes, bytes]], list_hint: str | None) -> list[bytes]:
    """A chunk as buffers for writev: header, lengths, then every From_ line and message as is."""
    hint = (list_hint or "").encode("utf-8")
    lengths = array("Q")
    parts: list[bytes] = [b"", b""]
    for envelope, raw in records:
        lengths.append(len(envelope))
        lengths.append(len(raw))
        parts.append(envelope)
        parts.append(raw)
    parts[0] = _CHUNK_HEAD.pack(len(records), len(hint)) + hint
    parts[1] = lengths.tobytes()
    return parts


def _read_chunk(stream: IO[bytes]) -> tuple[list[tuple[bytes, bytes]], str | None]:
    count, hint_size = _CHUNK_HEAD.unpack(_read_exact(stream, _CHUNK_HEAD.size))
    hint = _read_exact(stream, hint_size).decode("utf-8") if hint_size else None
    lengths = array("Q")
    lengths.frombytes(_read_exact(stream, 16 * count))
    # One read per message, not one for the chunk then slices: half the peak memory.
    return [
        (_read_exact(stream, lengths[i]), _read_exact(stream, lengths[i + 1])) for i in range(0, 2 * count, 2)
    ], hint


def _write_all(fd: int, parts: list[bytes]) -> None:
    """writev every buffer, resuming after partial writes."""
    views = [memoryview(p) for p in parts if p]
    while views:
        batch = views[:_IOV_MAX]
        written = os.writev(fd, batch)
        done = 0
        for view in batch:
            if written >= len(view):
                written -= len(view)
                done += 1
            else:
                views[done] = view[written:]
                break
        del views[:done]


class _Worker:
    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        self.outbox: queue.SimpleQueue[list[bytes] | None] = queue.SimpleQueue()
        self.writer = threading.Thread(target=self._write, name="mail-parser-feed", daemon=True)
        self.writer.start()

    def _write(self) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            while (parts := self.outbox.get()) is not None:
                _write_all(stdin.fileno(), parts)
        except OSError:  # the child is gone; the reader side reports it
            pass
        finally:
            with contextlib.suppress(OSError):
                stdin.close()

    def receive(self) -> Any:
        assert self.proc.stdout is not None
        try:
            return _read_frame(self.proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            code = self.proc.poll()
            raise PoolBroken(f"parser process {self.proc.pid} stopped (exit code {code})") from exc

    def close(self) -> None:
        self.outbox.put(None)
        if self.proc.stdout is not None:
            self.proc.stdout.close()  # a child stuck writing a result gets EPIPE and ends
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.writer.join(timeout=10)


class ParserPool:
    """``workers`` child interpreters running :func:`adapters.imports.mbox.parse_records`."""

    def __init__(self, workers: int) -> None:
        env = dict(os.environ)
        # A checkout that is not installed must still be importable by the children.
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self._workers = [_Worker(env) for _ in range(workers)]
        self._sent = 0
        self._received = 0

    @property
    def pending(self) -> int:
        """Chunks submitted whose results have not been taken yet."""
        return self._sent - self._received

    def submit(self, records: list[tuple[bytes, bytes]], list_hint: str | None) -> None:
        self._workers[self._sent % len(self._workers)].outbox.put(_chunk_parts(records, list_hint))
        self._sent += 1

    def result(self) -> Any:
        """The result of the oldest pending chunk (blocks until it is ready)."""
        worker = self._workers[self._received % len(self._workers)]
        value = worker.receive()
        self._received += 1
        return value

    def close(self) -> None:
        for worker in self._workers:
            worker.close()

    def __enter__(self) -> ParserPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _child_main() -> None:
    from adapters.imports.mbox import parse_records

    stdin, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames may reach the pipe
    while True:
        try:
            records, list_hint = _read_chunk(stdin)
        except EOFError:
            return
        try:
            out.write(_frame(parse_records(records, list_hint)))
            out.flush()
        except BrokenPipeError:  # the parent stopped reading: it wants no more
            return


if __name__ == "__main__":
    _child_main()
