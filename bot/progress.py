"""Import progress for people: a Rich bar (count, rate, ETA) on a terminal, silence elsewhere."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class RichReporter:
    """Shows one bar per source: bytes read drive the ETA, records and their rate are shown beside it."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[records]:>9,} records"),
            TextColumn("{task.fields[rate]:>7,.0f}/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None
        self._records = 0

    def __enter__(self) -> RichReporter:
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def source_started(self, key: str, *, total: int, resumed_at: int) -> None:
        name = key.rsplit("/", 1)[-1][-40:]
        if resumed_at:
            name += f" (resumed at {resumed_at:,})"
        self._records = 0
        self._task = self._progress.add_task(name, total=total or None, records=0, rate=0.0)

    def advanced(self, *, records: int, progress: int) -> None:
        if self._task is None:
            return
        self._records += records
        task = self._progress.tasks[self._task]
        elapsed = task.elapsed or 0.0
        rate = self._records / elapsed if elapsed > 0 else 0.0
        self._progress.update(self._task, completed=progress, records=self._records, rate=rate)

    def source_finished(self, key: str, *, unchanged: bool) -> None:
        if unchanged:
            self._progress.console.print(f"[dim]{key}: unchanged since the last import, skipped[/dim]")
        elif self._task is not None:
            task = self._progress.tasks[self._task]
            if task.total:
                self._progress.update(self._task, completed=task.total)
        self._task = None
