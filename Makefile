# Xiaoyou: `make run` serves on the embedded defaults; `make test` runs lint and the tests.
# Both create .venv and install the pinned requirements first, so a fresh machine needs only Python 3.11 and make.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run test lint chat migrate config messages bench-webhook bench-import bench-card bench-console bench-classes bench-inquiries bench-broadcast bench-events clean help browser

help:
	@echo "make run            serve on http://127.0.0.1:$(PORT) (SQLite + embedded Redis + WeChat emulator)"
	@echo "make test           ruff, then pytest (TEST_DATABASE_URL / TEST_REDIS_URL for PostgreSQL / Redis)"
	@echo "make lint           ruff and mypy"
	@echo "make messages       bring translations/ in line with core/texts/zh.py (new texts untranslated, changed ones fuzzy)"
	@echo "make chat           talk to the running bot as WeChat would"
	@echo "make bench-webhook  webhook throughput, goodput, CPU and memory against a bare echo and WeRoBot (bench/RESULTS.md)"
	@echo "make bench-import   a 1,000,000-row roster import and search on PostgreSQL (BENCH_DATABASE_URL)"
	@echo "make bench-card     card verification throughput and latency, login latency (bench/RESULTS.md)"
	@echo "                    webhook, card: BENCH_BASELINE=REF [BENCH_ROUNDS=N] also runs the app at git revision REF (A/B)"
	@echo "make bench-console  dashboard and alumni search page render times at 1,000,000 alumni on PostgreSQL"
	@echo "make bench-classes  class cohort build, coverage and roster pages at 1,000,000 alumni on PostgreSQL"
	@echo "make bench-inquiries the help desk: matcher at 2,000 entries, webhook at 300 free-text pushes/s, inbox at 1,000,000 inquiries"
	@echo "make bench-broadcast a 1,000,000-recipient broadcast: plan + outbox rows, and the sender at 500 sends/s"
	@echo "make bench-events   2,000 check-ins a minute through card verify, 500 registrations at once for 100 places (BENCH_DATABASE_URL, BENCH_REDIS_URL)"

$(VENV)/.runtime: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	PORT=$(PORT) $(BIN)/python -m cli run --port $(PORT)

migrate: $(VENV)/.runtime
	$(BIN)/python -m cli db upgrade

config: $(VENV)/.runtime
	$(BIN)/python -m cli config show

messages: $(VENV)/.runtime
	$(BIN)/python -m cli i18n update

chat: $(VENV)/.runtime
	PORT=$(PORT) $(BIN)/python -m cli chat --emulator http://127.0.0.1:$${EMULATOR_PORT:-8950}

# The console's browser tests drive Debian's chromium (Playwright never downloads a browser; a CJK font makes a failing
# test's screenshot readable); CI runs as root.
browser:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei)

test: $(VENV)/.dev browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

bench-webhook: $(VENV)/.dev
	$(BIN)/python -m bench.webhook

bench-import: $(VENV)/.dev
	$(BIN)/python -m bench.import_bench

bench-card: $(VENV)/.dev
	$(BIN)/python -m bench.card_bench

bench-console: $(VENV)/.dev
	$(BIN)/python -m bench.console_bench

bench-classes: $(VENV)/.dev
	$(BIN)/python -m bench.classes_bench

bench-inquiries: $(VENV)/.dev
	$(BIN)/python -m bench.inquiries_bench

bench-broadcast: $(VENV)/.dev
	$(BIN)/python -m bench.broadcast_bench

bench-events: $(VENV)/.dev
	$(BIN)/python -m bench.events_bench

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache
