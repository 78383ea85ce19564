"""A real archive source that dies after some batches, as a killed import would; shared by importer tests."""

from __future__ import annotations

from collections.abc import Iterator

from adapters.base import ArchiveSource, ImportBatch


class Interrupted(Exception):
    pass


class InterruptAfter:
    """Yields the first ``n`` batches of ``inner``, then raises ``error``."""

    def __init__(self, inner: ArchiveSource, n: int, *, error: BaseException | None = None) -> None:
        self.inner = inner
        self.n = n
        self.error = error or Interrupted()

    @property
    def key(self) -> str:
        return self.inner.key

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    @property
    def size(self) -> int:
        return self.inner.size

    def batches(self, *, start: int = 0) -> Iterator[ImportBatch]:
        for i, batch in enumerate(self.inner.batches(start=start)):
            if i == self.n:
                raise self.error
            yield batch
