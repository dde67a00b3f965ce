#!/usr/bin/env bash
# What the cluster tests (Tests/cli/test_cluster.sh, Tests/cli/test_slurm.sh) need: Debian's
# Slurm (controller, node daemon, client commands), MUNGE and GNU parallel, and a Python venv
# with kubernetes-validate (the Kubernetes JSON schemas) in .build/cluster-venv. Installs only
# what is missing; apt-get needs root or sudo. Usage: scripts/cluster/setup-cluster.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
packages=(slurmctld slurmd slurm-client munge parallel python3-venv python3-yaml)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-cluster: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  # the packages' own daemons are not needed: the tests start theirs with their own settings
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
venv=.build/cluster-venv
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  echo "setup-cluster: kubernetes-validate into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q kubernetes-validate==1.37.0
fi
