# A single-node Slurm cluster on 127.0.0.1 for the tests, all of it inside one folder: source
# this file, then `slurm_start DIR` (MUNGE with its own key and socket, slurmctld and slurmd
# with a slurm.conf written into DIR; exports SLURM_CONF) and `slurm_stop` (ends the daemons
# it started, by their process ids). Needs root (the daemons run as root) and Debian's
# slurmctld, slurmd, slurm-client and munge (scripts/cluster/setup-slurm.sh installs them).

slurm_free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# slurm_start DIR: returns non-zero (and prints the daemons' logs) when the node does not come up.
slurm_start() {
  SLURM_DIR=$1
  mkdir -p "$SLURM_DIR/state" "$SLURM_DIR/spool" "$SLURM_DIR/munge"
  chmod 700 "$SLURM_DIR/munge"
  dd if=/dev/urandom of="$SLURM_DIR/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$SLURM_DIR/munge/munge.key"
  MUNGE_SOCKET=$SLURM_DIR/munge/munge.socket
  munged --force --key-file "$SLURM_DIR/munge/munge.key" --socket "$MUNGE_SOCKET" \
    --pid-file "$SLURM_DIR/munge/munged.pid" --log-file "$SLURM_DIR/munge/munged.log" \
    --seed-file "$SLURM_DIR/munge/munged.seed" || { echo "munged did not start"; return 1; }
  local cpus; cpus=$(nproc)
  cat > "$SLURM_DIR/slurm.conf" <<CONF
ClusterName=fptest
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$(slurm_free_port)
SlurmdPort=$(slurm_free_port)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/slurmctld.log
SlurmdLogFile=$SLURM_DIR/slurmd.log
# no cgroups: processes are tracked through /proc, tasks are not bound (works in containers)
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=local Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF=$SLURM_DIR/slurm.conf
  slurmctld -D -i -f "$SLURM_CONF" >"$SLURM_DIR/slurmctld.out" 2>&1 &
  SLURMCTLD_PID=$!
  slurmd -D -N localhost -f "$SLURM_CONF" >"$SLURM_DIR/slurmd.out" 2>&1 &
  SLURMD_PID=$!
  local i
  for i in $(seq 1 60); do
    if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then return 0; fi
    sleep 0.5
  done
  echo "slurm did not come up; logs:"
  tail -n 15 "$SLURM_DIR"/slurmctld.log "$SLURM_DIR"/slurmd.log "$SLURM_DIR"/*.out "$SLURM_DIR/munge/munged.log" 2>/dev/null
  return 1
}

# slurm_wait JOBID [SECONDS]: until no task of the job is pending or running.
slurm_wait() {
  local i
  for i in $(seq 1 $((${2:-300} * 2))); do
    [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && return 0
    sleep 0.5
  done
  return 1
}

slurm_stop() {
  [ -n "${SLURMD_PID:-}" ] && kill "$SLURMD_PID" 2>/dev/null && wait "$SLURMD_PID" 2>/dev/null
  [ -n "${SLURMCTLD_PID:-}" ] && kill "$SLURMCTLD_PID" 2>/dev/null && wait "$SLURMCTLD_PID" 2>/dev/null
  if [ -f "${SLURM_DIR:-}/munge/munged.pid" ]; then kill "$(cat "$SLURM_DIR/munge/munged.pid")" 2>/dev/null; fi
  SLURMD_PID=; SLURMCTLD_PID=
}
