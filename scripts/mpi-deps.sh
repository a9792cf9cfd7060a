#!/usr/bin/env bash
# Installs what the MPI backend builds and runs with (Open MPI, and libclang for the
# rsmpi bindings) from Debian's packages; does nothing when they are already present.
set -euo pipefail
packages=(libopenmpi-dev openmpi-bin libclang-dev)
if command -v mpirun >/dev/null && dpkg -s "${packages[@]}" >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "error: Open MPI (mpirun, mpi.h) and libclang are missing and there is no apt-get; install them with your package manager" >&2
    exit 2
fi
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "installing ${packages[*]} (apt-get)"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
