#!/usr/bin/env bash
# A single-node Slurm for tests: when no Slurm is reachable (`sinfo` fails), install Debian's
# packages if absent, start munged, slurmctld and slurmd on 127.0.0.1, and record the pid of every
# daemon THIS script started, so that cluster/slurm-down.sh stops those and nothing else.
#
#   sudo cluster/slurm-up.sh          idempotent: a reachable Slurm (ours or anyone's) is left alone
#   sudo cluster/slurm-down.sh        stops only what slurm-up.sh started, by pid
#
# Environment:
#   CFA_SLURM_STATE   state, logs, pid records, config   (default /var/lib/cfa-slurm)
#   CFA_SLURM_GPUS    placeholder GPUs the node declares when it has no NVIDIA device (default 2;
#                     0 for none). Slurm drops file-less GPUs, so each is a character device with
#                     /dev/null's numbers under $CFA_SLURM_STATE/dev. Slurm schedules `--gpus`
#                     requests against them and hands each job its own CUDA_VISIBLE_DEVICES, exactly
#                     as on a GPU cluster, so the Slurm profile's GPU requests are exercised unchanged;
#                     no CUDA device exists, so cfa (device: auto) runs those jobs on the CPU.
#                     A node with /dev/nvidia<N> devices declares those instead.
#
# Not accounting: there is no slurmdbd, so `sacct` does not work and job status comes from `squeue`
# (MinJobAge keeps finished jobs in squeue and `scontrol show job` for an hour). Finished jobs are also written, one line
# each, to the job-completion log $CFA_SLURM_STATE/log/jobcomp.log (jobcomp/filetxt).
set -euo pipefail

STATE=${CFA_SLURM_STATE:-/var/lib/cfa-slurm}
GPUS=${CFA_SLURM_GPUS:-2}
CONF=$STATE/etc/slurm.conf
STARTED=$STATE/started.pids     # "<name> <pid>" per line: the daemons this script started
NODE=$(hostname -s)
SYSTEM_CONF=/etc/slurm/slurm.conf

say() { echo "slurm-up: $*" >&2; }
die() { say "$*"; exit 2; }

# Slurm clients read /etc/slurm/slurm.conf unless SLURM_CONF says otherwise; point them at ours
# when the system has no config of its own (see the symlink below).
if [[ -z "${SLURM_CONF:-}" && ! -e $SYSTEM_CONF && -e $CONF ]]; then export SLURM_CONF=$CONF; fi
if sinfo -h >/dev/null 2>&1; then
    say "a Slurm controller is reachable already; nothing started"
    sinfo
    exit 0
fi

[[ $(id -u) == 0 ]] || die "no Slurm is reachable and starting one needs root (run: sudo $0)"

# --- packages -------------------------------------------------------------------------------------
PACKAGES=(slurmctld slurmd slurm-client munge)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    command -v apt-get >/dev/null || die "packages ${missing[*]} are missing and there is no apt-get (Debian/Ubuntu only)"
    say "installing ${missing[*]} (Debian packages)"
    apt-get update -qq
    # policy-rc.d or not, the packages' own services are not what we run: we start the daemons below.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$STATE"/{etc,ctld,d,log,run}
touch "$STARTED"

record() { echo "$1 $2" >>"$STARTED"; say "started $1 (pid $2)"; }

wait_pidfile() {  # wait_pidfile <file> <name>: the pid once the daemon has written it
    local i
    for i in $(seq 1 100); do
        if [[ -s $1 ]]; then
            local pid; pid=$(tr -dc 0-9 <"$1")
            if [[ -n $pid && -d /proc/$pid ]]; then echo "$pid"; return 0; fi
        fi
        sleep 0.1
    done
    die "$2 did not start (no live pid in $1); see its log under $STATE/log or /var/log/munge"
}

# --- munge ----------------------------------------------------------------------------------------
if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    pid=$(tr -dc 0-9 </run/munge/munged.pid 2>/dev/null || true)
    if [[ -n $pid ]] && grep -qx "munged $pid" "$STARTED"; then say "munged is running already (ours, pid $pid)"
    else say "munged is running already (not ours: left alone)"; fi
else
    if [[ ! -s /etc/munge/munge.key ]]; then
        install -d -o munge -g munge -m 0700 /etc/munge
        mungekey -c -k /etc/munge/munge.key
    fi
    chown munge:munge /etc/munge/munge.key && chmod 0600 /etc/munge/munge.key
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
    rm -f /run/munge/munged.pid
    # A socket left by a munged that died would make the new one refuse to start.
    runuser -u munge -- /usr/sbin/munged --force
    record munged "$(wait_pidfile /run/munge/munged.pid munged)"
    munge -n </dev/null | unmunge >/dev/null || die "munged started but does not answer"
fi

