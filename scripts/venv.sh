# Sourced by the scripts: a project virtualenv with the package, its dev tools and Meltano.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e '.[dev]' 'meltano>=4.4,<5' 2>&1 | grep -v "^WARNING: Location" || true
