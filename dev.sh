#!/usr/bin/env bash
# dev.sh: installs what is missing, builds ecore, and runs its quickstart or its tests.
#
#   ./dev.sh quickstart   the quickstart sweep under MPI with 2 ranks
#   ./dev.sh test         the whole test suite (CTest), then the sanitizer build's tests
#   ./dev.sh build        just install what is missing and build (build/harness/ecore)
#   ./dev.sh deps         just check (and, as root, install) the dependencies
#
# Dependencies are installed with apt when missing and you are root; otherwise the exact
# packages to install are printed (apt, dnf, spack or module names) and nothing is changed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${ECORE_BUILD_DIR:-$here/build}
asan_build=${ECORE_ASAN_BUILD_DIR:-$here/build-asan}
jobs=$(nproc 2>/dev/null || echo 2)

build_pkgs=(gcc make cmake pkg-config libopenmpi-dev openmpi-bin libopenblas-dev libyaml-dev
            libhdf5-openmpi-dev hdf5-tools zlib1g-dev libsvm-dev libssl-dev)
test_pkgs=(python3-h5py python3-numpy librsvg2-bin python3-pil python3-torchvision python3-yaml wordnet-base slurmctld slurmd slurm-client munge)

say() { printf 'dev.sh: %s\n' "$*" >&2; }

missing_debs() {
  local p out=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || out+=("$p")
  done
  echo "${out[@]:-}"
}

print_instructions() {
  cat >&2 <<EOF
ecore needs: a C17 compiler, CMake >= 3.18, pkg-config, Open MPI, OpenBLAS (CBLAS), libyaml,
HDF5 (the parallel build where available), zlib, libsvm, OpenSSL (libcrypto); for the tests
also Python 3 with h5py, numpy, PIL and torchvision, and librsvg's rsvg-convert.
Install them with one of:
  apt:    sudo apt-get install -y ${build_pkgs[*]} ${test_pkgs[*]}
  dnf:    sudo dnf install -y gcc make cmake pkgconf openmpi-devel openblas-devel libyaml-devel \\
            hdf5-openmpi-devel zlib-devel libsvm-devel openssl-devel python3-h5py python3-numpy
          (then: module load mpi/openmpi-x86_64)
  spack:  spack install openmpi openblas libyaml hdf5+mpi zlib libsvm openssl cmake py-h5py py-numpy
          (then: spack load openmpi openblas libyaml hdf5 zlib libsvm openssl cmake py-h5py)
  module: module load gcc cmake openmpi openblas libyaml hdf5 zlib libsvm openssl   (names vary by site)
EOF
}

# ensure PKGS...: installs the missing Debian packages (as root), or explains and fails.
ensure() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    if command -v cmake >/dev/null && command -v mpicc >/dev/null && pkg-config --exists yaml-0.1; then
      return 0  # not Debian, but the tools are there (modules, spack): try the build
    fi
    print_instructions
    exit 1
  fi
  local miss
  miss=$(missing_debs "$@")
  [ -z "$miss" ] && return 0
  if [ "$(id -u)" -eq 0 ]; then
    say "installing: $miss"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $miss >&2
  else
    say "missing packages: $miss"
    say "install them with: sudo apt-get install -y $miss"
    print_instructions
    exit 1
  fi
}

configure_build() {  # DIR [cmake args...]
  local dir=$1
  shift
  cmake -S "$here" -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
}

mpi_env() {
  # Open MPI refuses to run as root unless told; each rank gets one BLAS thread so that
  # ranks x threads fits the cores.
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
}

case "${1:-help}" in
  deps)
    ensure "${build_pkgs[@]}" "${test_pkgs[@]}"
    ;;
  build)
    ensure "${build_pkgs[@]}"
    configure_build "$build"
    ;;
  quickstart)
    ensure "${build_pkgs[@]}"
    configure_build "$build"
    mpi_env
    shift
    exec mpirun --oversubscribe -np 2 "$build/harness/ecore" sweep "$here/configs/quickstart.yaml" "$@"
    ;;
  test)
    ensure "${build_pkgs[@]}" "${test_pkgs[@]}"
    configure_build "$build"
    mpi_env
    say "tests (release build)"
    (cd "$build" && ctest --output-on-failure --timeout 1200)
    say "tests (sanitizer build: AddressSanitizer + UndefinedBehaviorSanitizer; long tests excluded)"
    configure_build "$asan_build" -DECORE_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
    # Open MPI's own allocations are never freed: leak checking stays off.
    ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
      bash -c "cd '$asan_build' && ctest --output-on-failure --timeout 1200 -LE long"
    ;;
  help | -h | --help)
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    ;;
  *)
    say "unknown command '$1' (quickstart, test, build, deps)"
    exit 2
    ;;
esac
