import pytest

from gateway.core.errors import InputError
from gateway.core.messages import next_hop
from gateway.core.node_id import (
    NATIONAL,
    ancestors,
    is_descendant,
    is_node_id_shape,
    node_level,
    parent_node,
    parent_of,
    region_chain,
)
from gateway.core.policy import node_relation
from gateway.pki import node_level as pki_node_level
from gateway.pki import parent_of as pki_parent_of


def test_the_tree_by_region_code() -> None:
    assert [parent_node(n) for n in (NATIONAL, "330000", "330500")] == [None, NATIONAL, "330000"]
    assert ancestors("330500") == ("330000", NATIONAL)
    assert ancestors(NATIONAL) == ()
    assert [node_level(n) for n in (NATIONAL, "330000", "330500")] == [
        "national",
        "province",
        "city",
    ]


def test_descendants() -> None:
    assert is_descendant("330500", NATIONAL)
    assert is_descendant("330500", "330000")
    assert not is_descendant("330500", "330500")
    assert not is_descendant("330000", "330500")
    assert not is_descendant("430100", "330000")


def test_region_chain_follows_regions_not_nodes() -> None:
    assert region_chain("330521") == (NATIONAL, "330000", "330500", "330521")
    assert region_chain(NATIONAL) == (NATIONAL,)


def test_shape_is_six_ascii_digits() -> None:
    assert is_node_id_shape("330500")
    assert not is_node_id_shape("33050")
    assert not is_node_id_shape("３３０５００")  # full-width digits
    assert not is_node_id_shape(330500)


def test_strict_checks_refuse_what_runs_no_node() -> None:
    with pytest.raises(InputError, match="is a county code"):
        parent_of("330521")
    with pytest.raises(InputError, match="no GB/T 2260 province prefix '99'"):
        node_level("990000")


def test_every_user_reads_the_same_tree() -> None:
    assert pki_node_level is node_level
    assert pki_parent_of is parent_of
    assert next_hop("330000", "330500") == "330500"
    assert next_hop(NATIONAL, "330500") == "330000"
    assert next_hop("330500", "430100") == "330000"
    assert str(node_relation("330500", "330000")) == "parent"
    assert str(node_relation("330000", "330500")) == "child"
