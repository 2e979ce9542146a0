# Sourced by scripts/test: the real Postgres taps the pipeline tests run, each in its own
# virtualenv under .venv-taps/ (installed once, from the package registry).
# pipelinewise-tap-postgres needs Python 3.9: python3.9 on PATH, or pyenv's.
install_tap() {  # name, python, requirement
  if [ ! -x ".venv-taps/$1/bin/tap-postgres" ]; then
    "$2" -m venv ".venv-taps/$1" && ".venv-taps/$1/bin/python" -m pip install -q "$3" 2>&1 \
      | grep -v "^WARNING: Location\|DEPRECATION" || true
  fi
}
python39=""
for candidate in python3.9 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.9*/bin/python3.9; do
  # A pyenv shim answers for python3.9 even when no 3.9 is selected: ask it to run.
  if "$candidate" -c "" >/dev/null 2>&1; then python39="$candidate"; break; fi
done
if [ -n "$python39" ]; then
  install_tap pipelinewise "$python39" "pipelinewise-tap-postgres==2.1.0"
else
  echo "No Python 3.9: the pipelinewise-tap-postgres tests will not run" >&2
fi
install_tap meltanolabs .venv/bin/python "meltanolabs-tap-postgres==0.10.0"
