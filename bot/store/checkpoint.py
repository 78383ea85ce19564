"""Keeping SQLite's write-ahead log short from a thread of its own.

In WAL mode every commit appends pages to the log; when the log passes
``wal_autocheckpoint`` pages, the connection that happens to commit next copies the log
back into the database file and syncs it — tens of milliseconds, once every few thousand
live events, paid by whichever pipeline batch was unlucky (on the live benchmark: 18 of
4,300 commits took 5–170 ms and made up the p99). A checkpoint needs no writer's lock in
``PASSIVE`` mode, so a separate connection on a separate thread can do it while the
pipeline keeps committing: the copying and syncing move off the event loop's path and onto
the machine's other core, and the log stays far below the point where a commit would have
to checkpoint itself (that setting stays as the safety net when no checkpointer runs).

The thread sleeps on an event, not in a loop of sleeps: ``nudge`` (called after commits)
wakes it at most once per ``every`` seconds, and ``stop`` wakes it to finish.

Why every 50 ms. The log can only start over (be reused from its beginning) when a write
transaction begins with every frame already copied, and on a busy bot the next write begins
a millisecond after the last, so in practice the restart still happens in the writer's own
autocheckpoint when the log passes ``wal_autocheckpoint``. What that checkpoint costs the
writer is copying the frames the thread has not copied yet, plus the two syncs. Every
half second (the first setting) that was up to half a second of frames — commits of 20–50
ms and a batch p99 of 61 ms on bench/pipeline.py; every 50 ms it is a few dozen frames
(p99 38 ms, throughput within 2 %). An idle bot commits nothing, so it checkpoints nothing.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CheckpointStats:
    runs: int = 0
    frames_copied: int = 0


class WalCheckpointer:
    """One background thread running ``PRAGMA wal_checkpoint(PASSIVE)`` on its own connection."""

    def __init__(self, path: str, *, every: float = 0.05) -> None:
        self.path = path
        self.every = every
        self.stats = CheckpointStats()
        self._wanted = threading.Event()
        self._stopping = False
        self._last = float("-inf")  # monotonic() may be small on a freshly booted machine
        self._thread: threading.Thread | None = None
        #: Set after every checkpoint run, so a test or a shutdown can wait for one.
        self.checkpointed = threading.Event()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._serve, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        """Something was committed: checkpoint soon, unless one ran less than ``every`` ago."""
        if time.monotonic() - self._last >= self.every:
            self._wanted.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Run a last checkpoint and end the thread (called when the store closes)."""
        if self._thread is None:
            return
        self._stopping = True
        self._wanted.set()
        self._thread.join()
        self._thread = None

    def _serve(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        except sqlite3.Error as exc:
            log.warning("WAL checkpointer for %s could not open the file: %s", self.path, exc)
            return
        try:
            conn.execute("PRAGMA busy_timeout=1000")
            while True:
                self._wanted.wait()
                self._wanted.clear()
                self._checkpoint(conn)
                if self._stopping:
                    return
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            _busy, _log_frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # a locked or vanished file: the next nudge tries again
            log.info("WAL checkpoint of %s skipped: %s", self.path, exc)
            return
        finally:
            self._last = time.monotonic()
        self.stats.runs += 1
        self.stats.frames_copied += max(int(copied), 0)
        self.checkpointed.set()
