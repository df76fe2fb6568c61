"""The public credit information catalog (《全国公共信用信息基础目录》 and supplements).

The catalog says, for every category of credit information, which fields a
record may carry (and nothing else: minimal collection), how sensitive each
field is, with whom records may be shared and how much of them, whether they
may be published, and for how long. The national base is amended by
provincial and city supplements, which may only make it stricter.

The package, each module importing only those above it:

* :mod:`~gateway.core.catalog.model`: the data model;
* :mod:`~gateway.core.catalog.rules`: the checks of one category on its own
  (prohibited data, lawful periods, consistency);
* :mod:`~gateway.core.catalog.toml_table`: strict TOML reading, shared with the
  measures list;
* :mod:`~gateway.core.catalog.parse`: catalog files to documents;
* :mod:`~gateway.core.catalog.merge`: the national base amended by supplements.

Reading the packaged files is the edge's job (``gateway.node.catalog_files``).
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.core.catalog.merge import merge_documents
from gateway.core.catalog.model import (
    ANY_DOMAIN,
    LOCAL_DECISION,
    Catalog,
    CatalogDocument,
    Category,
    CategoryAmendment,
    CategoryKind,
    FieldChange,
    FieldSpec,
    FieldType,
    ObjectionSuspends,
    PersonRole,
    RecipientKind,
    Sensitivity,
    Severity,
    ShareRule,
    Visibility,
)
from gateway.core.catalog.parse import parse_catalog_document
from gateway.core.catalog.rules import check_category_rules
from gateway.core.errors import CatalogError

__all__ = [
    "ANY_DOMAIN",
    "LOCAL_DECISION",
    "Catalog",
    "CatalogDocument",
    "Category",
    "CategoryAmendment",
    "CategoryKind",
    "FieldChange",
    "FieldSpec",
    "FieldType",
    "ObjectionSuspends",
    "PersonRole",
    "RecipientKind",
    "Sensitivity",
    "Severity",
    "ShareRule",
    "Visibility",
    "check_category",
    "load_catalog",
    "merge_catalogs",
    "parse_catalog",
]


def parse_catalog(text: str, *, source: str) -> CatalogDocument:
    """Parse one catalog file (TOML text) and check every category it defines.

    Args:
        text: the TOML text.
        source: the file name, named in every error.

    Returns:
        The parsed document; supplements still have to be merged.

    Raises:
        CatalogError: naming the source and the entry: malformed TOML, unknown
            keys, wrong types, duplicate codes, prohibited data, unlawful
            periods, or an inconsistent category.
    """
    return parse_catalog_document(text, source=source)


def merge_catalogs(base: CatalogDocument, *supplements: CatalogDocument) -> Catalog:
    """Merge the national base with supplements, each amending the result so far.

    A supplement may add categories, add optional fields and tighten rules;
    see :mod:`gateway.core.catalog.merge`.

    Args:
        base: the national base (extends nothing).
        supplements: in order: province, then city; each extends the one before.

    Returns:
        The merged catalog, versioned e.g. ``2025.1+330000.2025.1``.

    Raises:
        CatalogError: naming the supplement and the entry, if a supplement
            loosens anything or redefines a category, or the chain of
            documents is inconsistent.
    """
    return merge_documents(base, supplements)


def load_catalog(texts: Sequence[tuple[str, str]]) -> Catalog:
    """Parse and merge ``(source, text)`` pairs; the first is the national base.

    Raises:
        CatalogError: as :func:`parse_catalog` and :func:`merge_catalogs`.
    """
    documents = [parse_catalog(text, source=source) for source, text in texts]
    if not documents:
        raise CatalogError("no catalog files given; the national base is required")
    return merge_catalogs(documents[0], *documents[1:])


def check_category(category: Category, *, source: str) -> None:
    """Check that one category is consistent and lawful on its own.

    Raises:
        CatalogError: naming the source and the category (and field or rule).
    """
    check_category_rules(category, source=source)
