"""mlops.normalize_url's short path for the common shape of URL gives what its general parse gives."""

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SOURCE = Path(__file__).resolve().parent.parent / "mlops_dedup" / "sql" / "functions" / "normalize_url.sql"
SHORT_PATH_TEST = "IF p_url !~ "


def general_parse_only() -> str:
    """normalize_url as pg_temp.normalize_url_general, its short path switched off."""
    text = SOURCE.read_text()
    body = text[: text.index("\n$$;\n") + len("\n$$;\n")]
    assert body.count("CREATE OR REPLACE FUNCTION mlops.normalize_url(") == 1
    assert body.count(SHORT_PATH_TEST) == 1
    return body.replace(
        "CREATE OR REPLACE FUNCTION mlops.normalize_url(", "CREATE FUNCTION pg_temp.normalize_url_general("
    ).replace(SHORT_PATH_TEST, "IF false AND p_url !~ ")


@pytest.fixture
def both(locale_dsn: str) -> Iterator[psycopg.Connection]:
    """A connection (UTF-8 and C locale) with the general parse alone beside the function."""
    with psycopg.connect(locale_dsn, autocommit=True) as connection:
        connection.execute(general_parse_only())
        yield connection


def disagreements(conn: psycopg.Connection, urls: list[str]) -> list[tuple[str, str, str]]:
    return conn.execute(
        "SELECT u, mlops.normalize_url(u), pg_temp.normalize_url_general(u) FROM unnest(%s::text[]) AS u"
        " WHERE mlops.normalize_url(u) IS DISTINCT FROM pg_temp.normalize_url_general(u)",
        (urls,),
    ).fetchall()


# the short path's border: what it takes, and its near misses that the general parse must take
BORDER = [
    "https://example.com/jobs/1",
    "HTTPS://WWW.Example.COM:0443/Jobs/1/?b=2&a=1&utm_source=x#top",
    "http://www.www.example.com:80/a/",
    "http://www.com/a",
    "https://example.com",
    "https://example.com/",
    "https://example.com?",
    "https://example.com#",
    "https://example.com/#/",
    "https://example.com/#!/",
    "https://example.com/#!",
    "https://example.com/#/jobs/1//",
    "https://example.com:/a",
    "https://example.com:8080",
    "https://example.com:80",
    "http://example.com:443",
    "https://example.com:x/a",
    "https://example.com:1:2/a",
    "https://.example.com./a",
    "https://a..b/c",
    "https://./a",
    "https:///a",
    "https:////a",
    "https://example.com//a",
    "https://example.com/a//",
    "https://example.com/./a",
    "https://example.com/a/..",
    "https://example.com/a?next=/.x",
    "https://example.com/a;jsessionid=1",
    "https://u@example.com/a",
    "https://example.com/a?q=a@b",
    "https://Bücher.example/ä?Ä=1",
    "https://example.com/a?utm_=1&UTM_x=2&Ref=3&ref&fbclid",
    "https://example.com/a?a=&b=&=c&&",
    "httpx://example.com/a",
    "http:/example.com/a",
    "ftp://example.com:21/a",
    "https://example.com/a?" + "&".join(f"p{i}=1" for i in range(40, 0, -1)),
]


def test_short_path_agrees_with_the_general_parse_at_its_border(both: psycopg.Connection) -> None:
    assert disagreements(both, BORDER) == []


SCHEMES = ["http://", "https://", "HTTPS://", "hTtP://", "http:/", "https:///", "ws://", "ftp://", "", "//"]
LABELS = ["example", "WWW", "www", "a-b", "xn--p1ai", "192", "", "Ü", "K", "İ", "com"]
PORTS = ["", ":", ":80", ":443", ":0443", ":8080", ":x", ":80:1", ":00"]
SEGMENTS = ["a", "A", ".", "..", ".x", "", "a;b", "b%2f", "공", "index.html", "x y", "a@b", "Ä"]
PARAMS = ["a=1", "b=", "", "utm_x=1", "UTM_y", "FBCLID=2", "ref", "c=d=e", "q=%20x", "x+y", "İD=1", "B=0", "a=0"]
FRAGMENTS = ["", "#", "#top", "#/", "#/jobs/1/", "#!", "#!/x", "##", "#/a b"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    urls=st.lists(
        st.tuples(
            st.sampled_from(SCHEMES),
            st.lists(st.sampled_from(LABELS), min_size=1, max_size=4).map(".".join),
            st.sampled_from(PORTS),
            st.lists(st.sampled_from(SEGMENTS), max_size=4).map(lambda s: "".join("/" + x for x in s)),
            st.one_of(st.just(""), st.lists(st.sampled_from(PARAMS), max_size=5).map(lambda p: "?" + "&".join(p))),
            st.sampled_from(FRAGMENTS),
        ).map("".join),
        min_size=1,
        max_size=40,
    )
)
def test_short_path_agrees_with_the_general_parse(both: psycopg.Connection, urls: list[str]) -> None:
    assert disagreements(both, urls) == []
