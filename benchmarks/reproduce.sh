#!/bin/sh
# Every figure of docs/performance.md in one command, from the repository root:
#
#     sh benchmarks/reproduce.sh [OUTDIR]          (default OUTDIR: benchmarks/results)
#
# Interpreters (override with these variables):
#   PY313  CPython 3.13, ideally with numpy   default: $(pyenv prefix 3.13.0)/bin/python
#   PYPY   PyPy 3.9                            default: pypy3
#   PYREF  a CPython with numpy and torch      default: python3
# MNIST_DIR: a directory with the four MNIST files for the epoch runs (default:
# where purenet looks: $PURENET_DATA, ~/.cache/purenet, downloading if allowed).
#
# Takes about 45 minutes on a quiet 2-core machine: the step benchmark (~15 min,
# all interpreters interleaved in one run), one full-MNIST lenet epoch per
# interpreter and worker count (CPython ~10 min in all), 1 against 2 worker
# processes (~15 min: fit, then purenet train with and without --augment), the
# scaling sweeps.
set -eu
OUT=${1:-benchmarks/results}
PY313=${PY313:-$(pyenv prefix 3.13.0)/bin/python}
PYPY=${PYPY:-pypy3}
PYREF=${PYREF:-python3}
mkdir -p "$OUT"
set -x
"$PY313" benchmarks/run.py --seconds 20 --rounds 4 \
    --interpreter "cpython-3.13=$PY313:purenet,purenet-manual,naive,numpy-float64,numpy-float32" \
    --interpreter "pypy-3.9=$PYPY:purenet,purenet-manual,naive" \
    --interpreter "cpython-ref=$PYREF:numpy-float64,numpy-float32,torch-float32" \
    --json "$OUT/steps.json" | tee "$OUT/steps.txt"
"$PYPY" benchmarks/epoch.py ${MNIST_DIR:+--data "$MNIST_DIR"} --workers 1,2 --json "$OUT/epoch-pypy-3.9.json"
"$PY313" benchmarks/epoch.py ${MNIST_DIR:+--data "$MNIST_DIR"} --workers 1,2 --json "$OUT/epoch-cpython-3.13.json"
"$PY313" benchmarks/workers.py --seconds 40 --rounds 5 --json "$OUT/workers-cpython-3.13.json"
"$PY313" benchmarks/workers.py --command --json "$OUT/workers-command-cpython-3.13.json"
"$PY313" benchmarks/workers.py --command --augment --json "$OUT/workers-command-augment-cpython-3.13.json"
"$PYPY" benchmarks/workers.py --batch-size 32,128 --json "$OUT/workers-pypy-3.9.json"
"$PY313" benchmarks/scaling.py --json "$OUT/scaling-cpython-3.13.json"
"$PYPY" benchmarks/scaling.py --json "$OUT/scaling-pypy-3.9.json"
"$PY313" benchmarks/primitives.py --json "$OUT/primitives-cpython-3.13.json"
"$PYREF" benchmarks/primitives.py --json "$OUT/primitives-cpython-3.11.json"
"$PYPY" benchmarks/primitives.py --json "$OUT/primitives-pypy-3.9.json"
