"""The web console through Flask's test client against a real database: pages, CSRF, login, action log, review
decisions, undo of a merge and of a run, local assets only, serve's refusal to bind the network without a token."""

from __future__ import annotations

import re
from collections.abc import Iterator

import psycopg
import pytest
from flask.testing import FlaskClient

import runner
from mlops_dedup.webconsole import create_app

LETTERS = "mlops.cover_letter_samples"
PAGES = ("/", "/review", "/merges", "/audit", "/alerts")
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str = "/alerts") -> str:
    """The CSRF token of this client's session, read from a page's form."""
    match = CSRF_FIELD.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


@pytest.fixture
def client(dsn: str) -> Iterator[FlaskClient]:
    with create_app(dsn).test_client() as test_client:
        yield test_client


@pytest.fixture
def letters(conn: psycopg.Connection) -> psycopg.Connection:
    """Letters 1 and 2 the same page (an exact-key merge), 3 and 4 alike (a review pair, queued by hand), 5 apart;
    letter 2 is recommended for a job."""
    conn.execute(
        "INSERT INTO mlops.cover_letter_samples (id, url, content) OVERRIDING SYSTEM VALUE VALUES"
        " (1, 'https://x.example.com/1', 'first letter'), (2, 'https://www.x.example.com/1/', 'first letter'),"
        " (3, 'https://x.example.com/3', 'alpha bravo charlie delta echo foxtrot golf hotel'),"
        " (4, 'https://x.example.com/4', 'alpha bravo charlie delta echo foxtrot zulu yankee'),"
        " (5, 'https://x.example.com/5', 'something else entirely')"
    )
    conn.execute(
        "INSERT INTO mlops.job_postings (id, url) OVERRIDING SYSTEM VALUE VALUES (1, 'https://j.example.com/1')"
    )
    conn.execute("INSERT INTO mlops.job_recommendations (resume_id, job_id, score) VALUES (2, 1, 0.5)")
    return conn


def queue_pairs(conn: psycopg.Connection, *pairs: tuple[str, str, float]) -> list[int]:
    """Review pairs of letters, queued as a run queues them; their candidate ids."""
    return [
        conn.execute(
            "INSERT INTO mlops.duplicate_candidates (target, left_key, right_key, score) VALUES (%s, %s, %s, %s)"
            " RETURNING candidate_id",
            (LETTERS, left, right, score),
        ).fetchone()[0]
        for left, right, score in pairs
    ]


def candidate_status(conn: psycopg.Connection, candidate_id: int) -> str:
    return conn.execute(
        "SELECT status FROM mlops.duplicate_candidates WHERE candidate_id = %s", (candidate_id,)
    ).fetchone()[0]


def actions(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT action, target::text, object_id, succeeded, detail FROM mlops.console_actions ORDER BY action_id"
    ).fetchall()


def live_letters(conn: psycopg.Connection) -> list[int]:
    return [
        r[0] for r in conn.execute("SELECT id FROM mlops.cover_letter_samples WHERE merged_into IS NULL ORDER BY id")
    ]


@pytest.fixture
def merged(letters: psycopg.Connection, dsn: str) -> dict:
    """One real run over the letters: letters 1 and 2 merged. The run and its merge."""
    (run,) = runner.merge(dsn, LETTERS)
    (merge_id,) = letters.execute(
        "SELECT merge_id FROM mlops.merges WHERE parent_merge_id IS NULL AND target = %s::regclass", (LETTERS,)
    ).fetchone()
    return {"run_id": run["run_id"], "merge_id": merge_id}


