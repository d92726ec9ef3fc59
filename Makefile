# sheets: `make pdf` and `make test` do all the set-up on a fresh machine.
# A virtual environment in .venv, the JavaScript parts (MathJax, mermaid) in node_modules,
# and the system programs (Chromium, Noto CJK) via scripts/ensure-system-deps.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHEETS_SRC := $(wildcard sheets/*.md)
OUT ?= build
SHEET ?= $(firstword $(SHEETS_SRC))

.PHONY: all pdf html check preview test bench system-deps test-deps lint clean

all: pdf

$(BIN)/sheets: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# node starts MathJax from a V8 start-up snapshot (builder/typeset.py; ~0.3 s less per
# build): made here, at set-up, rather than by the first build that needs it.
node_modules/.snapshot: node_modules/.installed builder/js/typeset.cjs builder/js/snapshot.cjs $(BIN)/sheets
	$(BIN)/python -c "from builder.render.snapshot import prepare_snapshot; prepare_snapshot()"
	touch $@

# Marp CLI, the reference tool: the benches time it and the theme tests print through it.
# Puppeteer's own browser download is skipped (it cannot work here); it drives our Chromium.
bench/node_modules/.installed: bench/package.json bench/package-lock.json
	cd bench && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
	touch $@

system-deps:
	@scripts/ensure-system-deps

test-deps:
	@scripts/ensure-system-deps --test

pdf: $(BIN)/sheets node_modules/.snapshot system-deps
	$(BIN)/sheets build $(SHEETS_SRC) --to pdf -o $(OUT)

html: $(BIN)/sheets node_modules/.snapshot
	$(BIN)/sheets build $(SHEETS_SRC) --to html -o $(OUT)

check: $(BIN)/sheets
	$(BIN)/sheets check $(SHEETS_SRC)

preview: $(BIN)/sheets node_modules/.snapshot
	$(BIN)/sheets preview $(SHEET)

# pytest exits 5 when it collected nothing; make treats that as the failure it is.
test: lint node_modules/.snapshot bench/node_modules/.installed test-deps
	$(BIN)/python -m pytest tests
# ...and the sheets' own cards (builder/pytest_plugin.py): a wrong formula fails CI at its line.
	$(if $(SHEETS_SRC),$(BIN)/python -m pytest sheets/)

bench: $(BIN)/sheets node_modules/.snapshot bench/node_modules/.installed system-deps
	$(BIN)/python bench/run.py

# Part of `make test`: ruff (the rules in pyproject.toml), mypy --strict on the code and
# its tests, and the stages' layering (import-linter's contract in pyproject.toml).
lint: $(BIN)/sheets
	$(BIN)/ruff check builder tests bench scripts
	$(BIN)/mypy builder tests
	$(BIN)/lint-imports --no-cache

clean:
	rm -rf $(OUT) .cache
