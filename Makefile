# Waybill: `make run` to try it, `make test` to check it.
#
# make run   SQLite + in-process tasks (config.settings.dev), demo data, http://127.0.0.1:8000
#            With DATABASE_URL and REDIS_URL set: web + Celery worker + beat (Procfile, via honcho); a worker or
#            beat that dies is started again by its restart loop in the Procfile, the web server stays up.
#            PROCFILE=Procfile.queues: one worker per Celery queue instead of one for all (docs/scaling.md).
# make test  the test suite (PostgreSQL when DATABASE_URL is set or 127.0.0.1:5432 answers, else SQLite)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000
PROCFILE ?= Procfile
URL := http://127.0.0.1:$(PORT)
# links in the demo's emails follow the port it serves on
export WAYBILL_SITE_URL ?= $(URL)

.PHONY: run test install lint bench migrate seed clean assets screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

# Demo data, added once: a database that already has orders is kept as it is.
seed: migrate
	$(PY) manage.py seed_demo
	$(PY) manage.py analytics_rebuild

run: seed assets
	@$(PY) manage.py collectstatic --noinput --verbosity 0
	@echo
	@echo "Waybill is starting on $(URL)"
	@echo "  admin     $(URL)/admin/          (staff: admin, warehouse, support)"
	@echo "  portal    $(URL)/orders/         (customers: customer)"
	@echo "  tracking  $(URL)/track/"
	@echo "  API docs  $(URL)/api/docs/"
	@echo "  schema    $(URL)/api/schema/"
	@echo "Sign in with a demo login above. Stop with Ctrl+C."
	@echo
ifneq ($(and $(DATABASE_URL),$(REDIS_URL)),)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" DJANGO_SETTINGS_MODULE=config.settings.dev \
		$(VENV)/bin/honcho start --procfile $(PROCFILE) --port $(PORT)
else
	$(PY) manage.py runserver 127.0.0.1:$(PORT)
endif

test: $(STAMP) assets
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Chart.js for the benchmark's report and htmx for the support workspace: from npm, pinned by package-lock.json.
# Without npm every page still works (htmx only saves reloads); the benchmark report needs Chart.js.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

assets:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory node_modules/.package-lock.json; \
	else echo "npm not found: pages work without htmx's partial updates"; fi

bench: $(STAMP) node_modules/.package-lock.json
	$(PY) -m bench $(BENCH_ARGS)

# The README's pictures of the phone story, taken by the browser tests (tests/e2e) and copied to docs/screenshots.
SHOTS := portal-order portal-report-phone portal-replacement support-ticket admin-return-page admin-pack-serials
screenshots: $(STAMP) assets
	$(PY) -m pytest tests/e2e -q
	@for shot in $(SHOTS); do cp var/test-artifacts/waybill-$$shot.png docs/screenshots/$$shot.png; done

clean:
	rm -rf $(VENV) db.sqlite3 test.sqlite3 staticfiles celerybeat-schedule*
