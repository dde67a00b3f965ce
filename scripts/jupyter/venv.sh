#!/usr/bin/env bash
# Creates (once) the Python virtual environment the Jupyter tests use and prints its python:
# ipykernel, jupyter_client, nbclient, nbformat, jupyter_kernel_test from PyPI by package name.
# FP_JUPYTER_VENV overrides the folder (default .build/jupyter-venv). Needs python3-venv.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${FP_JUPYTER_VENV:-.build/jupyter-venv}
packages=(ipykernel jupyter_client nbclient nbformat jupyter_kernel_test)
if ! "$venv/bin/python" -c "import ipykernel, jupyter_client, nbclient, nbformat, jupyter_kernel_test" 2>/dev/null; then
  if ! python3 -c "import venv, ensurepip" 2>/dev/null; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
  fi
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check "${packages[@]}" >&2
fi
echo "$(cd "$venv" && pwd)/bin/python"