# --- configuration --------------------------------------------------------------------------------
CPUS=$(nproc)
# What slurmd itself measures: a node configured with more memory than that would be drained.
MEM=$(slurmd -C | tr ' ' '\n' | sed -n 's/^RealMemory=//p')
[[ -n $MEM ]] || MEM=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)

shopt -s nullglob
DEVICES=(/dev/nvidia[0-9]*)
shopt -u nullglob
if ((${#DEVICES[@]})); then
    GPU_COUNT=${#DEVICES[@]}
    GRES_LINE="NodeName=$NODE Name=gpu File=/dev/nvidia[0-$((GPU_COUNT - 1))]"
elif ((GPUS > 0)); then
    GPU_COUNT=$GPUS
    mkdir -p "$STATE/dev"
    for ((i = 0; i < GPU_COUNT; i++)); do
        dev=$STATE/dev/placeholder-gpu$i
        [[ -c $dev ]] || mknod -m 0666 "$dev" c 1 3 ||
            die "cannot create the placeholder GPU $dev (mknod); run with CFA_SLURM_GPUS=0 for a node without GPUs"
    done
    GRES_LINE="NodeName=$NODE Name=gpu File=$STATE/dev/placeholder-gpu[0-$((GPU_COUNT - 1))]"
else
    GPU_COUNT=0
fi
NODE_GRES=""
((GPU_COUNT > 0)) && NODE_GRES="Gres=gpu:$GPU_COUNT"

cat >"$CONF" <<EOF
# Written by cfa's cluster/slurm-up.sh: a single-node test cluster. Not for production use.
ClusterName=cfa-test
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups in a container: track processes by parent pid, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
# cons_tres: needed for --gpus. Cores are consumable, memory is only checked against RealMemory.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
# No accounting (no slurmdbd): status via squeue, which keeps finished jobs for MinJobAge seconds.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/log/jobcomp.log
MinJobAge=3600
ReturnToService=2
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM $NODE_GRES State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
if ((GPU_COUNT > 0)); then echo "$GRES_LINE" >"$STATE/etc/gres.conf"; else rm -f "$STATE/etc/gres.conf"; fi

# Point the standard config path at ours, when the system has none (recorded, so slurm-down.sh
# removes this link and nothing else).
if [[ ! -e $SYSTEM_CONF && ! -L $SYSTEM_CONF ]]; then
    mkdir -p "$(dirname "$SYSTEM_CONF")"
    ln -s "$CONF" "$SYSTEM_CONF"
    echo "$SYSTEM_CONF" >"$STATE/created-link"
fi
if [[ $(readlink -f "$SYSTEM_CONF") != "$(readlink -f "$CONF")" ]]; then
    say "note: $SYSTEM_CONF is not ours; Slurm commands need: export SLURM_CONF=$CONF"
fi
export SLURM_CONF=$CONF

# --- daemons --------------------------------------------------------------------------------------
running() { [[ -s $1 ]] && [[ -d /proc/$(tr -dc 0-9 <"$1") ]] && [[ $(cat /proc/$(tr -dc 0-9 <"$1")/comm) == "$2" ]]; }

if running "$STATE/run/slurmctld.pid" slurmctld; then
    say "slurmctld is running already"
else
    rm -f "$STATE/run/slurmctld.pid"
    slurmctld -f "$CONF"
    record slurmctld "$(wait_pidfile "$STATE/run/slurmctld.pid" slurmctld)"
fi
if running "$STATE/run/slurmd.pid" slurmd; then
    say "slurmd is running already"
else
    rm -f "$STATE/run/slurmd.pid"
    slurmd -f "$CONF" -N "$NODE"
    record slurmd "$(wait_pidfile "$STATE/run/slurmd.pid" slurmd)"
fi

# --- ready? ---------------------------------------------------------------------------------------
alive_or_die() {
    running "$STATE/run/$1.pid" "$1" || { tail -5 "$STATE/log/$1.log" >&2; die "$1 exited; its log: $STATE/log/$1.log"; }
}
deadline=$((SECONDS + 60))
while ((SECONDS < deadline)); do
    alive_or_die slurmctld
    alive_or_die slurmd
    state=$(timeout 10 sinfo -h -n "$NODE" -o %T 2>/dev/null || true)
    # A trailing '*' (idle*) means the controller has not heard from slurmd yet.
    case $state in
        idle|mixed|allocated|completing) break ;;
        down*|drain*|fail*)
            scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 0.5
done
case $state in
    idle|mixed|allocated|completing) ;;
    *) scontrol show node "$NODE" >&2 || true
       die "node $NODE is not ready (state: ${state:-unknown}); logs: $STATE/log/" ;;
esac
say "up: node $NODE, $CPUS CPUs, ${MEM} MB, $GPU_COUNT GPU$( ((${#DEVICES[@]})) || echo " (placeholders)"); config $CONF"
sinfo
