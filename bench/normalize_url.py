#!/usr/bin/env python3
"""mlops.normalize_url benchmark: microseconds per call over generated URLs, and the time of pathological inputs.

The URLs are generated from a fixed seed and mix what crawls write: www. and upper-case hosts, default and other
ports, tracking and ordinary parameters, fragments and single-page-app routes, Korean paths, trailing slashes and dot
segments: one table without percent-escapes in the path ("plain"), one where a third of the path words are escaped
("escaped"). Each timed pass is SELECT count(normalize_url(url)) over a table; the working tree's functions and,
with --rev, those of a commit (loaded under other names) take turns, --repeat rounds, and the best and median of
each are reported as wall clock and as the backend's CPU time (read from /proc: the embedded server is local), which
a busy machine disturbs less. The pathological inputs (long paths, thousands of escapes, parameters and blanks) are
timed one call each, cancelled after 30 s.

    python bench/normalize_url.py                       # the working tree's functions, 200k URLs
    python bench/normalize_url.py --rev HEAD~1          # and the functions as they were at a commit, interleaved
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import runner

ROOT = Path(__file__).resolve().parent.parent
FUNCTION_FILES = ("normalize_url_percent.sql", "normalize_url.sql")
# where the routines lived at a commit: the package directory since issue 14, the repository's root before
FUNCTION_DIRS = ("mlops_dedup/sql/functions", "sql/functions")
HOSTS = ["example.com", "WWW.Example.com", "careers.example.co.kr", "jobs.example.org", "192.168.0.10"]
WORDS = ["jobs", "ml-engineer", "data", "Senior_Analyst", "채용", "공고", "%EA%B3%B5%EA%B3%A0", "a%2Fb", "%7euser"]
PARAMS = ["id=7", "page=2", "utm_source=x", "utm_medium=mail", "fbclid=abc", "q=ML+engineer", "b=2", "a=1", "sort=new"]
TAILS = ["", "/", "#top", "#/jobs/101", "#!/jobs/7", "?"]

PATHOLOGICAL = {
    "path of 20k segments then 20k ..": "https://example.com/" + "a/" * 20000 + "../" * 20000 + "b",
    "30k percent-escapes": "https://example.com/" + "%e2%82%ac" * 10000 + "?q=" + "%41" * 10000,
    "16k query parameters": "https://example.com/a?" + "&".join(f"p{i:05d}=1" for i in range(16000, 0, -1)),
    "50k blanks and controls": "https://example.com/" + " a\tb\x01" * 10000 + "?q=" + "a b|" * 5000,
    "100k lone percent signs": "https://example.com/" + "%" * 100000,
}


def generate(count: int, seed: int, escapes: bool) -> list[str]:
    """count URLs from a fixed seed; with escapes, a third of the path words are percent-encoded."""
    rnd = random.Random(seed)
    words = WORDS if escapes else [w for w in WORDS if "%" not in w]
    urls = []
    for _ in range(count):
        scheme = rnd.choice(["https", "http", "HTTPS"])
        port = rnd.choice(["", "", "", ":443", ":80", ":8080"])
        path = "/".join(rnd.choice(words) for _ in range(rnd.randint(1, 4)))
        if rnd.random() < 0.05:
            path += "/./x/../y"
        query = "&".join(rnd.sample(PARAMS, rnd.randint(0, 5)))
        url = f"{scheme}://{rnd.choice(HOSTS)}{port}/{path}" + (f"?{query}" if query else "") + rnd.choice(TAILS)
        urls.append(url)
    return urls


def load_functions(conn: psycopg.Connection, rev: str) -> str:
    """Create the two functions as they were at a commit under other names; returns the name of normalize_url's."""
    for name in FUNCTION_FILES:
        for directory in FUNCTION_DIRS:
            shown = subprocess.run(
                ["git", "-C", str(ROOT), "show", f"{rev}:{directory}/{name}"],
                check=False,
                capture_output=True,
                text=True,
            )
            if shown.returncode == 0:
                break
        else:
            raise SystemExit(f"{name} not found at {rev}: {shown.stderr.strip()}")
        text = shown.stdout
        conn.execute(text.replace("mlops.normalize_url", "mlops.bench_rev_normalize_url"))
    return "mlops.bench_rev_normalize_url"


def backend_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a local backend, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summary(seconds: list[float], urls: int) -> dict[str, float]:
    return {
        "us_per_call_best": round(min(seconds) / urls * 1e6, 2),
        "us_per_call_median": round(statistics.median(seconds) / urls * 1e6, 2),
    }


def pathological(conn: psycopg.Connection, function: str) -> dict[str, float | str]:
    times: dict[str, float | str] = {}
    conn.execute("SET statement_timeout = '30s'")
    for name, url in PATHOLOGICAL.items():
        started = time.perf_counter()
        try:
            conn.execute(f"SELECT {function}(%s)", (url,)).fetchone()
            times[name] = round(time.perf_counter() - started, 3)
        except psycopg.errors.QueryCanceled:
            times[name] = "over 30 s (cancelled)"
    conn.execute("RESET statement_timeout")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--rev", help="also time the functions as they were at this git revision")
    args = parser.parse_args()

    with runner.EmbeddedPostgresql() as server:
        dsn = server.url(database="postgres")
        runner.install(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            functions = {"working tree": "mlops.normalize_url"}
            if args.rev:
                functions[args.rev] = load_functions(conn, args.rev)
            for table, escapes in (("plain", False), ("escaped", True)):
                conn.execute(f"CREATE TABLE bench_{table} (url text)")
                with conn.cursor().copy(f"COPY bench_{table} (url) FROM STDIN") as copy:
                    for url in generate(args.urls, args.seed, escapes):
                        copy.write_row((url,))
                conn.execute(f"VACUUM ANALYZE bench_{table}")
            (pid,) = conn.execute("SELECT pg_backend_pid()").fetchone()
            wall: dict[tuple[str, str], list[float]] = {}
            cpu: dict[tuple[str, str], list[float]] = {}
            for _ in range(args.repeat):
                for label, function in functions.items():
                    for table in ("plain", "escaped"):
                        started, started_cpu = time.perf_counter(), backend_cpu_seconds(pid)
                        conn.execute(f"SELECT count({function}(url)) FROM bench_{table}").fetchone()
                        wall.setdefault((label, table), []).append(time.perf_counter() - started)
                        cpu.setdefault((label, table), []).append(backend_cpu_seconds(pid) - started_cpu)
            report = {
                label: {
                    **{
                        table: {
                            "wall": summary(wall[label, table], args.urls),
                            "backend_cpu": summary(cpu[label, table], args.urls),
                        }
                        for table in ("plain", "escaped")
                    },
                    "pathological_s": pathological(conn, function),
                }
                for label, function in functions.items()
            }
    print(json.dumps({"urls": args.urls, "repeat": args.repeat, **report}, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
