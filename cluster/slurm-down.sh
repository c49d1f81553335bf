#!/usr/bin/env bash
# Stop the daemons that cluster/slurm-up.sh started, by the pids it recorded, and nothing else:
# a Slurm or munged that was running before slurm-up.sh is left alone.
#
#   cluster/slurm-down.sh                 stop every daemon slurm-up.sh recorded
#   cluster/slurm-down.sh --keep-first N  leave the first N records (started before a given moment:
#                                         cluster/test-cluster.sh stops only what its own run started)
set -euo pipefail

KEEP=0
if [[ ${1:-} == --keep-first ]]; then KEEP=${2:?--keep-first needs a number}; fi

STATE=${CFA_SLURM_STATE:-/var/lib/cfa-slurm}
STARTED=$STATE/started.pids

say() { echo "slurm-down: $*" >&2; }

if [[ ! -s $STARTED ]] || (($(wc -l <"$STARTED") <= KEEP)); then
    say "no daemon to stop (none recorded in $STARTED after the first $KEEP)"
    exit 0
fi
TO_STOP=$(tail -n +$((KEEP + 1)) "$STARTED")

alive() { [[ -d /proc/$2 ]] && [[ $(cat "/proc/$2/comm" 2>/dev/null) == "$1" ]]; }

# Jobs of a controller we started are ours: cancel them, so no job step outlives its slurmd.
if grep -q '^slurmctld ' <<<"$TO_STOP"; then
    read -r _ ctld < <(grep '^slurmctld ' <<<"$TO_STOP" | tail -1)
    if alive slurmctld "$ctld"; then
        export SLURM_CONF=$STATE/etc/slurm.conf
        jobs=$(squeue -h -o %i 2>/dev/null || true)
        if [[ -n $jobs ]]; then say "cancelling jobs: $(echo $jobs)"; scancel $jobs || true; sleep 1; fi
    fi
fi

# Stop in reverse start order (slurmd, slurmctld, then munged, which they need to talk).
tac <<<"$TO_STOP" | while read -r name pid; do
    if ! alive "$name" "$pid"; then
        say "$name (pid $pid) is not running"
        continue
    fi
    kill -TERM "$pid"
    for _ in $(seq 1 100); do alive "$name" "$pid" || break; sleep 0.1; done
    if alive "$name" "$pid"; then kill -KILL "$pid"; say "killed $name (pid $pid)"; else say "stopped $name (pid $pid)"; fi
done
if ((KEEP > 0)); then
    head -n "$KEEP" "$STARTED" >"$STARTED.tmp" && mv "$STARTED.tmp" "$STARTED"
    exit 0  # the config link belongs to the earlier start
fi
rm -f "$STARTED"

if [[ -s $STATE/created-link ]]; then
    link=$(cat "$STATE/created-link")
    if [[ -L $link && $(readlink "$link") == "$STATE/etc/slurm.conf" ]]; then rm -f "$link"; fi
    rm -f "$STATE/created-link"
fi
