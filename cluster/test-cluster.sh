#!/usr/bin/env bash
# `make test-cluster`: bring up a single-node Slurm when none is reachable (cluster/slurm-up.sh: root
# and Debian's package registry), run the tests marked `cluster` against it, print the wall time,
# then stop the daemons that THIS run started (CFA_SLURM_KEEP=1 leaves them up), and no others.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
STATE=${CFA_SLURM_STATE:-/var/lib/cfa-slurm}

before=0
[[ -s $STATE/started.pids ]] && before=$(wc -l <"$STATE/started.pids")
stop() {
    if [[ ${CFA_SLURM_KEEP:-0} == 1 ]]; then echo "test-cluster: Slurm left running (CFA_SLURM_KEEP=1)" >&2
    else cluster/slurm-down.sh --keep-first "$before"; fi
}
trap stop EXIT

start=$SECONDS
cluster/slurm-up.sh
up=$((SECONDS - start))
PATH=$PWD/$BIN:$PATH OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} $BIN/python -m pytest -q -s -m cluster
echo "test-cluster: wall $((SECONDS - start)) s (Slurm up: ${up} s)"
