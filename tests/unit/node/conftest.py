"""Node use cases run against both store backends."""

from tests.unit.store.conftest import store, store_url

__all__ = ["store", "store_url"]
