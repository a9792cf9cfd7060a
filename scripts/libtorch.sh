#!/usr/bin/env bash
# Makes a libtorch for the build and prints the environment that points tch at it.
# Order of preference: $LIBTORCH (a libtorch you installed), an active virtual
# environment with torch 2.11.0, else PyPI's torch==2.11.0 in a venv under
# ${SOLON_CACHE:-~/.cache/solon}, created once and reused by every clone and CI run.
# Usage: eval "$(scripts/libtorch.sh)"   (prints `export ...` lines; progress goes to stderr)
set -euo pipefail
want=2.11.0
if [ -n "${LIBTORCH:-}" ]; then
  [ -d "$LIBTORCH/lib" ] || { echo "LIBTORCH=$LIBTORCH has no lib/ directory: point it at an unpacked libtorch $want" >&2; exit 2; }
  echo "export LIBTORCH='$LIBTORCH'"
  exit 0
fi
version_of() { "$1" -c 'import torch,sys; sys.stdout.write(torch.__version__.split("+")[0])' 2>/dev/null || true; }
if [ -n "${VIRTUAL_ENV:-}" ] && [ "$(version_of "$VIRTUAL_ENV/bin/python")" = "$want" ]; then
  venv=$VIRTUAL_ENV
else
  venv=${SOLON_CACHE:-$HOME/.cache/solon}/venv
  if [ "$(version_of "$venv/bin/python")" != "$want" ]; then
    echo "solon: installing PyPI torch==$want into $venv (once; about 5 GB, a minute or two)" >&2
    python3 -m venv "$venv" >&2
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "torch==$want" >&2
    [ "$(version_of "$venv/bin/python")" = "$want" ] || { echo "torch $want did not import from $venv" >&2; exit 2; }
  fi
fi
echo "export VIRTUAL_ENV='$venv'"
echo "export PATH='$venv/bin':\"\$PATH\""
echo "export LIBTORCH_USE_PYTORCH=1"
