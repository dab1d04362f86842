#!/usr/bin/env bash
# Regenerates every golden fixture (test/fixtures/goldens/*.json), or with --check regenerates them
# into a temporary folder and compares byte for byte with the committed ones.
# PYTHON names the interpreter of a venv with requirements.txt installed (default: python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-python3}"
if [ "${1:-}" = "--check" ]; then
  out="$(mktemp -d)"
  export GOLDENS_OUT="$out"
fi
"$PYTHON" scripts/goldens/problems.py
if [ -n "${GOLDENS_OUT:-}" ]; then
  # the frameworks must run on the committed problems, so check those first
  cmp "$GOLDENS_OUT/problems.json" test/fixtures/goldens/problems.json
fi
"$PYTHON" scripts/goldens/optax_goldens.py
"$PYTHON" scripts/goldens/optax_linesearch_goldens.py
"$PYTHON" scripts/goldens/optax_modern_goldens.py
"$PYTHON" scripts/goldens/optax_factored_goldens.py
"$PYTHON" scripts/goldens/optax_muon_goldens.py
"$PYTHON" scripts/goldens/optax_parameter_free_goldens.py
"$PYTHON" scripts/goldens/optax_contrib_goldens.py
"$PYTHON" scripts/goldens/optax_gradients_goldens.py
"$PYTHON" scripts/goldens/optax_wrappers_goldens.py
"$PYTHON" scripts/goldens/optax_schedules_goldens.py
"$PYTHON" scripts/goldens/pytorch_goldens.py
"$PYTHON" scripts/goldens/keras_goldens.py
"$PYTHON" scripts/goldens/pytorch_asgd_goldens.py
"$PYTHON" scripts/goldens/keras_ftrl_goldens.py
node scripts/goldens/tfjs_goldens.mjs
if [ -n "${GOLDENS_OUT:-}" ]; then
  status=0
  for f in problems optax optax-linesearch optax-modern optax-factored objective-factored optax-muon matrices-muon pytorch-muon \
    optax-parameter-free objective-parameter-free optax-contrib objective-contrib gradients-optax wrappers-optax schedules-optax \
    pytorch keras pytorch-asgd keras-ftrl tfjs; do
    if cmp -s "$GOLDENS_OUT/$f.json" "test/fixtures/goldens/$f.json"; then echo "$f.json: identical"; else echo "$f.json: DIFFERS"; status=1; fi
  done
  rm -rf "$GOLDENS_OUT"
  exit $status
fi
