"""The cyclic garbage collector tuned for a long-running bot: full collections rare and small.

Reference counting frees almost everything the bot allocates; the cyclic collector is
there for the rest. Its full (oldest-generation) collection walks every tracked object,
and a running bot holds a few hundred thousand: the code and its tables, SQLAlchemy's
compiled statements, the templates, and the segmentation engine's per-member state. On
this project's machine one full collection took ~200 ms, and with the default thresholds
one ran every ~8,000 events: a 200 ms stall of whichever batch it hit, 5 % of the time.

Two standard knobs, applied once the bot is built and before it takes events:

* ``gc.freeze()`` moves everything alive at start (modules, functions, types, the app's
  wiring: objects that live as long as the process) to a generation no collection walks.
* The oldest generation is collected after 100 collections of the middle one instead of
  10, so full collections run about a tenth as often. Cyclic garbage waits longer; the
  young generations, where nearly all of it dies, are collected as before.

Freezing happens once per process (tests build many bots in one process; each freeze
would pin what was alive at that moment).
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)

#: Collections of the middle generation between two full collections (Python's default: 10).
FULL_EVERY = 100


def tune_collector() -> None:
    """Freeze the start-up heap (once per process) and make full collections rarer."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_EVERY)
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()
        log.debug("collector: %d start-up objects frozen", gc.get_freeze_count())
