"""The collector tuning the live bot and ``simulate`` apply once they are built."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from bot.collector import FULL_EVERY, tune_collector


@pytest.fixture
def thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


@pytest.mark.usefixtures("thresholds")
def test_full_collections_rarer_and_the_start_up_heap_frozen_once() -> None:
    tune_collector()
    assert gc.get_threshold()[2] == FULL_EVERY
    frozen = gc.get_freeze_count()
    assert frozen > 0  # modules, functions and types alive now are out of every collection
    later = [[] for _ in range(10)]  # tracked objects a second freeze would pin
    tune_collector()
    assert gc.get_freeze_count() == frozen  # a second bot in this process pins nothing more
    del later
