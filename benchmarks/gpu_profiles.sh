#!/bin/sh
# Llama-3.2-1B and 3B shapes (random weights, bfloat16) on a CUDA GPU: MAW at 0-60 %, with --divisor
# 128 and without, HellaSwag prompts, batch 1 and 8, NVML energy (issue 4's GPU target: the measured
# decode speed-up at 40 % with the divisor at least 0.8 of the ideal one).
#
#   [PYTHON=python3] [MODELS='llama-3.2-1b llama-3.2-3b'] benchmarks/gpu_profiles.sh OUT [profile options...]
#
# OUT/<model>/ gets each model's checkpoints, run logs and consolidated results of both series (a
# rerun measures only what is missing); PYTHON is an interpreter that imports glu_prune; options
# given after OUT override these. Sized for about 8 minutes of an H200: one prompt batch per
# measurement, 3 repeats, 1 s of idle power before each level's measurements.
set -eu
out=$1
shift
py=${PYTHON:-python3}
status=0  # a failed invocation is reported and the others still run
for model in ${MODELS:-llama-3.2-1b llama-3.2-3b}; do
    for divisor in 128 none; do
        if [ "$divisor" = none ]; then series=""; else series="--divisor $divisor"; fi
        # shellcheck disable=SC2086
        "$py" -m glu_prune profile --model "$model" --random-weights --device cuda --dtype bfloat16 \
            --levels 0,10,20,30,40,50,60 $series --workloads hellaswag --batch-size 1,8 --batches 1 \
            --repeats 3 --warmup 1 --new-tokens 32 --energy nvml --idle-seconds 1 \
            --out "$out/$model" "$@" || status=$?
    done
    "$py" -c "import sys; from glu_prune.profile import consolidate_profiles as c; c(sys.argv[1])" "$out/$model" || status=$?
done
exit $status
