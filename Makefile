# Two commands: `make run` (execute every notebook, collect results) and `make test`; to read:
# `make lab` (JupyterLab on the notebooks) and `make book` (a static HTML book of the committed notebooks).
# All create .venv on first use and reuse it afterwards.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
# The stamp changes whenever the dependency files change, so the venv is refreshed then.
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
export TQDM_DISABLE ?=
export PYTHONHASHSEED := 0

.PHONY: setup run test unit notebooks-smoke nbval bench data clean lab book test-book notebooks

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

run: setup                      ## execute every notebook at its defaults, write results/
	$(PY) -m companion run

lab: setup                      ## JupyterLab on notebooks/ with the project's kernel (127.0.0.1)
	$(PY) -m companion lab

book: setup                     ## static HTML book of the committed notebooks -> results/book/index.html
	$(PY) -m companion book

test-book: book                 ## the book just built, and JupyterLab, tested in headless Chromium
	COMPANION_BOOK=results/book TQDM_DISABLE=1 $(PY) -m pytest tests/book

notebooks: setup                ## re-execute every committed notebook in place (refuses on a busy machine)
	TQDM_DISABLE=1 $(PY) -m companion notebooks

test: setup                     ## unit tests, papermill smoke runs, nbval on committed outputs
	TQDM_DISABLE=1 $(PY) -m pytest tests
	TQDM_DISABLE=1 $(PY) -m pytest --nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg notebooks

unit: setup
	TQDM_DISABLE=1 $(PY) -m pytest tests -m "not notebook"

bench: setup                    ## speed and size figures -> results/bench/<topic>.json
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

data: setup                     ## rebuild data/fashion-mnist-mini from the full Fashion-MNIST
	$(PY) -m companion data build-mini

clean:
	rm -rf results .cache build
