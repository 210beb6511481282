# gridvend: `make demo` runs the demo utility (web server, background worker, bank link and the
# terminal gateway), `make test` runs every check. Both start from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export GRIDVEND_VAR_DIR ?= $(CURDIR)/var

.PHONY: demo test install lint typecheck imports migrations-check pytest messages errors-doc openapi bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"

$(VENV)/.installed: $(BIN)/python requirements.lock pyproject.toml
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

install: $(VENV)/.installed

# The demo's own settings; a GRIDVEND_* variable already in the environment wins.
DEMO_ENV := GRIDVEND_DEMO=1 GRIDVEND_REQUIRE_ADMIN_TOTP=false \
	GRIDVEND_UTILITY_NAME="$${GRIDVEND_UTILITY_NAME:-Demo Power & Light}" \
	GRIDVEND_SMS_BACKEND="$${GRIDVEND_SMS_BACKEND:-file}" \
	GRIDVEND_PUBLIC_URL="$${GRIDVEND_PUBLIC_URL:-http://127.0.0.1:8000}"

demo: install
	$(DEMO_ENV) $(BIN)/gridvend migrate --verbosity 0
	$(DEMO_ENV) $(BIN)/gridvend demo
	$(DEMO_ENV) $(BIN)/gridvend serve --host 127.0.0.1 --port 8000 --with-worker --with-banklink --with-terminals --with-sandbox

lint: install
	$(BIN)/ruff check gridvend tests $(wildcard benchmarks/*.py)
	$(BIN)/ruff format --check gridvend tests $(wildcard benchmarks/*.py)

typecheck: install
	GRIDVEND_TESTING=1 $(BIN)/mypy gridvend tests $(wildcard benchmarks/*.py)

imports: install
	$(BIN)/lint-imports --no-cache

migrations-check: install
	GRIDVEND_TESTING=1 GRIDVEND_DATABASE_URL=sqlite:///var/makemigrations-check.sqlite3 \
		$(BIN)/gridvend makemigrations --check --dry-run

# Every test runs on SQLite, then again on PostgreSQL when GRIDVEND_TEST_POSTGRES_URL is set,
# each pass in GRIDVEND_TEST_WORKERS parallel processes (pytest-xdist; 0 runs in this process).
# Default: one per core from 2 cores up. On the 2-core machine (2026-12-01, shared with other
# work, load 5-8) two workers ran the SQLite pass in 381 s and the PostgreSQL pass in 1,670 s,
# both green; CI ran the two passes in one process in 3,640 s. Each worker has its own test
# database (test_<name>_gw0...) and var/ folder; tests marked xdist_group("name") run in one
# worker, one after another; the hostile walk is cut into shards that the workers share.
GRIDVEND_TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -ge 2 ] && echo $$n || echo 0)
PYTEST := GRIDVEND_TESTING=1 $(BIN)/pytest -n $(GRIDVEND_TEST_WORKERS) --dist loadgroup
pytest: install
	$(PYTEST)
	@if [ -n "$$GRIDVEND_TEST_POSTGRES_URL" ]; then \
		echo "== PostgreSQL pass ($$GRIDVEND_TEST_POSTGRES_URL) =="; \
		GRIDVEND_DATABASE_URL="$$GRIDVEND_TEST_POSTGRES_URL" $(PYTEST); \
	fi

test: lint typecheck imports migrations-check pytest

# Extract and compile the Arabic and Chinese catalogues (GRIDVEND_TESTING: no secret key needed).
messages: install
	cd gridvend && GRIDVEND_TESTING=1 ../$(BIN)/gridvend makemessages -l ar -l zh_Hans --no-location --no-obsolete --ignore 'sts/*' --ignore 'kernel/*'
	cd gridvend && GRIDVEND_TESTING=1 ../$(BIN)/gridvend compilemessages -l ar -l zh_Hans

# Regenerate the committed OpenAPI documents of the partner API and of the Billpay interface (a
# test fails while either is stale).
openapi: install
	GRIDVEND_TESTING=1 $(BIN)/gridvend shell -c "import json; from gridvend.api.v1 import api; open('docs/openapi.json', 'w').write(json.dumps(api.get_openapi_schema(path_prefix='/api/v1'), indent=2, sort_keys=True) + chr(10))"
	GRIDVEND_TESTING=1 $(BIN)/gridvend shell -c "import json; from gridvend.gateways.billpay.schema import document; open('docs/billpay-openapi.json', 'w').write(json.dumps(document(), indent=2, sort_keys=True) + chr(10))"

# Regenerate the error catalogue in docs/errors.md (a test fails while it is stale).
errors-doc: install
	GRIDVEND_TESTING=1 $(BIN)/gridvend shell -c "from gridvend.errors import write_catalogue_doc; write_catalogue_doc()"

bench: install
	$(BIN)/python benchmarks/sts_bench.py
	$(BIN)/python benchmarks/vend_bench.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
