#!/usr/bin/env bash
# torch_act — one-shot check of the CUDA backend on a lent GPU box.
#
# Builds in place (TORCH_CUDA_ARCH_LIST defaults to 9.0 here: one arch builds
# fast), runs tests/test_cuda.py, compute-sanitizer memcheck and racecheck on
# scripts/cuda_sanitize.py, then benchmarks/bench_cuda.py --quick.  Every step
# has a time limit and the whole run stays within ~8 minutes (BUDGET seconds);
# a step that fails or times out does not stop the later ones.  Logs go to
# $OUT (default ./gpu_check_out); the last thing printed is a summary table.
#
#   OUT=/some/dir scripts/gpu_check.sh
# Environment: OUT, PYTHON (default python3), BUDGET (default 470 s),
# TORCH_CUDA_ARCH_LIST (default 9.0), MAX_JOBS (default: CPU count).
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/gpu_check_out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
BUDGET=${BUDGET:-470}
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
export MAX_JOBS=${MAX_JOBS:-$(nproc)}
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
SANITIZER=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
START=$SECONDS
declare -a SUMMARY

# run_step NAME LIMIT LOG CMD...: runs CMD with a time limit (capped by what is
# left of BUDGET), output to LOG; records status and seconds.
run_step() {
  local name=$1 limit=$2 log=$3
  shift 3
  local left=$((BUDGET - (SECONDS - START)))
  ((left < limit)) && limit=$left
  if ((limit < 10)); then
    SUMMARY+=("$name|skipped|0|no time left")
    return
  fi
  echo "== $name (limit ${limit}s) -> $log"
  local t0=$SECONDS
  timeout --signal=INT --kill-after=15 "$limit" "$@" >"$log" 2>&1
  local rc=$?
  local dt=$((SECONDS - t0)) status=ok
  ((rc == 124 || rc == 137)) && status=timeout
  ((rc != 0 && rc != 124 && rc != 137)) && status="fail(rc=$rc)"
  SUMMARY+=("$name|$status|$dt|$(step_detail "$name" "$log")")
}

step_detail() {
  case $1 in
    build) grep -m1 -E "error" "$2" | cut -c1-60 ;;
    tests) tail -1 "$2" | sed 's/=//g' | cut -c1-70 ;;
    memcheck|racecheck) grep -m1 -E "ERROR SUMMARY|RACECHECK SUMMARY|FAILED|all checks passed" "$2" | cut -c1-70 ;;
    bench) grep -m1 -E "^\(" "$2" ;;
  esac
}

{
  date
  nvidia-smi 2>&1
  "$PY" -c "import torch, sys; print(sys.version); print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())" 2>&1
  "$SANITIZER" --version 2>&1 | tail -1
} >"$OUT/env.txt"

run_step build 240 "$OUT/build.log" "$PY" setup.py build_ext --inplace
"$PY" -c "import torch, torch_act; print(torch_act.__file__); print(torch._C._dispatch_dump('torch_act::linear_act'))" \
  >>"$OUT/build.log" 2>&1

"$PY" -c "import pytest" 2>/dev/null || echo "gpu_check: pytest is not installed for $PY; the tests step will fail" >&2
run_step tests 150 "$OUT/tests.log" "$PY" -m pytest tests/test_cuda.py -q -rfE -p no:cacheprovider \
  --durations=15 --junitxml="$OUT/tests_junit.xml"

# One cudaMalloc per tensor so that memcheck sees each allocation's bounds.
run_step memcheck 75 "$OUT/memcheck.log" env PYTORCH_NO_CUDA_MEMORY_CACHING=1 \
  "$SANITIZER" --tool memcheck --error-exitcode 99 --print-limit 30 "$PY" scripts/cuda_sanitize.py --quick
run_step racecheck 75 "$OUT/racecheck.log" \
  "$SANITIZER" --tool racecheck --error-exitcode 99 --print-limit 30 "$PY" scripts/cuda_sanitize.py --quick

run_step bench 200 "$OUT/bench.log" "$PY" benchmarks/bench_cuda.py --quick --markdown "$OUT/bench.md"

# Bench tables, then the step summary last.
if [[ -s $OUT/bench.md ]]; then
  echo
  cat "$OUT/bench.md"
elif [[ -s $OUT/bench.log ]]; then
  echo
  tail -n 40 "$OUT/bench.log"
fi
{
  echo
  echo "torch_act gpu_check: $((SECONDS - START)) s total, logs in $OUT"
  printf '%-10s %-14s %6s  %s\n' step status sec detail
  printf '%-10s %-14s %6s  %s\n' ---- ------ --- ------
  for row in "${SUMMARY[@]}"; do
    IFS='|' read -r n s t d <<<"$row"
    printf '%-10s %-14s %6s  %s\n' "$n" "$s" "$t" "$d"
  done
} | tee "$OUT/summary.txt"
