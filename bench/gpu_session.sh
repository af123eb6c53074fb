#!/usr/bin/env bash
# Issue 7's real-GPU checks as ONE command for a lent device machine (about 9 minutes at most:
# device time is scarce, so every step has its own time limit and the script goes on past a
# failing step). Through the device tool, from the repository root:
#
#     bash bench/gpu_session.sh          (timeout_s 600; logs and a summary land in $OUT)
#
# Steps: versions and the device; the GPU-marked tests; bench/gpu_smoke.py (every fused-group
# kind and the optimizer/LSTM library ops, checked against the CPU backend) plain and under
# compute-sanitizer memcheck and racecheck; a slice of the torch parity suite with
# LAZYFLOW_TEST_DEVICE=cuda; bench/bench_gpu.py (bandwidth vs a device copy, fused vs unfused
# CuPy, training steps vs torch CUDA). The machine's python3 has CuPy, torch and pytest; the
# working tree runs from PYTHONPATH, nothing is installed.
set -u
OUT=${OUT:-/tmp/lazyflow-gpu-session}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
: > "$OUT/summary.txt"

step() {  # step NAME SECONDS COMMAND...: run with a limit, log to $OUT/NAME.log, note the status
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    echo "$name: rc=$rc in $((SECONDS - t0)) s" | tee -a "$OUT/summary.txt"
    tail -n 12 "$OUT/$name.log"
}

step env 30 "$PY" -c "
import cupy, numpy, torch, lazyflow as lf
print('cupy', cupy.__version__, 'numpy', numpy.__version__, 'torch', torch.__version__)
print('lazyflow sees cuda:', lf.cuda.is_available(), 'devices:', lf.cuda.device_count())
if cupy.cuda.is_available():
    print(cupy.cuda.runtime.getDeviceProperties(0)['name'].decode())
"
step gpu_tests 60 "$PY" -m pytest -q -m gpu tests/test_cuda_gpu.py
step smoke 45 "$PY" bench/gpu_smoke.py
if command -v compute-sanitizer > /dev/null; then
    step memcheck 90 compute-sanitizer --tool memcheck --error-exitcode 3 "$PY" bench/gpu_smoke.py
    step racecheck 90 compute-sanitizer --tool racecheck --error-exitcode 3 "$PY" bench/gpu_smoke.py
else
    echo "memcheck/racecheck: compute-sanitizer not on PATH" | tee -a "$OUT/summary.txt"
fi
step parity_cuda 150 env LAZYFLOW_TEST_DEVICE=cuda "$PY" -m pytest -q -n 8 \
    tests/test_core_math.py tests/test_core_reduce.py tests/test_core_shape.py \
    tests/test_autograd_ops.py tests/test_optim_optimizers.py
step bench_gpu 90 "$PY" bench/bench_gpu.py --repeats 10
cat "$OUT/summary.txt"
