#!/usr/bin/env bash
# Installs Debian's Slurm (controller, node daemon, client commands) and MUNGE, for the
# single-node Slurm test (Tests/cli/test_slurm.sh). Only what is missing; needs root or sudo.
# Usage: scripts/cluster/setup-slurm.sh
set -euo pipefail
packages=(slurmctld slurmd slurm-client munge)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "setup-slurm: installing ${missing[*]}"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
# policy-rc.d 101: do not start the daemons now (the test starts its own, with its own config)
$SUDO env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
