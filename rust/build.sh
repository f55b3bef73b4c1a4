#!/usr/bin/env bash
# Build the optional compiled engine (dirsrvbeat_fast) and install it into the project venv.
# Idempotent: installs maturin into the venv if missing, then (re)builds and installs.
# usage: rust/build.sh [--venv PATH]   (default: the repository's .venv)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${here}/../.venv"
if [ "${1:-}" = "--venv" ]; then venv="$2"; fi
py="${venv}/bin/python"
[ -x "$py" ] || { echo "build.sh: no python at $py" >&2; exit 1; }
command -v cargo >/dev/null || [ -x "${HOME}/.cargo/bin/cargo" ] || { echo "build.sh: cargo not found" >&2; exit 1; }
export PATH="${HOME}/.cargo/bin:${PATH}"
if ! "$py" -m maturin --version >/dev/null 2>&1; then
    "$py" -m pip install -q "maturin>=1.5,<2"
fi
cd "$here"
# a wheel, then pip: works without `maturin develop`'s virtualenv detection (CI, plain venvs)
rm -rf target/wheels
"$py" -m maturin build --release --quiet -i "$py" --out target/wheels
"$py" -m pip install -q --force-reinstall --no-deps target/wheels/dirsrvbeat_fast-*.whl
"$py" -c "import dirsrvbeat_fast; print('dirsrvbeat_fast', dirsrvbeat_fast.__version__, 'installed')"
