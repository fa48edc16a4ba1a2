# Two commands set up a fresh machine:  `make demo`  and  `make test`.
# Both create .venv with Python >= 3.12 (pyenv's .python-version selects 3.12) and install the package.
SHELL := /bin/bash
VENV := .venv
STAMP := $(VENV)/.installed
PY := $(VENV)/bin/python

$(STAMP): pyproject.toml
	@py=""; for c in python3.12 python3.13 python3.14 python3; do \
	  if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then py=$$c; break; fi; \
	done; \
	if [ -z "$$py" ]; then echo "error: Python >= 3.12 not found (install it, e.g. 'pyenv install 3.12')" >&2; exit 2; fi; \
	echo "using $$($$py --version) at $$(command -v $$py)"; \
	$$py -m venv $(VENV) && $(PY) -m pip install -q --upgrade pip && $(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

.PHONY: install demo test
install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/bayes-scaling demo

# two pytest-xdist workers, whole files each (module-scoped fits built once); benchmarks/README.md "pytest-xdist"
test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile
