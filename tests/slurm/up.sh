#!/usr/bin/env bash
# tests/slurm/up.sh -- bring up a throwaway single-node SLURM cluster on loopback.
#
# FOR TESTS ONLY.  Run as root on a Debian 12 machine: `bash tests/slurm/up.sh`.
# Stop it again with `bash tests/slurm/down.sh`.
#
# What it does (each step is skipped when already done, so the script is idempotent):
#   * installs Debian's slurmctld slurmd slurm-client munge slurmdbd mariadb-server
#     (with a /usr/sbin/policy-rc.d that exits 101, written only if absent, so apt's
#     maintainer scripts start no services);
#   * starts munged (as user munge), MariaDB, slurmdbd, slurmctld and slurmd by hand
#     (no systemd), with pidfiles, logs and spool/state under $MFSIM_SLURM_STATE
#     (default /var/tmp/mfsim-test-slurm); the PIDs of what it started are in
#     $STATE/pids/*.pid, which is what down.sh stops -- and nothing else;
#   * writes /etc/slurm/slurm.conf and /etc/slurm/slurmdbd.conf (overwritten!).
#
# Security note: every address in the configuration is 127.0.0.1 / localhost, but
# slurmctld (6817), slurmd (6818) and slurmdbd (6819) still LISTEN ON ALL INTERFACES
# (SLURM has no bind-address option for them).  Requests need a valid munge
# credential, and the cluster lives for one test run, which we accept for a test
# machine.  MariaDB is bound to 127.0.0.1 only (--bind-address=127.0.0.1).
# All daemons run as root (SlurmUser=root, SlurmdUser=root), except munged (munge)
# and mariadbd (mysql).
#
# Environment: MFSIM_SLURM_STATE (state dir), MFSIM_SLURM_CLUSTER (ClusterName,
# default "mfsim"), MFSIM_SLURM_DEFMEM (DefMemPerCPU in MB, default 1024).  There is
# one such cluster per machine (the /etc/slurm configs and ports are global).
# Exit status is non-zero, with the tail of the daemon logs on stderr, if anything
# fails; the daemon logs are in $STATE/log.
set -Eeuo pipefail

STATE=${MFSIM_SLURM_STATE:-/var/tmp/mfsim-test-slurm}
CLUSTER=${MFSIM_SLURM_CLUSTER:-mfsim}
HOST=$(hostname -s)
PIDS=$STATE/pids
LOGS=$STATE/log
SLURM_CONF=/etc/slurm/slurm.conf
DBD_CONF=/etc/slurm/slurmdbd.conf
MYSQL_SOCK=/run/mysqld/mysqld.sock
MUNGE_KEY=/etc/munge/munge.key
PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)
T0=$SECONDS

log() { printf '[up.sh %3ds] %s\n' "$((SECONDS - T0))" "$*"; }

show_logs() {
  local f
  for f in "$LOGS/munged.out" /var/log/munge/munged.log "$LOGS/mariadb.log" \
           "$LOGS/slurmdbd.log" "$LOGS/slurmctld.log" "$LOGS/slurmd.log"; do
    [[ -s $f ]] || continue
    printf -- '----- last lines of %s -----\n' "$f" >&2
    tail -n 25 "$f" >&2
  done
}

die() {
  trap - ERR
  printf '[up.sh %3ds] ERROR: %s\n' "$((SECONDS - T0))" "$*" >&2
  show_logs
  exit 1
}
trap 'die "command failed (line $LINENO): $BASH_COMMAND"' ERR

[[ $EUID -eq 0 ]] || { echo "up.sh: must run as root" >&2; exit 1; }

# shellcheck source-path=SCRIPTDIR source=pidfile.sh
source "$(dirname "${BASH_SOURCE[0]}")/pidfile.sh"

# alive NAME PIDFILE: PIDFILE names a live process whose /proc/PID/comm is NAME.
alive() { pid_if_alive "$@" >/dev/null; }

# wait_until SECONDS WHAT CMD...: poll the (quiet) CMD every 0.5 s, die after SECONDS.
wait_until() {
  local limit=$1 what=$2 end
  shift 2
  end=$((SECONDS + limit))
  until "$@"; do
    ((SECONDS < end)) || die "timed out after ${limit}s waiting for $what"
    sleep 0.5
  done
}

# wait_alive NAME PIDFILE SECONDS WHAT CMD...: like wait_until, but die at once if
# the daemon NAME (PIDFILE) has exited meanwhile.  CMD must be quiet itself (its
# output is not redirected, so that a die() inside CMD is still seen).
wait_alive() {
  local name=$1 file=$2 limit=$3 what=$4 end
  shift 4
  end=$((SECONDS + limit))
  until "$@"; do
    alive "$name" "$file" || die "$name exited while waiting for $what"
    ((SECONDS < end)) || die "timed out after ${limit}s waiting for $what"
    sleep 0.5
  done
}

# run_clean CMD...: exec CMD with only fds 0-2 open, so that no descriptor the
# caller passed us (e.g. the write end of a pipe it reads until EOF) lives on in a
# daemon for as long as the cluster runs.
run_clean() {
  (
    for fdpath in /proc/"$BASHPID"/fd/*; do
      fd=${fdpath##*/}
      ((fd > 2)) && exec {fd}>&-
    done
    exec "$@"
  )
}

pid_of() { local p; p=$(<"$1"); printf '%s' "${p//[!0-9]/}"; }

# stop_daemon NAME PIDFILE: TERM, wait up to 30 s, then KILL (used on config change).
stop_daemon() {
  local name=$1 file=$2 pid i
  if alive "$name" "$file"; then
    pid=$(pid_of "$file")
    log "stopping $name (pid $pid) to apply a changed configuration"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$file"
}

# put_file DEST MODE < CONTENT: install CONTENT at DEST (root-owned, MODE) unless
# identical; returns 0 if the file changed, 1 if it was already up to date.
put_file() {
  local dest=$1 mode=$2 tmp
  tmp=$(mktemp "$dest.XXXXXX")
  cat >"$tmp"
  chmod "$mode" "$tmp"
  if [[ -f $dest ]] && cmp -s "$tmp" "$dest"; then
    rm -f "$tmp"
    chmod "$mode" "$dest"
    return 1
  fi
  mv -f "$tmp" "$dest"
  return 0
}

pkg_installed() {
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]
}

mkdir -p "$PIDS" "$LOGS" "$STATE/slurmctld" "$STATE/slurmd"
chmod 0755 "$STATE" "$PIDS" "$LOGS"

# --------------------------------------------------------------------------- packages
missing=()
for p in "${PACKAGES[@]}"; do
  pkg_installed "$p" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    log "writing /usr/sbin/policy-rc.d (exit 101: apt must not start services)"
    printf '#!/bin/sh\n# written by mfsim tests/slurm/up.sh: apt must not start services\nexit 101\n' \
      >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
  fi
  log "apt-get update (missing: ${missing[*]})"
  apt-get -q -o DPkg::Lock::Timeout=300 update >"$LOGS/apt.log" 2>&1 \
    || { tail -n 20 "$LOGS/apt.log" >&2; die "apt-get update failed"; }
  log "apt-get install ${PACKAGES[*]} (output in $LOGS/apt.log)"
  DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300 \
    install --no-install-recommends "${PACKAGES[@]}" >>"$LOGS/apt.log" 2>&1 \
    || { tail -n 20 "$LOGS/apt.log" >&2; die "apt-get install failed"; }
else
  log "packages already installed: ${PACKAGES[*]}"
fi

# --------------------------------------------------------------------------- munge
for d in /etc/munge /var/lib/munge /var/log/munge /run/munge; do
  mkdir -p "$d"
  chown munge:munge "$d"
done
chmod 0700 /etc/munge /var/lib/munge /var/log/munge
chmod 0755 /run/munge
if [[ ! -s $MUNGE_KEY ]]; then
  log "creating $MUNGE_KEY"
  (umask 077 && head -c 1024 /dev/urandom >"$MUNGE_KEY")
fi
chown munge:munge "$MUNGE_KEY"
chmod 0400 "$MUNGE_KEY"

munge_ok() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

if alive munged "$PIDS/munged.pid"; then
  log "munged already running (pid $(pid_of "$PIDS/munged.pid"))"
elif munge_ok; then
  log "a munged not started by up.sh is already serving; using it (down.sh will leave it alone)"
else
  log "starting munged (as user munge)"
  rm -f "$PIDS/munged.pid" /run/munge/munged.pid
  run_clean runuser -u munge -- /usr/sbin/munged </dev/null >>"$LOGS/munged.out" 2>&1 \
    || die "munged failed to start"
  wait_until 15 "munged pidfile" alive munged /run/munge/munged.pid
  cp /run/munge/munged.pid "$PIDS/munged.pid"
fi
wait_until 15 "a munge credential to round-trip" munge_ok

# --------------------------------------------------------------------------- mariadb
mkdir -p /run/mysqld "$STATE/mariadb"
chown mysql:mysql /run/mysqld "$STATE/mariadb"
touch "$LOGS/mariadb.log"
chown mysql:mysql "$LOGS/mariadb.log"
if [[ ! -d /var/lib/mysql/mysql ]]; then
  log "initialising /var/lib/mysql (mariadb-install-db)"
  mariadb-install-db --user=mysql --datadir=/var/lib/mysql >>"$LOGS/mariadb.log" 2>&1 \
    || die "mariadb-install-db failed"
fi

mysql_ok() { mariadb-admin --socket="$MYSQL_SOCK" ping >/dev/null 2>&1; }

if alive mariadbd "$PIDS/mariadb.pid"; then
  log "mariadbd already running (pid $(pid_of "$PIDS/mariadb.pid"))"
else
  log "starting mariadbd (bound to 127.0.0.1)"
  rm -f "$PIDS/mariadb.pid" "$STATE/mariadb/mariadbd.pid"
  run_clean setsid /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 --port=3306 \
    --socket="$MYSQL_SOCK" --pid-file="$STATE/mariadb/mariadbd.pid" \
    --log-error="$LOGS/mariadb.log" --innodb-lock-wait-timeout=900 \
    </dev/null >>"$LOGS/mariadb.log" 2>&1 &
  bgpid=$!
  mariadb_started() {
    alive mariadbd "$STATE/mariadb/mariadbd.pid" && return 0
    # setsid exec()s into mariadbd (or forks and exits at once if it had to).
    [[ $(cat "/proc/$bgpid/comm" 2>/dev/null) == mariadbd ]] || sleep 1
    alive mariadbd "$STATE/mariadb/mariadbd.pid" || kill -0 "$bgpid" 2>/dev/null \
      || die "mariadbd exited during startup"
    return 1
  }
  wait_until 60 "mariadbd pidfile" mariadb_started
  cp "$STATE/mariadb/mariadbd.pid" "$PIDS/mariadb.pid"
fi
wait_alive mariadbd "$PIDS/mariadb.pid" 60 "mariadbd to answer on $MYSQL_SOCK" mysql_ok

if [[ ! -s $STATE/slurmdbd.pass ]]; then
  (umask 077 && head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24 \
    >"$STATE/slurmdbd.pass")
fi
DBPASS=$(<"$STATE/slurmdbd.pass")
mariadb --socket="$MYSQL_SOCK" -u root <<SQL || die "creating the slurm_acct_db database/user failed"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DBPASS';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DBPASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL

# --------------------------------------------------------------------------- configs
mkdir -p /etc/slurm

dbd_changed=0
put_file "$DBD_CONF" 600 <<EOF && dbd_changed=1
# Written by mfsim tests/slurm/up.sh -- throwaway test cluster, do not edit.
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
DebugLevel=info
LogFile=$LOGS/slurmdbd.log
PidFile=$PIDS/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StoragePort=3306
StorageUser=slurm
StoragePass=$DBPASS
StorageLoc=slurm_acct_db
EOF

# Hardware as slurmd sees it, e.g.
# NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105
hw=$(slurmd -C 2>/dev/null | head -n 1) || die "slurmd -C failed"
declare -A HW=()
for kv in $hw; do
  HW[${kv%%=*}]=${kv#*=}
done
for k in CPUs Boards SocketsPerBoard CoresPerSocket ThreadsPerCore RealMemory; do
  [[ ${HW[$k]:-} =~ ^[0-9]+$ ]] || die "could not parse $k from 'slurmd -C': $hw"
done
# A bit below what slurmd measures, or the node is drained for "Low RealMemory".
REALMEM=$((HW[RealMemory] * 95 / 100))
# Without DefMemPerCPU a job with no memory request gets the whole node.  Memory is
# not enforced here (no cgroups), so this only steers packing: 1 GiB per CPU, at most
# RealMemory/CPUs, so that 1-CPU jobs without --mem run side by side.
DEFMEM=${MFSIM_SLURM_DEFMEM:-1024}
((DEFMEM <= REALMEM / HW[CPUs])) || DEFMEM=$((REALMEM / HW[CPUs]))

slurm_changed=0
put_file "$SLURM_CONF" 644 <<EOF && slurm_changed=1
# Written by mfsim tests/slurm/up.sh -- throwaway single-node test cluster, do not edit.
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=600
KillWait=5
InactiveLimit=0
DefMemPerCPU=$DEFMEM
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$PIDS/slurmctld.pid
SlurmdPidFile=$PIDS/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/none
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=${HW[CPUs]} Boards=${HW[Boards]} SocketsPerBoard=${HW[SocketsPerBoard]} CoresPerSocket=${HW[CoresPerSocket]} ThreadsPerCore=${HW[ThreadsPerCore]} RealMemory=$REALMEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
((dbd_changed)) && log "wrote $DBD_CONF"
((slurm_changed)) && log "wrote $SLURM_CONF (${HW[CPUs]} CPUs, RealMemory=$REALMEM, DefMemPerCPU=$DEFMEM)"

# --------------------------------------------------------------------------- slurmdbd
dbd_ok() { sacctmgr -n -P show cluster format=cluster >/dev/null 2>&1; }

((dbd_changed)) && stop_daemon slurmdbd "$PIDS/slurmdbd.pid"
if alive slurmdbd "$PIDS/slurmdbd.pid"; then
  log "slurmdbd already running (pid $(pid_of "$PIDS/slurmdbd.pid"))"
else
  log "starting slurmdbd"
  rm -f "$PIDS/slurmdbd.pid"
  run_clean slurmdbd </dev/null >>"$LOGS/slurmdbd.log" 2>&1 || die "slurmdbd failed to start"
  wait_until 30 "slurmdbd pidfile" alive slurmdbd "$PIDS/slurmdbd.pid"
fi
wait_alive slurmdbd "$PIDS/slurmdbd.pid" 60 "slurmdbd to answer sacctmgr" dbd_ok

if ! sacctmgr -n -P show cluster format=cluster | grep -qx "$CLUSTER"; then
  log "registering cluster $CLUSTER in slurmdbd"
  sacctmgr -i add cluster "$CLUSTER" >/dev/null || die "sacctmgr add cluster failed"
fi
# 'add cluster' creates the 'root' account with a root user association; make sure.
if ! sacctmgr -n -P show assoc where cluster="$CLUSTER" user=root format=user | grep -qx root; then
  log "adding the root user association"
  sacctmgr -i add user root account=root cluster="$CLUSTER" >/dev/null \
    || die "sacctmgr add user root failed"
fi

# --------------------------------------------------------------------------- slurmctld, slurmd
if ((slurm_changed)); then
  stop_daemon slurmd "$PIDS/slurmd.pid"
  stop_daemon slurmctld "$PIDS/slurmctld.pid"
fi

if alive slurmctld "$PIDS/slurmctld.pid"; then
  log "slurmctld already running (pid $(pid_of "$PIDS/slurmctld.pid"))"
else
  log "starting slurmctld"
  rm -f "$PIDS/slurmctld.pid"
  run_clean slurmctld </dev/null >>"$LOGS/slurmctld.log" 2>&1 || die "slurmctld failed to start"
  wait_until 30 "slurmctld pidfile" alive slurmctld "$PIDS/slurmctld.pid"
fi
ctld_ok() { sinfo -h >/dev/null 2>&1; }
wait_alive slurmctld "$PIDS/slurmctld.pid" 60 "slurmctld to answer" ctld_ok

if alive slurmd "$PIDS/slurmd.pid"; then
  log "slurmd already running (pid $(pid_of "$PIDS/slurmd.pid"))"
else
  log "starting slurmd -N $HOST"
  rm -f "$PIDS/slurmd.pid"
  run_clean slurmd -N "$HOST" </dev/null >>"$LOGS/slurmd.log" 2>&1 || die "slurmd failed to start"
  wait_until 30 "slurmd pidfile" alive slurmd "$PIDS/slurmd.pid"
fi

# Node usable: idle, or mix/alloc/completing if a previous caller's jobs still run.
node_up() {
  local st
  st=$(sinfo -h -n "$HOST" -o %t 2>/dev/null) || return 1
  [[ $st =~ ^(idle|mix|mixed|alloc|allocated|comp|completing)$ ]]
}
log "waiting for node $HOST to be idle"
end=$((SECONDS + 60))
resumed=0
until node_up; do
  # A node left down/drained by an earlier run (e.g. "Kill task failed") is not
  # returned to service automatically; this cluster is ours, so resume it once.
  if ((!resumed)) && [[ $(sinfo -h -n "$HOST" -o %t 2>/dev/null) =~ ^(down|drain|drng|fail) ]]
  then
    log "node $HOST is $(sinfo -h -n "$HOST" -o '%t (%E)'); resuming it"
    scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
    resumed=1
  fi
  alive slurmd "$PIDS/slurmd.pid" || die "slurmd exited while waiting for node $HOST"
  alive slurmctld "$PIDS/slurmctld.pid" || die "slurmctld exited while waiting for node $HOST"
  ((SECONDS < end)) || die "timed out after 60s waiting for node $HOST to become idle;" \
    "sinfo says: $(sinfo -h -n "$HOST" -o '%t %E' 2>&1 || true)"
  sleep 0.5
done

# Accounting works: sacct answers and slurmctld has registered with slurmdbd.
acct_ok() {
  sacct -n -X -S now-1minutes >/dev/null 2>&1 || return 1
  [[ -n $(sacctmgr -n -P show cluster "$CLUSTER" format=controlhost 2>/dev/null) ]]
}
wait_until 60 "sacct to work (slurmctld registered with slurmdbd)" acct_ok

trap - ERR
log "SLURM test cluster '$CLUSTER' is up: node $HOST is $(sinfo -h -n "$HOST" -o %t)," \
  "state in $STATE, pids: $(cd "$PIDS" && for f in *.pid; do printf '%s=%s ' "${f%.pid}" "$(pid_of "$f")"; done)"
