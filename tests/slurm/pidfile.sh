# shellcheck shell=bash
# Shared by up.sh and down.sh (sourced, not run).

# pid_if_alive NAME PIDFILE: print the PID if PIDFILE names a live process whose
# /proc/PID/comm is NAME; fail otherwise (so a recycled PID is never taken for a daemon).
pid_if_alive() {
  local name=$1 file=$2 pid comm
  [[ -r $file ]] || return 1
  pid=$(<"$file")
  pid=${pid//[!0-9]/}
  [[ -n $pid && -r /proc/$pid/comm ]] || return 1
  comm=$(<"/proc/$pid/comm") || return 1
  [[ $comm == "$name" ]] || return 1
  printf '%s' "$pid"
}
