# mlops-dedup. `make demo` and `make test` work as the first command on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha256sum requirements.txt | cut -c1-12)
# The record-linkage benchmark's own environment: Splink, DuckDB, recordlinkage stay out of requirements.txt.
LINKAGE_VENV := .venv-linkage
LINKAGE_PY := $(LINKAGE_VENV)/bin/python
LINKAGE_STAMP := $(LINKAGE_VENV)/.installed-$(shell cat requirements.txt bench/requirements-linkage.txt | sha256sum | cut -c1-12)

.PHONY: setup browser demo test lint install audit merge review stats grant serve screenshots bench bench-linkage airflow clean

setup: $(STAMP)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $@

demo: setup
	$(PY) runner.py demo $(if $(KEEP),--keep)

# The web console's browser tests drive Debian's chromium (Playwright downloads no browser): as root this installs it.
browser:
	@test -x /usr/bin/chromium || { \
	    if [ "$$(id -u)" = 0 ]; then \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	    else \
	        echo "the browser tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 2; \
	    fi; }

test: setup browser airflow
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/sqlfluff lint mlops_dedup/sql/
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

install: setup
	@test -n "$(DSN)" || { echo "usage: make install DSN=postgresql://... [PLATFORM=1]" >&2; exit 2; }
	$(PY) runner.py install --dsn "$(DSN)" $(if $(PLATFORM),--platform)

audit: setup
	@test -n "$(DSN)" || { echo "usage: make audit DSN=postgresql://... [SCHEMA=mlops]" >&2; exit 2; }
	$(PY) runner.py audit --dsn "$(DSN)" $(if $(SCHEMA),--schema "$(SCHEMA)")

merge: setup
	@test -n "$(DSN)" || { echo "usage: make merge DSN=postgresql://... [TARGET=mlops.cover_letter_samples] [DRY_RUN=1]" >&2; exit 2; }
	$(PY) runner.py merge --dsn "$(DSN)" $(if $(TARGET),--target "$(TARGET)") $(if $(DRY_RUN),--dry-run)

review: setup
	@test -n "$(DSN)" || { echo "usage: make review DSN=postgresql://... [TARGET=...]" >&2; exit 2; }
	$(PY) runner.py review --dsn "$(DSN)" $(if $(TARGET),--target "$(TARGET)")

stats: setup
	@test -n "$(DSN)" || { echo "usage: make stats DSN=postgresql://..." >&2; exit 2; }
	$(PY) runner.py stats --dsn "$(DSN)"

grant: setup
	@test -n "$(DSN)" -a -n "$(ROLE)" || { echo "usage: make grant DSN=postgresql://... ROLE=name [RULE_WRITER=1] [REVOKE=1]" >&2; exit 2; }
	$(PY) runner.py grant --dsn "$(DSN)" "$(ROLE)" $(if $(RULE_WRITER),--rule-writer) $(if $(REVOKE),--revoke)

# The web console; without DSN on an embedded throwaway server with the demo's data. HOST other than 127.0.0.1 needs
# TOKEN (or MLOPS_DEDUP_CONSOLE_TOKEN).
serve: setup
	$(PY) runner.py serve $(if $(DSN),--dsn "$(DSN)") $(if $(HOST),--host "$(HOST)") $(if $(PORT),--port "$(PORT)") $(if $(TOKEN),--token "$(TOKEN)")

# docs/review.png and docs/dashboard.png from the console on the demo's data (Playwright, Debian's chromium).
screenshots: setup
	$(PY) docs/screenshots.py

bench: setup
	$(PY) bench/merge.py
	$(PY) bench/merge_keys.py
	$(PY) bench/detect.py
	$(PY) bench/pipeline.py
	$(PY) bench/steady.py
	$(PY) bench/snapshots.py
	$(PY) bench/second_table.py

$(LINKAGE_STAMP): requirements.txt bench/requirements-linkage.txt
	test -x $(LINKAGE_PY) || $(PYTHON) -m venv $(LINKAGE_VENV)
	$(LINKAGE_PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r bench/requirements-linkage.txt
	rm -f $(LINKAGE_VENV)/.installed-* && touch $@

# Febrl 1-3: ours (learned model, one expression) beside Splink 5; ARGS="--only splink,expression --datasets 3"
bench-linkage: $(LINKAGE_STAMP)
	$(LINKAGE_PY) bench/linkage.py $(ARGS)

# --- Airflow (issue 14): the example DAG's own environment, .venv-airflow: Airflow and its Postgres provider
# (examples/airflow/requirements.txt, rebuilt when that file changes) and this package, `pip install .`, installed
# again whenever a file of the package changes. tests/test_airflow_dag.py runs the DAG in it; `make test` builds it.
AIRFLOW_VENV := .venv-airflow
AIRFLOW_PY := $(AIRFLOW_VENV)/bin/python
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed-$(shell sha256sum examples/airflow/requirements.txt | cut -c1-12)
AIRFLOW_PACKAGE_STAMP := $(AIRFLOW_VENV)/.package
AIRFLOW_PACKAGE_FILES := pyproject.toml $(shell git ls-files mlops_dedup 2>/dev/null)

airflow: $(AIRFLOW_PACKAGE_STAMP)

$(AIRFLOW_STAMP): examples/airflow/requirements.txt
	test -x $(AIRFLOW_PY) || $(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_PY) -m pip install --quiet --disable-pip-version-check -r examples/airflow/requirements.txt
	rm -f $(AIRFLOW_VENV)/.installed-* $(AIRFLOW_PACKAGE_STAMP) && touch $@

$(AIRFLOW_PACKAGE_STAMP): $(AIRFLOW_STAMP) $(AIRFLOW_PACKAGE_FILES)
	$(AIRFLOW_PY) -m pip uninstall --quiet --yes mlops-dedup
	$(AIRFLOW_PY) -m pip install --quiet --disable-pip-version-check .
	$(AIRFLOW_PY) -m pip check --disable-pip-version-check
	touch $@
# --- end Airflow

clean:
	rm -rf $(VENV) $(LINKAGE_VENV) $(AIRFLOW_VENV) .pytest_cache .ruff_cache
