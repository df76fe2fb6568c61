"""The node process's heap after its start: collected, then frozen out of later collections."""

from __future__ import annotations

import gc
import weakref

from gateway.app import freeze_startup_heap


class _Cycle:
    """An object in a reference cycle: only the collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_what_is_alive_after_the_start_is_frozen_and_garbage_is_collected_first() -> None:
    alive = _Cycle()
    garbage = _Cycle()
    gone = weakref.ref(garbage)
    del garbage
    try:
        frozen = freeze_startup_heap()
        # The garbage was collected before the freeze: frozen objects are never freed.
        assert gone() is None
        assert frozen > 0
        # Out of the collector's sight: no later collection traverses it.
        assert not any(o is alive for o in gc.get_objects())
    finally:
        gc.unfreeze()
    assert any(o is alive for o in gc.get_objects())
