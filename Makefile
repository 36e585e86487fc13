# Two commands: `make run` (demo on http://127.0.0.1:5000) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export COMPANION_ASYNC_MODE ?= eventlet

.PHONY: bench-desk screenshots run test test-fast venv deps test-deps translations extract-messages update-translations vendor clean bench bench-smoke bench-appeals

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.deps: requirements.txt | $(VENV)/bin/activate
	$(PIP) install -q -r requirements.txt
	touch $@

$(VENV)/.test-deps: requirements-test.txt requirements.txt | $(VENV)/bin/activate
	$(PIP) install -q -r requirements-test.txt
	touch $@ $(VENV)/.deps

deps: $(VENV)/.deps
test-deps: $(VENV)/.test-deps

translations: $(VENV)/.deps
	$(VENV)/bin/pybabel compile -d translations >/dev/null 2>&1

# The demo's office and the official who accepts its appeals (an office sets its own: docs/configuration.md)
run: export COMPANION_OFFICE_NAME_KK ?= Астана қаласы «Сарыарқа» ауданы әкімінің аппараты
run: export COMPANION_OFFICE_NAME_RU ?= Аппарат акима района «Сарыарка» города Астаны
run: export COMPANION_OFFICE_NAME_EN ?= Office of the Akim of Saryarka District, Astana
run: export COMPANION_ACCEPTING_OFFICIAL_KK ?= Ахметова А. С.
run: export COMPANION_ACCEPTING_POSITION_KK ?= жолданымдармен жұмыс бөлімінің бас маманы
run: export COMPANION_ACCEPTING_POSITION_RU ?= главный специалист отдела по работе с обращениями
run: export COMPANION_ACCEPTING_POSITION_EN ?= chief specialist, appeals department
run: deps translations
	$(PY) -m companion init-db
	$(PY) -m companion seed-demo
	@# the channels (Telegram, WhatsApp) beside the server only when a token is set (docs/channels.md); it stops with make
	@if [ -n "$$COMPANION_TELEGRAM_TOKEN$$COMPANION_WHATSAPP_TOKEN" ]; then \
	  $(PY) -m companion channels & CHANNELS=$$!; trap "kill $$CHANNELS" EXIT INT TERM; \
	  $(PY) -m companion serve; \
	else $(PY) -m companion serve; fi

# Everything but the timing tests on $(WORKERS) parallel workers, then the timing tests alone
# (measured on this 2-core machine, 3 Dec: the parallel part 16 min on 2 workers, and no faster on 4: it is CPU-bound).
WORKERS ?= 2
test: test-deps translations
	$(PY) -m pytest -n $(WORKERS) --dist loadfile -m "not serial" $(PYTEST_ARGS) || [ $$? -eq 5 ]  # 5: none selected
	$(PY) -m pytest -m serial $(PYTEST_ARGS) || [ $$? -eq 5 ]

# The edit-test loop (1.8 minutes on this 2-core machine, 3 Dec): services, sockets, HTTP, Open311, wording and the layers, on SQLite only;
# `make test` still runs everything (PostgreSQL, Redis, Chromium, the live servers) and CI runs `make test`.
FAST = tests/test_services.py tests/test_sockets.py tests/test_http.py tests/test_appeals.py tests/test_appeals_http.py \
	tests/test_grounds_and_withdrawal_http.py tests/test_personal_data.py tests/test_talon.py tests/test_translations.py \
	tests/test_wording.py tests/test_open311.py tests/test_openapi.py tests/test_security.py tests/test_http_hardening.py \
	tests/test_architecture.py
test-fast: test-deps translations
	$(PY) -m pytest -n $(WORKERS) -q -k "not postgresql" $(FAST) $(PYTEST_ARGS)

# Refresh the README's pictures (docs/screenshots/) from the browser tests; `make test` writes them to test-artifacts/.
screenshots: test-deps translations
	COMPANION_SCREENSHOTS=$(CURDIR)/docs/screenshots $(PY) -m pytest -q tests/e2e

extract-messages: deps
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output -o translations/messages.pot . >/dev/null 2>&1

# Re-extract the messages and rewrite the catalogs from translations/source.py (fails on a missing one).
update-translations: extract-messages
	$(PY) translations/source.py

# The live desk against three Node.js peers (socket.io, socket.io on uWebSockets.js, raw ws) and across three processes through Redis (bench/results/latest.json; about 30 minutes).
bench: test-deps translations
	$(PY) bench/run.py

# The same harness with a few hundred clients (under a minute): CI runs it so the harness never rots.
# CI's smoke run writes to an ignored folder, so a clean clone stays clean
bench-smoke: test-deps translations
	$(PY) bench/run.py --smoke --out test-artifacts/bench-smoke.json
	$(PY) bench/check.py test-artifacts/bench-smoke.json

# The desk under a flood: duplicate suggestions among 10,000 questions, 1,000 arrivals in Chromium (bench/results/desk.json; 3 minutes).
bench-desk: test-deps translations
	$(PY) bench/desk.py

# A million appeals on PostgreSQL and SQLite: back-office pages and the roadmap (bench/results/appeals.json).
bench-appeals: test-deps translations
	$(PY) bench/appeals.py

vendor:
	static/vendor/refresh.sh

clean:
	rm -rf $(VENV) instance .pytest_cache
