# mlops-dedup. `make demo` and `make test` work as the first command on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha256sum requirements.txt | cut -c1-12)

.PHONY: setup demo test lint install audit clean

setup: $(STAMP)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $@

demo: setup
	$(PY) runner.py demo

test: setup
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/sqlfluff lint sql/
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

install: setup
	@test -n "$(DSN)" || { echo "usage: make install DSN=postgresql://..." >&2; exit 2; }
	$(PY) runner.py install --dsn "$(DSN)"

audit: setup
	@test -n "$(DSN)" || { echo "usage: make audit DSN=postgresql://... [SCHEMA=mlops]" >&2; exit 2; }
	$(PY) runner.py audit --dsn "$(DSN)" $(if $(SCHEMA),--schema "$(SCHEMA)")

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
