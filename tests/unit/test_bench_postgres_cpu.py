"""The hop bench's reading of PostgreSQL's own CPU for one node's connections."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.postgres_cpu import PostgresCpu, with_application_name
from tests.support.postgres import fresh_postgres_schema


def test_the_url_names_its_connections_and_keeps_the_rest() -> None:
    url = with_application_name(
        "postgresql+psycopg://gw:secret@db:5432/gw?options=-csearch_path%3Ds1", "bench-hop-x"
    )
    parsed = make_url(url)
    assert parsed.query == {"options": "-csearch_path=s1", "application_name": "bench-hop-x"}
    assert parsed.password == "secret"
    assert parsed.database == "gw"


def test_only_the_named_connections_work_is_counted() -> None:
    with fresh_postgres_schema() as url:
        named = create_engine(with_application_name(url, "bench-hop-probe"))
        other = create_engine(url)
        try:
            cpu = PostgresCpu(other, "bench-hop-probe")
            work = text("SELECT sum(g) FROM generate_series(1, 2000000) AS g")
            with named.connect() as conn:
                before = cpu.sample()
                conn.execute(work)
                after_named = cpu.sample()
                with other.connect() as unnamed:
                    unnamed.execute(work)
                after_other = cpu.sample()
            assert after_named > before
            # The unnamed connection's work is not the named one's; the named backend was idle.
            assert after_other - after_named < (after_named - before) / 2
        finally:
            named.dispose()
            other.dispose()
