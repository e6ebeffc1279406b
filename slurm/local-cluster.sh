#!/bin/bash
# local-cluster.sh: a one-node Slurm cluster on this machine, for tests and for trying the
# slurm/ scripts without a real cluster. munged, slurmctld and slurmd run from a state
# directory (configuration, spool, logs, pids); nothing in /etc is used or changed, no systemd.
#
#   slurm/local-cluster.sh up     [DIR]   start; prints `export SLURM_CONF=DIR/slurm.conf`
#   slurm/local-cluster.sh status [DIR]   the daemons' pids and sinfo
#   slurm/local-cluster.sh down   [DIR]   cancel the cluster's jobs, stop the daemons it started
#
# DIR: the argument, else $ECORE_SLURM_STATE, else (for `up`) a new /tmp/ecore-slurm.XXXXXX.
# After `up`, `. DIR/env.sh` exports SLURM_CONF so that sbatch/srun/squeue use this cluster.
# `down` stops only the processes whose pids `up` recorded in DIR/pids (and, if jobs were
# still running, the slurmstepd processes that slurmd started), never by name.
#
# Environment: ECORE_SLURM_CPUS (default: the machine's CPUs, at least 2), ECORE_SLURM_MEMORY
# (RealMemory in MB, default: 3/4 of the machine's memory), ECORE_SLURM_KILLWAIT (seconds
# between SIGTERM and SIGKILL when a job is cancelled or requeued, default 10),
# ECORE_SLURM_CRED_EXPIRE (seconds a requeued job waits before it may start again, default 5;
# Slurm's default is 120), ECORE_SLURM_WATCH_PID (take the cluster down by itself when that
# process ends, e.g. a test script killed before its own cleanup).
# Needs munge and Slurm (Debian: apt-get install slurmctld slurmd slurm-client munge).
set -euo pipefail

die() { echo "local-cluster.sh: $*" >&2; exit 1; }
usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }

cmd=${1:-}
if [[ $cmd == -h || $cmd == --help ]]; then usage; exit 0; fi
if [[ -z $cmd ]]; then usage >&2; exit 2; fi
dir=${2:-${ECORE_SLURM_STATE:-}}
self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")

# The marker every daemon started here carries in its environment (inherited by slurmstepd).
marker() { echo "ECORE_LOCAL_SLURM=$dir"; }

# pid_alive NAME: the recorded pid of NAME, if that process still runs the expected program
# (the daemon of that name, or for `watch` this script watching this directory).
pid_alive() {
  local f="$dir/pids/$1.pid" pid comm
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  if [[ $1 == watch ]]; then
    { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "local-cluster.sh watch $dir " || return 1
  else
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ $comm == "$1"* ]] || return 1  # the pid was reused by another program
  fi
  echo "$pid"
}

free_port() {
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + RANDOM % 20000))
    # A port nothing listens on: connecting fails.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  die "no free port found"
}

