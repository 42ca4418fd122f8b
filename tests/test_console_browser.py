"""The web console in a real headless browser (Debian's chromium through Playwright) against waitress on a free
local port: keyboard-only review, undo from a merge's page, charts drawn with data, no console errors anywhere."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator

import psycopg
import pytest
import waitress

import runner
from mlops_dedup.webconsole import create_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LETTERS = "mlops.cover_letter_samples"
POSTINGS = "mlops.job_postings"
ROUNDS = 3  # real runs per table: points per trace in the run charts
PAGES = ("/", "/review", "/merges", "/audit", "/alerts")


def require_chromium() -> None:
    """No skip: a missing browser is a broken environment, in CI and on a workstation alike."""
    if shutil.which(CHROMIUM) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing on this CI runner: the image must install Debian's chromium package")
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (the browser tests drive Debian's chromium)")


@pytest.fixture(scope="module")
def console_dsn(server: runner.EmbeddedPostgresql, admin_dsn: str, template_dsn: str) -> Iterator[str]:
    """A database of its own for this module: ROUNDS real runs over both platform rules (one planted duplicate per
    table each round), then three review pairs of letters queued."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute("CREATE DATABASE console_browser TEMPLATE mlops_template")
    dsn = server.url(database="console_browser")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for n, text in enumerate(["quartz harbor", "violet engine", "sable thunder"][:ROUNDS]):
            conn.execute(
                "INSERT INTO mlops.cover_letter_samples (url, content) VALUES (%s, %s), (%s, %s)",
                (f"https://l.example.com/{n}", text, f"https://www.l.example.com/{n}/", text),
            )
            conn.execute(
                "INSERT INTO mlops.job_postings (url, title) VALUES (%s, %s), (%s, %s)",
                (f"https://j.example.com/{n}", text, f"https://j.example.com/{n}?utm_source=x", text),
            )
            runner.merge(dsn)
        words = ["amber river", "basalt crown", "cobalt meadow", "dune lantern", "ember violin", "fjord quarry"]
        ids = [
            conn.execute(
                "INSERT INTO mlops.cover_letter_samples (url, content) VALUES (%s, %s) RETURNING id",
                (f"https://r.example.com/{w.replace(' ', '-')}", w),
            ).fetchone()[0]
            for w in words
        ]
        for (left, right), score in zip([ids[0:2], ids[2:4], ids[4:6]], (0.75, 0.7, 0.65), strict=True):
            conn.execute(
                "INSERT INTO mlops.duplicate_candidates (target, left_key, right_key, score) VALUES (%s, %s, %s, %s)",
                (LETTERS, str(left), str(right), score),
            )
    yield dsn
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute("DROP DATABASE console_browser WITH (FORCE)")


@pytest.fixture(scope="module")
def base_url(console_dsn: str) -> Iterator[str]:
    """The console under waitress in a thread, on a free port of 127.0.0.1; closed at the end."""
    server = waitress.create_server(create_app(console_dsn), host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(browser, base_url: str) -> Iterator[object]:
    """One page for the module; its console errors, page errors and failed requests collect in page.problems."""
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    page.problems = []
    page.on("console", lambda m: page.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
    # ERR_ABORTED: a request the next navigation cancelled (the favicon of a page left at once), not a failure
    page.on(
        "requestfailed",
        lambda r: (
            None if r.failure == "net::ERR_ABORTED" else page.problems.append(f"request failed: {r.url} {r.failure}")
        ),
    )
    yield page
    context.close()


def rows(dsn: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


def test_every_page_renders_without_console_errors(page, console_dsn: str) -> None:
    (merge_id,) = rows(console_dsn, "SELECT min(merge_id) FROM mlops.merges WHERE parent_merge_id IS NULL")[0]
    for path in (*PAGES, f"/merges/{merge_id}", f"/merges/{merge_id}/undo", "/runs/1/undo"):
        response = page.goto(path)
        assert response.status == 200, path
        page.wait_for_load_state("load")
        assert page.problems == [], (path, page.problems)


def test_run_chart_is_drawn_with_a_point_per_run(page) -> None:
    page.goto("/")
    page.wait_for_function("document.getElementById('chart-rows-merged')?.data !== undefined")
    traces = page.evaluate(
        "Array.from(document.getElementById('chart-rows-merged').data, t => [t.name, t.x.length, t.y])"
    )
    assert {name: points for name, points, _y in traces} == {LETTERS: ROUNDS, POSTINGS: ROUNDS}
    assert all(y == [1] * ROUNDS for _name, _points, y in traces)
    assert page.locator("#chart-rows-merged .main-svg").count() > 0  # plotly drew it
    assert page.problems == []


def test_keyboard_only_review_of_three_pairs(page, console_dsn: str) -> None:
    pairs = rows(
        console_dsn,
        "SELECT candidate_id FROM mlops.duplicate_candidates WHERE status = 'pending' AND target = %s::regclass"
        " ORDER BY score DESC",
        (LETTERS,),
    )
    first, second, third = (p[0] for p in pairs)
    page.goto(f"/review?target={LETTERS}")
    assert page.locator("#progress").inner_text() == "pair 1 of 3"
    with page.expect_navigation():
        page.keyboard.press("m")
    (merge_id,) = rows(
        console_dsn, "SELECT merge_id FROM mlops.merges WHERE reason LIKE 'review%%' ORDER BY merge_id DESC LIMIT 1"
    )[0]
    assert page.locator("#merged-link").inner_text() == str(merge_id)
    assert page.locator("#progress").inner_text() == "pair 2 of 3"
    with page.expect_navigation():
        page.keyboard.press("d")
    assert page.locator("#progress").inner_text() == "pair 3 of 3"
    with page.expect_navigation():
        page.keyboard.press("s")
    assert "1 skipped pair(s) still pending" in page.locator("#review-done").inner_text()
    statuses = dict(
        rows(
            console_dsn,
            "SELECT candidate_id, status FROM mlops.duplicate_candidates WHERE candidate_id = ANY (%s)",
            ([first, second, third],),
        )
    )
    assert statuses == {first: "merged", second: "distinct", third: "pending"}
    assert [a for (a,) in rows(console_dsn, "SELECT action FROM mlops.console_actions ORDER BY action_id")] == [
        "review_merge",
        "review_distinct",
    ]
    assert page.problems == []


def test_undo_from_a_merge_page(page, console_dsn: str) -> None:
    merge_id, survivor, (loser,) = rows(
        console_dsn,
        "SELECT merge_id, survivor_key, loser_keys FROM mlops.merges"
        " WHERE target = %s::regclass AND parent_merge_id IS NULL AND undone_at IS NULL ORDER BY merge_id LIMIT 1",
        (POSTINGS,),
    )[0]
    live = "SELECT id::text FROM mlops.job_postings WHERE merged_into IS NULL AND id IN (%s::bigint, %s::bigint)"
    assert rows(console_dsn, live, (survivor, loser)) == [(survivor,)]
    page.goto(f"/merges/{merge_id}")
    page.click("#undo-link")
    page.click("#confirm-undo")
    page.wait_for_selector("#merge-state")
    assert f"Merge {merge_id} undone" in page.locator(".flash-success").inner_text()
    assert sorted(rows(console_dsn, live, (survivor, loser))) == sorted([(survivor,), (loser,)])
    assert rows(console_dsn, "SELECT undone_at IS NOT NULL FROM mlops.merges WHERE merge_id = %s", (merge_id,)) == [
        (True,)
    ]
    assert page.problems == []
