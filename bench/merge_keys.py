#!/usr/bin/env python3
"""Merge benchmark by key type: mlops.merge_clusters on a uuid-keyed target against the same target keyed by bigint.

The same generic schema is built twice, once per key type, with the same data shape: bench.accounts (id <type>
PRIMARY KEY, email, name), 2N rows in duplicate pairs (row 2g-1 survives, row 2g is its duplicate), and
bench.orders (id bigint identity, account_id <type> REFERENCES bench.accounts, amount) with R orders per account and
an index on orders.account_id, as an application has. Row i's key is i as bigint, or md5(i::text)::uuid (the
values are deterministic and, as uuids are, unrelated to the rows' physical order). Each template is loaded, then
VACUUM ANALYZE; each timed merge runs on a fresh copy of it (merge.fresh_copy), one after the other, in one run, on
an embedded PostgreSQL with fsync on, over TCP (as bench/merge.py).

Timed: SELECT * FROM mlops.merge_clusters('bench.accounts', survivors, losers, 'bench') in one transaction,
committed, the keys passed as arrays of the key's own type. Checked afterwards from the data: N accounts left, N
rows archived, every order of a loser now on its own survivor.

    python bench/merge_keys.py                          # 10k and 100k losers, 1 and 10 orders per account
    python bench/merge_keys.py --losers 100000 --refs 1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sys
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from merge import backend_peak_kib, empty_database, fresh_copy

import runner

# Row i's key, in SQL and in Python: the same values on both sides.
KEY_SQL = {"bigint": "({i})::bigint", "uuid": "md5(({i})::text)::uuid"}
TARGET = "bench.accounts"

SCHEMA = """
CREATE SCHEMA bench;
CREATE TABLE bench.accounts (
    id {key_type} NOT NULL,
    email text NOT NULL,
    name text NOT NULL,
    CONSTRAINT accounts_pkey PRIMARY KEY (id)
);
CREATE TABLE bench.orders (
    id bigint GENERATED ALWAYS AS IDENTITY,
    account_id {key_type} NOT NULL,
    amount integer NOT NULL,
    CONSTRAINT orders_pkey PRIMARY KEY (id)
);
"""

# amount = i * refs + k names the account an order was made for (i), so the re-point can be checked row by row.
LOAD = [
    "INSERT INTO bench.accounts (id, email, name)"
    " SELECT {key_i}, 'user' || ((i + 1) / 2) || '@example.com', 'Name ' || ((i + 1) / 2)"
    " FROM generate_series(1, 2 * %(losers)s) AS i",
    "INSERT INTO bench.orders (account_id, amount)"
    " SELECT {key_i}, i * %(refs)s + k"
    " FROM generate_series(1, 2 * %(losers)s) AS i, generate_series(0, %(refs)s - 1) AS k",
    "ALTER TABLE bench.orders ADD CONSTRAINT orders_account_id_fkey"
    " FOREIGN KEY (account_id) REFERENCES bench.accounts (id)",
    "CREATE INDEX orders_account_id_idx ON bench.orders (account_id)",
    "VACUUM ANALYZE",
]


def key_of(key_type: str, i: int) -> int | uuid.UUID:
    """Row i's key as Python gives it to psycopg (the same value KEY_SQL makes in the database)."""
    return i if key_type == "bigint" else uuid.UUID(hashlib.md5(str(i).encode()).hexdigest())


def make_template(
    admin: psycopg.Connection, server: runner.EmbeddedPostgresql, name: str, key_type: str, losers: int, refs: int
) -> None:
    """A database with the package installed and the bench schema keyed by key_type, loaded and analysed."""
    dsn = empty_database(admin, server, name)
    runner.install(dsn)
    key_i = KEY_SQL[key_type].format(i="i")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA.format(key_type=key_type))  # one of KEY_SQL's type names
        for statement in LOAD:
            conn.execute(statement.format(key_i=key_i), {"losers": losers, "refs": refs})