# ---------------------------------------------------------------- pages


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_on_a_database_without_runs(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert "<main>" in response.get_data(as_text=True)


def test_dashboard_without_runs_says_so(client: FlaskClient) -> None:
    text = client.get("/").get_data(as_text=True)
    assert "No runs yet" in text and "No open alerts." in text
    assert "data-figure" not in text


def test_every_page_renders_with_data(client: FlaskClient, merged: dict, letters: psycopg.Connection) -> None:
    merge_id, run_id = merged["merge_id"], merged["run_id"]  # the run queued letters 3 and 4 for review
    paths = [
        *PAGES,
        f"/merges/{merge_id}",
        f"/merges/{merge_id}/undo",
        f"/runs/{run_id}/undo",
        f"/merges?target={LETTERS}&run={run_id}&reason=dedup&since=2000-01-01&until=2999-12-31",
    ]
    for path in paths:
        assert client.get(path).status_code == 200, path
    dashboard = client.get("/").get_data(as_text=True)
    assert 'data-figure="chart-rows-merged-data"' in dashboard and "No runs yet" not in dashboard
    assert 'data-figure="chart-duplicate-rate-data"' in dashboard  # the run wrote a metric snapshot
    review = client.get("/review").get_data(as_text=True)
    assert "pair 1 of 1" in review and "alpha bravo charlie" in review
    detail = client.get(f"/merges/{merge_id}").get_data(as_text=True)
    assert "job_recommendations_resume_id_fkey" in detail  # letter 2's recommendation moved to letter 1


def test_merges_list_filters_and_reports_a_malformed_filter(client: FlaskClient, merged: dict) -> None:
    assert f'href="/merges/{merged["merge_id"]}"' in client.get(f"/merges?target={LETTERS}").get_data(as_text=True)
    assert "No merges match" in client.get("/merges?reason=no-such-reason").get_data(as_text=True)
    text = client.get("/merges?since=yesterday").get_data(as_text=True)
    assert "is not a date" in text and f'href="/merges/{merged["merge_id"]}"' in text


def test_unknown_merge_is_404(client: FlaskClient) -> None:
    assert client.get("/merges/999999").status_code == 404


def test_plotly_is_served_from_the_installed_package(client: FlaskClient) -> None:
    response = client.get("/vendor/plotly.min.js")
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    assert b"plotly" in response.data[:2000].lower() and len(response.data) > 1_000_000


def test_pages_link_no_asset_of_another_host(client: FlaskClient, merged: dict) -> None:
    for path in (*PAGES, f"/merges/{merged['merge_id']}", "/login"):
        html = client.get(path).get_data(as_text=True)
        assert not re.search(r"""(?:src|href|action)\s*=\s*["']?(?:https?:)?//""", html, re.IGNORECASE), path


def test_security_headers(client: FlaskClient) -> None:
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"


def test_audit_gives_each_unindexed_fk_its_index_with_quoted_identifiers(
    client: FlaskClient, conn: psycopg.Connection
) -> None:
    conn.execute(
        'CREATE TABLE public."Odd Table" (id int PRIMARY KEY, "Job Id" bigint REFERENCES mlops.job_postings (id))'
    )
    text = client.get("/audit").get_data(as_text=True)
    assert "CREATE INDEX CONCURRENTLY ON public.&#34;Odd Table&#34; (&#34;Job Id&#34;);" in text
    assert "blocks_delete" in text and "⚠️" in text  # the CLI's marks, and the legend's words


# ---------------------------------------------------------------- CSRF and login


@pytest.mark.parametrize("token", [None, "forged"])
def test_post_without_a_valid_csrf_token_is_refused_and_changes_nothing(
    client: FlaskClient, letters: psycopg.Connection, token: str | None
) -> None:
    (candidate,) = queue_pairs(letters, ("3", "4", 0.7))
    form = {"candidate_id": candidate, "decision": "merge"} | ({"csrf_token": token} if token else {})
    response = client.post("/review/decide", data=form)
    assert response.status_code == 400
    assert candidate_status(letters, candidate) == "pending"
    assert live_letters(letters) == [1, 2, 3, 4, 5]
    assert actions(letters) == []


def test_login_required_when_a_token_is_set(dsn: str, conn: psycopg.Connection) -> None:
    with create_app(dsn, token="s3cret").test_client() as client:
        response = client.get("/merges")
        assert response.status_code == 302 and response.location.startswith("/login")
        assert client.post("/alerts/check", data={}).status_code in (400, 401)  # no session: neither CSRF nor login
        token = csrf_token(client, "/login")
        refused = client.post("/login", data={"csrf_token": token, "token": "wrong", "next": "/merges"})
        assert refused.status_code == 403 and "Wrong token" in refused.get_data(as_text=True)
        assert client.get("/").status_code == 302
        accepted = client.post("/login", data={"csrf_token": token, "token": "s3cret", "next": "/merges"})
        assert accepted.status_code == 302 and accepted.location == "/merges"
        assert client.get("/merges").status_code == 200
        cookie = accepted.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    ((action, _target, _object, succeeded, detail),) = actions(conn)
    assert (action, succeeded, detail) == ("login_refused", False, {"reason": "wrong token"})


@pytest.mark.parametrize(
    "target",
    ["//evil.example.com/", "/\\evil.example.com", "/\\/evil.example.com", "https://evil.example.com/", "/\t/x"],
)
def test_login_redirects_only_to_this_site(dsn: str, target: str) -> None:
    with create_app(dsn, token="t").test_client() as client:
        token = csrf_token(client, "/login")
        response = client.post("/login", data={"csrf_token": token, "token": "t", "next": target})
        assert response.location == "/"


def test_a_page_the_database_refuses_shows_the_sqlstate_not_a_traceback(dsn: str, letters: psycopg.Connection) -> None:
    # the console's role may use the package but not read the letters: the review page cannot show the pair
    letters.execute("CREATE ROLE console_reader LOGIN")
    letters.execute("SELECT count(*) FROM mlops.grant_usage('console_reader')")
    queue_pairs(letters, ("3", "4", 0.7))
    try:
        with create_app(dsn.replace("postgres@", "console_reader@")).test_client() as client:
            response = client.get("/review")
    finally:
        letters.execute("DROP OWNED BY console_reader; DROP ROLE console_reader")
    page = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "permission denied for table cover_letter_samples (SQLSTATE 42501)" in page
    assert "Traceback" not in page


# ---------------------------------------------------------------- review


def test_review_merge_through_http_merges_the_pair_and_logs_it(
    client: FlaskClient, letters: psycopg.Connection
) -> None:
    (candidate,) = queue_pairs(letters, ("3", "4", 0.7))
    response = client.post(
        "/review/decide", data={"csrf_token": csrf_token(client), "candidate_id": candidate, "decision": "merge"}
    )
    assert response.status_code == 302
    merge_id = int(re.search(r"merged=(\d+)", response.location).group(1))
    assert candidate_status(letters, candidate) == "merged"
    assert letters.execute(
        "SELECT survivor_key, loser_keys FROM mlops.merges WHERE merge_id = %s", (merge_id,)
    ).fetchone()[0] in ("3", "4")
    assert 3 not in live_letters(letters) or 4 not in live_letters(letters)
    shown = client.get(response.location).get_data(as_text=True)
    assert f'href="/merges/{merge_id}"' in shown
    assert actions(letters) == [
        ("review_merge", LETTERS, str(candidate), True, {"decision": "merge", "merge_id": merge_id})
    ]


def test_review_distinct_and_skip_through_http(client: FlaskClient, letters: psycopg.Connection) -> None:
    first, second, third = queue_pairs(letters, ("3", "4", 0.7), ("1", "5", 0.65), ("2", "5", 0.6))
    token = csrf_token(client)
    assert "pair 1 of 3" in client.get("/review").get_data(as_text=True)
    client.post("/review/decide", data={"csrf_token": token, "candidate_id": first, "decision": "distinct"})
    assert "pair 2 of 3" in client.get("/review").get_data(as_text=True)
    client.post("/review/decide", data={"csrf_token": token, "candidate_id": second, "decision": "skip"})
    page = client.get("/review").get_data(as_text=True)
    assert "pair 3 of 3" in page and f'name="candidate_id" value="{third}"' in page
    assert [candidate_status(letters, c) for c in (first, second, third)] == ["distinct", "pending", "pending"]
    assert [a[0] for a in actions(letters)] == ["review_distinct"]  # a skip decides nothing


def test_review_error_is_shown_with_its_sqlstate_and_logged(client: FlaskClient, letters: psycopg.Connection) -> None:
    (candidate,) = queue_pairs(letters, ("3", "4", 0.7))
    letters.execute("UPDATE mlops.duplicate_candidates SET status = 'distinct' WHERE candidate_id = %s", (candidate,))
    response = client.post(
        "/review/decide",
        data={"csrf_token": csrf_token(client), "candidate_id": candidate, "decision": "merge"},
        follow_redirects=True,
    )
    assert "not decided" in response.get_data(as_text=True) and "SQLSTATE" in response.get_data(as_text=True)
    ((action, _target, object_id, succeeded, detail),) = actions(letters)
    assert (action, object_id, succeeded) == ("review_merge", str(candidate), False)
    assert detail["sqlstate"] and detail["message"]
    assert live_letters(letters) == [1, 2, 3, 4, 5]


# ---------------------------------------------------------------- undo


def test_undo_of_a_merge_through_http(client: FlaskClient, merged: dict, letters: psycopg.Connection) -> None:
    merge_id = merged["merge_id"]
    assert live_letters(letters) == [1, 3, 4, 5]
    confirm = client.get(f"/merges/{merge_id}/undo").get_data(as_text=True)
    assert f"Undo merge {merge_id}?" in confirm
    response = client.post(f"/merges/{merge_id}/undo", data={"csrf_token": csrf_token(client)}, follow_redirects=True)
    assert f"Merge {merge_id} undone" in response.get_data(as_text=True)
    assert live_letters(letters) == [1, 2, 3, 4, 5]
    assert letters.execute("SELECT resume_id FROM mlops.job_recommendations").fetchone() == (2,)
    assert actions(letters)[-1][:4] == ("undo_merge", LETTERS, str(merge_id), True)


def test_undo_of_an_undone_merge_shows_the_error_and_logs_it(
    client: FlaskClient, merged: dict, letters: psycopg.Connection
) -> None:
    merge_id = merged["merge_id"]
    letters.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    response = client.post(f"/merges/{merge_id}/undo", data={"csrf_token": csrf_token(client)}, follow_redirects=True)
    text = response.get_data(as_text=True)
    assert "not undone" in text and "already undone" in text and "SQLSTATE" in text
    (action, _target, _object, succeeded, detail) = actions(letters)[-1]
    assert (action, succeeded) == ("undo_merge", False) and detail["sqlstate"]


def test_undo_of_a_run_through_http(client: FlaskClient, merged: dict, letters: psycopg.Connection) -> None:
    run_id = merged["run_id"]
    confirm = client.get(f"/runs/{run_id}/undo").get_data(as_text=True)
    assert f"Undo run {run_id}?" in confirm and f'href="/merges/{merged["merge_id"]}"' in confirm
    response = client.post(f"/runs/{run_id}/undo", data={"csrf_token": csrf_token(client)})
    text = response.get_data(as_text=True)
    assert response.status_code == 200, text
    assert "1 merge(s) undone" in text
    assert live_letters(letters) == [1, 2, 3, 4, 5]
    assert actions(letters)[-1][:4] == ("undo_run", LETTERS, str(run_id), True)


# ---------------------------------------------------------------- alerts


def test_check_now_through_http_is_logged(client: FlaskClient, merged: dict, conn: psycopg.Connection) -> None:
    # a key into a rule's table added since the merge's check: the check raises its alerts
    conn.execute(
        "CREATE TABLE public.notes (id int PRIMARY KEY, letter_id bigint REFERENCES mlops.cover_letter_samples)"
    )
    response = client.post("/alerts/check", data={"csrf_token": csrf_token(client)}, follow_redirects=True)
    assert "Check done: 2 new alert(s)" in response.get_data(as_text=True)
    raised = [r[0] for r in conn.execute("SELECT alert_id FROM mlops.alerts WHERE kind LIKE 'new_fk%' ORDER BY 1")]
    (action, _target, _object, succeeded, detail) = actions(conn)[-1]
    assert (action, succeeded, sorted(detail["raised"])) == ("check_alerts", True, raised) and len(raised) == 2


def test_resolve_through_http(client: FlaskClient, conn: psycopg.Connection) -> None:
    (alert_id,) = conn.execute(
        "INSERT INTO mlops.alerts (kind, severity, target, fingerprint, message) VALUES"
        " ('run_failed', 'critical', %s::regclass, 'test', 'run 7 failed') RETURNING alert_id",
        (LETTERS,),
    ).fetchone()
    assert f"/alerts/{alert_id}/resolve" in client.get("/alerts").get_data(as_text=True)
    assert "run 7 failed" in client.get("/").get_data(as_text=True)  # the dashboard lists open alerts
    client.post(f"/alerts/{alert_id}/resolve", data={"csrf_token": csrf_token(client)})
    assert conn.execute("SELECT resolved_at IS NOT NULL FROM mlops.alerts WHERE alert_id = %s", (alert_id,)).fetchone()[
        0
    ]
    assert actions(conn)[-1][:4] == ("resolve_alert", LETTERS, str(alert_id), True)


# ---------------------------------------------------------------- serve


def test_serve_refuses_a_non_loopback_host_without_a_token(
    dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.delenv("MLOPS_DEDUP_CONSOLE_TOKEN", raising=False)
    assert runner.main(["serve", "--dsn", dsn, "--host", "0.0.0.0", "--port", "0"]) == 1
    assert "needs a login token" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.5", False),
        ("example.com", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    from mlops_dedup.webconsole.server import is_loopback

    assert is_loopback(host) is loopback


def test_without_a_login_only_loopback_host_names_are_served(dsn: str) -> None:
    # a page elsewhere that rebinds its host name to 127.0.0.1 (DNS rebinding) must not read the console
    with create_app(dsn).test_client() as client:
        assert client.get("/", headers={"Host": "evil.example.com"}).status_code == 400
        assert client.get("/", headers={"Host": "127.0.0.1:8000"}).status_code == 200
        assert client.get("/", headers={"Host": "localhost:8000"}).status_code == 200
    with create_app(dsn, token="t").test_client() as client:  # with a login, any name (behind a proxy)
        assert client.get("/", headers={"Host": "console.example.com"}).status_code == 302


def test_check_now_flashes_a_few_messages_not_all(client: FlaskClient, conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE public.big (id int PRIMARY KEY, k text)")
    conn.execute("INSERT INTO mlops.dedup_rules (target, exact_key) VALUES ('public.big', 't.k')")
    conn.execute("SELECT count(*) FROM mlops.check_alerts()")  # the table's first check: its keys recorded
    for n in range(12):
        conn.execute(f"CREATE TABLE public.ref{n} (id int PRIMARY KEY, big_id int REFERENCES public.big)")
    response = client.post("/alerts/check", data={"csrf_token": csrf_token(client)}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Check done: 24 new alert(s):" in page and "; …" in page
    assert len(response.request.headers.get("Cookie", "")) < 4000


@pytest.mark.parametrize("token", ["a", "   ", "short-token-15ch"[:15]])
def test_serve_refuses_a_weak_token_off_loopback(
    dsn: str, token: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.delenv("MLOPS_DEDUP_CONSOLE_TOKEN", raising=False)
    assert runner.main(["serve", "--dsn", dsn, "--host", "0.0.0.0", "--port", "0", "--token", token]) == 1
    err = capsys.readouterr().err
    assert ("needs at least 16" in err) or ("needs a login token" in err)


def test_logout_ends_the_session_for_good(dsn: str) -> None:
    app = create_app(dsn, token="a-long-enough-token")
    with app.test_client() as client:
        token = csrf_token(client, "/login")
        client.post("/login", data={"csrf_token": token, "token": "a-long-enough-token"})
        cookie = client.get_cookie("session").value
        assert client.get("/merges").status_code == 200
        client.post("/logout", data={"csrf_token": csrf_token(client, "/merges")})
    with app.test_client() as thief:  # the old cookie, kept by a browser or copied
        thief.set_cookie("session", cookie)
        assert thief.get("/merges").status_code == 302


def test_review_shows_a_row_merged_since_as_it_lives_now(client: FlaskClient, letters: psycopg.Connection) -> None:
    (candidate,) = queue_pairs(letters, ("3", "4", 0.7))
    letters.execute("SELECT mlops.merge_rows(%s, 5, ARRAY[4]::bigint[])", (LETTERS,))
    page = client.get("/review").get_data(as_text=True)
    assert "row 4 was merged into 5 since: shown as it lives now" in page
    assert "something else entirely" in page  # letter 5's text, shown for 4
    assert candidate_status(letters, candidate) == "pending"


def test_an_action_on_a_table_the_role_cannot_name_is_still_logged(dsn: str, letters: psycopg.Connection) -> None:
    letters.execute("CREATE SCHEMA hidden; CREATE TABLE hidden.t (id int PRIMARY KEY)")
    letters.execute("INSERT INTO mlops.dedup_rules (target, exact_key) VALUES ('hidden.t', 't.id::text')")
    (alert_id,) = letters.execute(
        "INSERT INTO mlops.alerts (kind, severity, target, fingerprint, message)"
        " VALUES ('run_failed', 'critical', 'hidden.t', 'x', 'hidden') RETURNING alert_id"
    ).fetchone()
    letters.execute("CREATE ROLE console_low LOGIN")
    letters.execute("SELECT count(*) FROM mlops.grant_usage('console_low')")
    try:
        with create_app(dsn.replace("postgres@", "console_low@")).test_client() as client:
            client.post(f"/alerts/{alert_id}/resolve", data={"csrf_token": csrf_token(client)})
        row = letters.execute(
            "SELECT action, target, succeeded, acted_by FROM mlops.console_actions ORDER BY action_id DESC LIMIT 1"
        ).fetchone()
        assert row == ("resolve_alert", None, False, "console_low")
    finally:
        letters.execute("DROP OWNED BY console_low; DROP ROLE console_low")


@pytest.mark.parametrize(
    "path", ["/merges?run=99999999999999999999", "/merges?target=a%00b", "/merges?reason=%00", "/review?target=%00",
             "/merges/99999999999999999999", "/runs/99999999999999999999/undo", "/review?target=public.nope"],
)  # fmt: skip
def test_odd_parameters_are_refused_not_a_server_error(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code in (200, 404)


@pytest.mark.parametrize("host", ["[::1]:8000", "127.0.0.2:8000", "localhost"])
def test_every_loopback_host_name_is_served_without_a_login(dsn: str, host: str) -> None:
    with create_app(dsn).test_client() as client:
        assert client.get("/", headers={"Host": host}).status_code == 200


def test_a_run_filter_in_other_digits_is_refused(client: FlaskClient, merged: dict) -> None:
    page = client.get("/merges?run=%EF%BC%91").get_data(as_text=True)  # a full-width 1
    assert "is not a run id; filter ignored" in page
