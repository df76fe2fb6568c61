"""Load the catalog and measures list packaged with the gateway, for one node.

The files live in ``gateway/data/catalog/`` and ``gateway/data/measures/``,
one per region code: ``000000.toml`` is the national base, and a node also
takes the supplements of its province (``XX0000``), its city (``XXXX00``) and
its own county code, in that order, where such a file exists. The core does
the parsing and merging; this module only reads the text.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

from gateway.core.catalog import Catalog, load_catalog
from gateway.core.errors import ConfigurationError
from gateway.core.measures import MeasuresList, check_catalog_measures, load_measures
from gateway.core.node_id import NATIONAL, is_node_id_shape
from gateway.core.node_id import region_chain as node_id_region_chain

__all__ = ["load_packaged_catalog", "load_packaged_measures", "region_chain"]


def region_chain(node_id: str) -> tuple[str, ...]:
    """The region codes whose files apply to ``node_id``, national first.

    >>> region_chain("330521")
    ('000000', '330000', '330500', '330521')

    Raises:
        ConfigurationError: if ``node_id`` is not a 6-digit region code.
    """
    if not is_node_id_shape(node_id):
        raise ConfigurationError(f"node id {node_id!r} is not a 6-digit region code")
    return node_id_region_chain(node_id)


def _texts(folder: str, node_id: str) -> list[tuple[str, str]]:
    base: Traversable = resources.files("gateway") / "data" / folder
    texts: list[tuple[str, str]] = []
    for region in region_chain(node_id):
        item = base / f"{region}.toml"
        if item.is_file():
            texts.append((f"{folder}/{region}.toml", item.read_text(encoding="utf-8")))
        elif region == NATIONAL:
            raise ConfigurationError(f"the packaged national {folder} file is missing")
    return texts


def load_packaged_measures(node_id: str) -> MeasuresList:
    """The measures list for ``node_id``: the national list and its supplements.

    Raises:
        ConfigurationError: bad node id, or the national file is missing.
        CatalogError: a packaged file is malformed or a supplement redefines a measure.
    """
    return load_measures(_texts("measures", node_id))


def load_packaged_catalog(node_id: str) -> Catalog:
    """The catalog for ``node_id``: the national base merged with its supplements.

    The measures its list categories name are checked against the packaged
    measures list for the same node.

    Raises:
        ConfigurationError: bad node id, or the national file is missing.
        CatalogError: a packaged file is malformed, unlawful or loosens the base.
    """
    catalog = load_catalog(_texts("catalog", node_id))
    check_catalog_measures(catalog, load_packaged_measures(node_id))
    return catalog
