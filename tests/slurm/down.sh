#!/usr/bin/env bash
# tests/slurm/down.sh -- stop the throwaway SLURM test cluster started by up.sh.
#
# FOR TESTS ONLY.  Stops exactly the daemons whose pidfiles up.sh left in
# $MFSIM_SLURM_STATE/pids (default /var/tmp/mfsim-test-slurm/pids), in reverse start
# order: slurmd, slurmctld, slurmdbd, mariadb, munged.  A pidfile whose process is
# gone, or is no longer the expected program, is just removed.  Each daemon gets
# SIGTERM, then SIGKILL after a timeout.  Jobs still in the queue are cancelled
# first (so no slurmstepd is left behind).  Packages, configuration, the munge key,
# the database and the state directory are kept, so the next up.sh takes seconds.
# Idempotent: running it with nothing up is a no-op.
set -euo pipefail

STATE=${MFSIM_SLURM_STATE:-/var/tmp/mfsim-test-slurm}
PIDS=$STATE/pids
T0=$SECONDS

log() { printf '[down.sh %3ds] %s\n' "$((SECONDS - T0))" "$*"; }

[[ $EUID -eq 0 ]] || { echo "down.sh: must run as root" >&2; exit 1; }

# shellcheck source-path=SCRIPTDIR source=pidfile.sh
source "$(dirname "${BASH_SOURCE[0]}")/pidfile.sh"

# stop NAME PIDFILE TIMEOUT_SECONDS
stop() {
  local name=$1 file=$2 timeout=$3 pid i
  if ! pid=$(pid_if_alive "$name" "$file"); then
    [[ -e $file ]] && log "$name: not running (removing stale $file)"
    rm -f "$file"
    return 0
  fi
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 4; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name (pid $pid) still alive after ${timeout}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 20; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
  fi
  rm -f "$file"
}

if [[ ! -d $PIDS ]]; then
  log "nothing to do: no $PIDS"
  exit 0
fi

# Cancel leftover jobs while slurmctld and slurmd still run, so their slurmstepd exit.
if pid_if_alive slurmctld "$PIDS/slurmctld.pid" >/dev/null; then
  mapfile -t jobs < <(timeout 10 squeue -h -o %i 2>/dev/null || true)
  if ((${#jobs[@]})); then
    log "cancelling ${#jobs[@]} job(s): ${jobs[*]}"
    timeout 10 scancel "${jobs[@]}" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
      [[ -z $(timeout 5 squeue -h -o %i 2>/dev/null || true) ]] && break
      sleep 0.25
    done
  fi
fi

stop slurmd "$PIDS/slurmd.pid" 20
stop slurmctld "$PIDS/slurmctld.pid" 20
stop slurmdbd "$PIDS/slurmdbd.pid" 20
stop mariadbd "$PIDS/mariadb.pid" 60
stop munged "$PIDS/munged.pid" 10

log "done; packages and state in $STATE kept (bash tests/slurm/up.sh brings it back)"