def merge_timed(dsn: str, key_type: str, losers: int, refs: int, keys_as_text: bool = False) -> dict:
    """Times one merge_clusters call over every pair, then reads back what it did. With keys_as_text the keys go as
    strings (cast to the key type by the server), so psycopg's per-value adaptation (uuid.UUID: ~3 us each) is out of
    the timing and what is left is the database's work."""
    survivors = [key_of(key_type, 2 * g - 1) for g in range(1, losers + 1)]
    dupes = [key_of(key_type, 2 * g) for g in range(1, losers + 1)]
    if keys_as_text:
        survivors, dupes = [str(k) for k in survivors], [str(k) for k in dupes]
    load = os.getloadavg()[0]
    with psycopg.connect(dsn, autocommit=True) as conn:
        pid = conn.info.backend_pid
        started = time.perf_counter()
        with conn.transaction():
            merged, moved = conn.execute(
                f"SELECT merged_rows, moved_references FROM mlops.merge_clusters("
                f"%s::regclass, %s::{'text[]::' if keys_as_text else ''}{key_type}[],"
                f" %s::{'text[]::' if keys_as_text else ''}{key_type}[], 'bench')",
                (TARGET, survivors, dupes),
            ).fetchone()
        seconds = time.perf_counter() - started
        peak = backend_peak_kib(pid)
        accounts_left, archived = conn.execute(
            "SELECT (SELECT count(*) FROM bench.accounts),"
            " (SELECT count(*) FROM mlops.merge_archive AS a JOIN mlops.merges AS m USING (merge_id)"
            "  WHERE m.target = %s::regclass)",
            (TARGET,),
        ).fetchone()
        # an order made for account i (amount / refs) belongs to i if i survives (odd), to i - 1 if i was a loser
        owner = KEY_SQL[key_type].format(i="o.amount / %(refs)s - 1 + o.amount / %(refs)s %% 2")
        moved_read_back, misplaced = conn.execute(
            f"SELECT count(*) FILTER (WHERE o.amount / %(refs)s %% 2 = 0 AND o.account_id = {owner}),"
            f" count(*) FILTER (WHERE o.account_id <> {owner}) FROM bench.orders AS o",
            {"refs": refs},
        ).fetchone()
    return {
        "seconds": round(seconds, 3),
        "losers_per_s": round(losers / seconds),
        "merged_rows": merged,
        "moved_references": moved,
        "accounts_left": accounts_left,
        "archived": archived,
        "orders_moved_read_back": moved_read_back,
        "orders_misplaced": misplaced,
        "backend_peak_mib": round(peak / 1024, 1) if peak else None,
        "load_average_before": round(load, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--losers", default="10000,100000", help="comma-separated loser counts")
    parser.add_argument("--refs", default="1,10", help="comma-separated orders per account")
    parser.add_argument(
        "--keys-as-text", action="store_true", help="send keys as text (the server casts): database time only"
    )
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "merge_keys.json")
    args = parser.parse_args()

    results = []
    server = runner.EmbeddedPostgresql(durable=True)
    with server, psycopg.connect(server.url(database="postgres"), autocommit=True) as admin:
        fsync = admin.execute("SHOW fsync").fetchone()[0]
        print(f"PostgreSQL {admin.info.server_version}, fsync={fsync}, TCP {admin.info.host}")
        for losers in [int(x) for x in args.losers.split(",")]:
            for refs in [int(x) for x in args.refs.split(",")]:
                row: dict = {"losers": losers, "refs": refs}
                for key_type in KEY_SQL:
                    make_template(admin, server, f"bench_keys_{key_type}", key_type, losers, refs)
                for key_type in KEY_SQL:
                    dsn = fresh_copy(admin, server, f"bench_keys_{key_type}", "bench_run")
                    row[key_type] = merge_timed(dsn, key_type, losers, refs, args.keys_as_text)
                row["uuid_over_bigint"] = round(row["uuid"]["seconds"] / row["bigint"]["seconds"], 2)
                results.append(row)
                print(json.dumps(row), flush=True)
        admin.execute("DROP DATABASE IF EXISTS bench_run")

    client_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nclient peak RSS {client_peak:.0f} MiB\n")
    print(
        "| losers | orders/account | bigint s | uuid s | uuid/bigint | rows merged | references moved "
        "| backend peak MiB bigint / uuid |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        b, u = r["bigint"], r["uuid"]
        print(
            f"| {r['losers']:,} | {r['refs']} | {b['seconds']} | {u['seconds']} | {r['uuid_over_bigint']}x "
            f"| {b['merged_rows']:,} / {u['merged_rows']:,} | {b['moved_references']:,} / {u['moved_references']:,} "
            f"| {b['backend_peak_mib']} / {u['backend_peak_mib']} |"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"client_peak_mib": round(client_peak), "runs": results}, indent=2))


if __name__ == "__main__":
    main()
