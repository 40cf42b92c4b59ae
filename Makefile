# Every target creates or reuses .venv and installs what it needs, so a fresh clone needs only Python 3.10+.
# PyTorch goes in first from the CPU wheel, so the project's `torch` requirement installs nothing more.
# Both installs take the exact versions of constraints.txt (`CONSTRAINTS=` installs pyproject's ranges unpinned).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_SPEC ?= torch==2.13.0
CONSTRAINTS ?= constraints.txt
PIP_INSTALL := $(PY) -m pip install -q --disable-pip-version-check $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
INSPECTOR_DIR := .cache/inspector
INSPECTOR_STAMP := $(INSPECTOR_DIR)/.installed
CLAUDE_DIR := .cache/claude-code
CLAUDE_STAMP := $(CLAUDE_DIR)/.installed
NODE_PACKAGE := node-$(shell uname -s | tr A-Z a-z)-$(shell uname -m | sed 's/x86_64/x64/;s/aarch64/arm64/')@22
PYTEST_ARGS ?=

.PHONY: demo test test-slow test-all lint format bench inspector claude-cli constraints clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) $(TORCH_SPEC)
	$(PIP_INSTALL) -e '.[dev]'
	touch $(STAMP)

# Pin what .venv holds now (after an upgrade the tests passed on): pip freeze less the project, with local version
# labels such as +cpu dropped so the pins resolve from PyPI too. The header is kept.
constraints:
	test -x $(PY) || (echo "no $(VENV): run make test first"; exit 1)
	{ grep '^#' constraints.txt; $(PY) -m pip freeze --exclude-editable --disable-pip-version-check \
		| sed -E 's/\+[A-Za-z0-9.]+$$//'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

# The MCP Inspector (npm) is the independent client the tests check the server against; it needs Node 22,
# which the npm registry ships as a package, so nothing depends on the machine's own node.
$(INSPECTOR_STAMP):
	mkdir -p $(INSPECTOR_DIR)
	cd $(INSPECTOR_DIR) && npm install --silent --no-audit --no-fund --no-save \
		$(NODE_PACKAGE) @modelcontextprotocol/inspector@2.12.0 > npm-install.log 2>&1 \
		|| (cat npm-install.log; echo "npm install of the MCP Inspector failed; tests that need it will fail"; exit 1)
	touch $(INSPECTOR_STAMP)

inspector: $(INSPECTOR_STAMP)

# Claude Code's CLI checks the plugin offline (`claude plugin validate`, `claude plugin eval` up to its first model
# call); the npm package carries a native binary, so it needs no particular node.
$(CLAUDE_STAMP):
	mkdir -p $(CLAUDE_DIR)
	cd $(CLAUDE_DIR) && npm install --silent --no-audit --no-fund --no-save @anthropic-ai/claude-code@2.1.332 \
		> npm-install.log 2>&1 \
		|| (cat npm-install.log; echo "npm install of Claude Code failed; the plugin tests that need it will fail"; exit 1)
	touch $(CLAUDE_STAMP)

claude-cli: $(CLAUDE_STAMP)

demo: $(STAMP)
	$(VENV)/bin/diffusers-integrator demo

test: $(STAMP) $(INSPECTOR_STAMP) $(CLAUDE_STAMP)
	$(PY) -m pytest -m "not slow" -q $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(PY) -m pytest -m slow -q $(PYTEST_ARGS)

test-all: $(STAMP) $(INSPECTOR_STAMP) $(CLAUDE_STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/diffusers-integrator docs --check
	$(VENV)/bin/diffusers-integrator skills check
	$(VENV)/bin/diffusers-integrator agent plugin --check
	$(VENV)/bin/diffusers-integrator eval export-plugin --check

format: $(STAMP)
	$(VENV)/bin/ruff check --fix src tests benchmarks
	$(VENV)/bin/ruff format src tests benchmarks

# Every benchmarks/*.py runs, even after one misses its target; then a table of each one's verdict lines. Fails
# when any script failed. BENCH="startup register" runs only those.
BENCH ?=
bench: $(STAMP)
	$(PY) benchmarks/support/run_all.py $(BENCH)

clean:
	rm -rf $(VENV) .cache build dist .pytest_cache .ruff_cache