# wait_for SECONDS WHAT COMMAND...: run COMMAND until it succeeds, at most SECONDS.
wait_for() {
  local t=$1 what=$2 i
  shift 2
  for ((i = 0; i < t * 5; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "local-cluster.sh: timed out after ${t}s waiting for $what" >&2
  return 1
}

dump_logs() {
  local f
  for f in "$dir"/log/*; do
    [[ -f $f ]] || continue
    echo "--- $f (last 30 lines)" >&2
    tail -n 30 "$f" >&2
  done
}

start_daemon() {  # start_daemon NAME PROGRAM ARGS...: in the foreground, detached, pid recorded
  local name=$1
  shift
  env "$(marker)" SLURM_CONF="$dir/slurm.conf" setsid "$@" \
    </dev/null >>"$dir/log/$name.stdout" 2>&1 &
  echo $! >"$dir/pids/$name.pid"
}

up() {
  local p
  for p in munged mungekey slurmctld slurmd sinfo scontrol; do
    command -v "$p" >/dev/null || [[ -x /usr/sbin/$p ]] || die "$p not found (Debian: apt-get install slurmctld slurmd slurm-client munge)"
  done
  export PATH="$PATH:/usr/sbin"
  if [[ -z $dir ]]; then
    dir=$(mktemp -d /tmp/ecore-slurm.XXXXXX)
  else
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
  fi
  for p in munged slurmctld slurmd; do
    pid_alive "$p" >/dev/null && die "$dir: $p already running (pid $(<"$dir/pids/$p.pid")); run down first"
  done
  # munged wants every directory above its socket and seed searchable by all (unless root),
  # and none writable by group or others without the sticky bit (like /tmp).
  local a=$dir m
  while [[ -n $a && $a != / ]]; do
    m=$(stat -c %A "$a")
    [[ ${m:9:1} == [xt] || $(id -u) == 0 ]] || die "munged needs $a searchable by all (chmod o+x $a), or another DIR"
    [[ ${m:5:1} != w && ${m:8:1} != w ]] || [[ ${m:9:1} == t ]] ||
      die "munged refuses $a: writable by group or others without the sticky bit"
    a=$(dirname "$a")
  done
  mkdir -p "$dir"/{munge,log,pids,ctld,spool}
  # munged refuses a socket directory that others cannot search, and a key readable by others.
  chmod 0755 "$dir" "$dir/munge"
  chmod 0700 "$dir/ctld" "$dir/spool"

  local user host cpus mem ctld_port d_port
  user=$(id -un)
  host=$(hostname -s)
  cpus=${ECORE_SLURM_CPUS:-$(nproc)}
  ((cpus >= 2)) || cpus=2
  mem=${ECORE_SLURM_MEMORY:-$(awk '/^MemTotal:/ {print int($2 / 1024 * 3 / 4)}' /proc/meminfo)}
  ctld_port=$(free_port)
  d_port=$(free_port)
  while [[ $d_port == "$ctld_port" ]]; do d_port=$(free_port); done

  cat >"$dir/slurm.conf" <<EOF
# Written by slurm/local-cluster.sh: a one-node cluster in $dir.
ClusterName=ecorelocal
SlurmctldHost=$host(127.0.0.1)
SlurmUser=$user
SlurmdUser=$user
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
AuthType=auth/munge
# cred_expire is also how long a requeued job waits before it may start again (default 120 s).
AuthInfo=socket=$dir/munge/munge.socket.2,cred_expire=${ECORE_SLURM_CRED_EXPIRE:-5}
CredType=cred/munge
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/ctld/slurmctld.pid
SlurmdPidFile=$dir/spool/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups (containers, no systemd): processes are tracked by parentage.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
# A tiny cluster: look at pending jobs (a requeued job whose wait is over) every 2 s.
SchedulerParameters=sched_interval=2,bf_interval=2,sched_min_interval=100000
# Impossible requests fail at submission instead of pending forever.
EnforcePartLimits=ALL
ReturnToService=2
SlurmdParameters=config_overrides
JobRequeue=1
KillWait=${ECORE_SLURM_KILLWAIT:-10}
MinJobAge=600
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
MessageTimeout=20
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF

  # A fresh key for this cluster only.
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 0400 "$dir/munge/munge.key"
  local force=()
  [[ $(id -u) == 0 ]] && force=(--force)  # munged refuses root without it
  start_daemon munged munged --foreground "${force[@]}" \
    --socket="$dir/munge/munge.socket.2" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge/munged.seed"
  wait_for 20 munged test -S "$dir/munge/munge.socket.2" || { dump_logs; down; exit 1; }
  if command -v munge >/dev/null && command -v unmunge >/dev/null; then
    munge -S "$dir/munge/munge.socket.2" -n | unmunge -S "$dir/munge/munge.socket.2" >/dev/null ||
      { echo "local-cluster.sh: munge does not work" >&2; dump_logs; down; exit 1; }
  fi

  start_daemon slurmctld slurmctld -D -c -f "$dir/slurm.conf"
  export SLURM_CONF="$dir/slurm.conf"
  wait_for 30 slurmctld scontrol ping || { dump_logs; down; exit 1; }
  start_daemon slurmd slurmd -D -N "$host" -f "$dir/slurm.conf"
  # The node is up when it is idle (or busy: something was submitted meanwhile).
  node_up() { [[ $(sinfo -h -N -o %T 2>/dev/null) =~ ^(idle|mixed|allocated)$ ]]; }
  wait_for 60 "the node to be idle" node_up || { sinfo -N -l >&2 || true; dump_logs; down; exit 1; }

  if [[ -n ${ECORE_SLURM_WATCH_PID:-} ]]; then
    # Take the cluster down when that process ends, however it ends (even by SIGKILL).
    setsid "$BASH" "$self" watch "$dir" "$ECORE_SLURM_WATCH_PID" </dev/null >>"$dir/log/watch.log" 2>&1 &
    echo $! >"$dir/pids/watch.pid"
  fi
  printf 'export SLURM_CONF=%q\n' "$dir/slurm.conf" >"$dir/env.sh"
  echo "local-cluster.sh: up in $dir: node $host, $cpus CPUs, ${mem} MB, partition local" >&2
  echo "export SLURM_CONF=$dir/slurm.conf"
}

# Stop a recorded daemon: SIGTERM, wait, SIGKILL.
stop_pid() {
  local pid=$1 what=$2 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  echo "local-cluster.sh: $what (pid $pid) ignored SIGTERM: SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
}

# Processes started by this cluster's daemons that outlived them (slurmstepd and its tasks):
# the ones whose environment carries this cluster's marker.
strays() {
  local e p m
  m=$(marker)
  for e in /proc/[0-9]*/environ; do
    p=${e#/proc/}
    p=${p%/environ}
    [[ $p == "$$" || $p == "$BASHPID" ]] && continue
    if { tr '\0' '\n' <"$e"; } 2>/dev/null | grep -qxF -- "$m"; then echo "$p"; fi
  done
}

down() {
  [[ -n $dir && -d $dir ]] || die "down: no state directory (give DIR or set ECORE_SLURM_STATE)"
  dir=$(cd "$dir" && pwd)
  export PATH="$PATH:/usr/sbin" SLURM_CONF="$dir/slurm.conf"
  if pid_alive slurmctld >/dev/null && [[ -f $SLURM_CONF ]]; then
    # Cancel what still runs, so that slurmd stops the job steps itself.
    local jobs
    jobs=$(timeout 20 squeue -h -o %A 2>/dev/null | tr '\n' ' ') || true
    if [[ -n ${jobs// /} ]]; then
      echo "local-cluster.sh: cancelling jobs $jobs" >&2
      # shellcheck disable=SC2086
      timeout 20 scancel $jobs 2>/dev/null || true
      no_jobs() { [[ -z $(timeout 10 squeue -h -o %A 2>/dev/null) ]]; }
      wait_for 40 "the jobs to end" no_jobs || true
    fi
  fi
  local name pid
  if [[ -z ${watching:-} ]] && pid=$(pid_alive watch); then
    kill -TERM "$pid" 2>/dev/null || true
  fi
  for name in slurmd slurmctld munged; do
    if pid=$(pid_alive "$name"); then stop_pid "$pid" "$name"; fi
  done
  local left
  left=$(strays | tr '\n' ' ')
  if [[ -n ${left// /} ]]; then
    echo "local-cluster.sh: stopping leftover job processes: $left" >&2
    for pid in $left; do stop_pid "$pid" "job process" & done
    wait
  fi
  rm -f "$dir"/pids/*.pid
  echo "local-cluster.sh: down ($dir)" >&2
}

status() {
  [[ -n $dir && -d $dir ]] || die "status: no state directory (give DIR or set ECORE_SLURM_STATE)"
  export PATH="$PATH:/usr/sbin" SLURM_CONF="$dir/slurm.conf"
  local name pid rc=0
  for name in munged slurmctld slurmd; do
    if pid=$(pid_alive "$name"); then echo "$name: running (pid $pid)"; else echo "$name: stopped"; rc=1; fi
  done
  ((rc == 0)) && { sinfo -N -l; squeue; }
  return $rc
}

watch() {  # watch DIR PID: down when PID has ended
  local owner=${1:?}
  watching=1
  while kill -0 "$owner" 2>/dev/null; do sleep 1; done
  echo "local-cluster.sh: process $owner ended: taking the cluster down" >&2
  down
}

case $cmd in
  up) up ;;
  watch) watch "${3:-}" ;;
  down) down ;;
  status) status ;;
  *) usage >&2; exit 2 ;;
esac
