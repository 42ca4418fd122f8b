"""The embedded server: runs as a non-root OS user even when we are root; clear error without binaries."""

import os
import pwd

import pytest
import testing.postgresql

import runner


def test_embedded_server_never_runs_as_root(server: runner.EmbeddedPostgresql) -> None:
    owner = pwd.getpwuid(os.stat(f"/proc/{server.server_pid}").st_uid).pw_name
    expected = runner.SERVER_USER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    assert owner == expected


def test_missing_server_binaries_name_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(testing.postgresql, "SEARCH_PATHS", [])
    with pytest.raises(runner.RunnerError, match="apt-get install postgresql-15"):
        runner.EmbeddedPostgresql()
