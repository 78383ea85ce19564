"""What the segmentation engine last wrote per member, to skip decoding it again next batch.

Kept apart from ``repository`` (the reads) because the engine owns it across batches while
the reads and ``writes`` only consult and fill it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from segmentation.features import MemberFeatures

if TYPE_CHECKING:
    from segmentation.repository import CurrentRow


class StateMemo:
    """The state this process last wrote per member, kept with the exact text it wrote.

    The live pipeline reads back, batch after batch, the features and decisions of members
    it wrote moments before; decoding that JSON into objects cost more than anything else
    in the read. A kept entry is used only when the text now stored is *identical* to the
    text written from it, so whatever else changed the row since (another process, a pin,
    a merge, an erasure, a rebuild, a rolled-back transaction) makes it miss and the row is
    decoded as usual: the check is the invalidation, and it is exact. An entry is handed
    out once (``take`` removes it: the caller folds into the objects) and kept again when
    their new state is written (``keep``). Least recently kept entries go first.
    """

    def __init__(self, size: int = 8192) -> None:
        self.size = size
        self._kept: dict[int, tuple[str, str | None, MemberFeatures, dict[str, CurrentRow] | None]] = {}
        #: Decision rows handed out by ``take`` with their text, until written again: rows that
        #: come back equal are written as that same text (``decisions_text``).
        self._taken: dict[int, tuple[dict[str, CurrentRow], str]] = {}

    def __len__(self) -> int:
        return len(self._kept)

    def take(
        self, member_id: int, features_text: str, decisions_text: str | None
    ) -> tuple[MemberFeatures, dict[str, CurrentRow] | None] | None:
        kept = self._kept.pop(member_id, None)
        if kept is None or kept[0] != features_text or kept[1] != decisions_text:
            return None
        if kept[3] is not None and decisions_text is not None:
            if len(self._taken) >= self.size:  # handed out and never written: let them go
                self._taken.clear()
            self._taken[member_id] = (kept[3], decisions_text)
        return kept[2], kept[3]

    def decisions_text(self, member_id: int, rows: Mapping[str, CurrentRow]) -> str | None:
        """The text of a member's decision rows as taken, when ``rows`` are still equal to them."""
        taken = self._taken.pop(member_id, None)
        if taken is None or taken[0] != rows:
            return None
        return taken[1]

    def keep(
        self,
        member_id: int,
        features_text: str,
        decisions_text: str | None,
        features: MemberFeatures,
        rows: dict[str, CurrentRow] | None,
    ) -> None:
        kept = self._kept
        kept.pop(member_id, None)
        if len(kept) >= self.size:
            del kept[next(iter(kept))]
        kept[member_id] = (features_text, decisions_text, features, rows)

    def clear(self) -> None:
        self._kept.clear()
        self._taken.clear()
