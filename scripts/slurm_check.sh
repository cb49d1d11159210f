#!/usr/bin/env bash
# slurm_check.sh - data-parallel training started by Slurm's srun instead of mpirun, on one
# Debian machine as root: installs Slurm, MUNGE and Open MPI from Debian's packages when
# missing, builds mpi_train and clvit (BUILD_DIR) when missing, runs a private single-node
# cluster (slurmctld + slurmd under a temporary SLURM_CONF, on ports of their own, so a
# system Slurm is left alone; munged only when none answers), then under srun --mpi=$MPI:
#   1. srun -n 2 hostname; the PMI plugin is in srun --mpi=list
#   2. mpi_train np 2 (20 steps of tests/mpi_train.c) matches one process (--check-one), is
#      bit-identical to the same run under mpirun, and a single process run --compare's it
#   3. every rank's rank and local rank (clvit_dist_init) as srun numbers them (SLURM_PROCID,
#      SLURM_LOCALID), np 4 on this node: the local rank picks the rank's --device item
#   4. clvit train on MNIST, np 2: rank 0 alone prints, "MPI: 2 ranks"; its checkpoint is
#      bit-identical to the same run under mpirun (skipped when $MNIST has no MNIST)
#   5. srun --mpi=none -n 2: clvit train stops with one line per task (not ranks of one job)
#   6. a failing rank (an error, then SIGKILL) ends the step: non-zero exit, within the timeout
# Prints ok/FAIL lines, stops the daemons it started, exits 1 when a check failed.
#   scripts/slurm_check.sh [BUILD_DIR]     env: MPI (pmix), MNIST (data/mnist),
#                                          SLURM_PORT (16817: slurmctld, and +1 for slurmd)
# Debian 12's Open MPI 4.1 joins srun through PMIx only (--mpi=pmix or pmix_v4); with
# --mpi=pmi2 its MPI_Init fails ("OMPI was not built with SLURM's PMI support").
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
mpi=${MPI:-pmix}
mnist=${MNIST:-data/mnist}
port=${SLURM_PORT:-16817}
[[ $(id -u) -eq 0 ]] || { echo "slurm_check: run as root (installs, starts daemons)" >&2; exit 2; }

packages=(slurm-wlm slurmctld slurmd slurm-client munge openmpi-bin libopenmpi-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "slurm_check: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [[ ! -x $build/mpi_train || ! -x $build/clvit ]]; then
  echo "slurm_check: building mpi_train and clvit in $build"
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j1 --target mpi_train clvit_cli >/dev/null
fi
[[ -x $build/mpi_train ]] || { echo "slurm_check: no $build/mpi_train (built without MPI?)" >&2; exit 2; }

dir=$(mktemp -d /tmp/slurm_check.XXXXXX)
chmod 755 "$dir"
started_munged=""
# shellcheck disable=SC2317 # run by the EXIT trap
stop() {
  local f pid
  for f in "$dir/slurmd.pid" "$dir/slurmctld.pid"; do
    [[ -s $f ]] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  [[ -n $started_munged ]] && kill "$started_munged" 2>/dev/null
  rm -rf "$dir"
}
trap stop EXIT

# MUNGE, Slurm's authentication: a key and a running munged
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  if [[ ! -s /etc/munge/munge.key ]]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
  fi
  mkdir -p /run/munge
  chown munge:munge /run/munge
  chmod 755 /run/munge
  su -s /bin/sh munge -c /usr/sbin/munged
  started_munged=$(cat /run/munge/munged.pid)
  munge -n | unmunge >/dev/null
  echo "slurm_check: started munged ($started_munged)"
fi

host=$(hostname -s)
mkdir -p "$dir/state" "$dir/spool"
cat >"$dir/slurm.conf" <<EOF
ClusterName=clvitcheck
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
SlurmctldPort=$port
SlurmdPort=$((port + 1))
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=check Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
export SLURM_CONF=$dir/slurm.conf
logs() { tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" 2>/dev/null || true; }
slurmctld || { echo "FAIL: slurmctld did not start"; logs; exit 1; }
slurmd || { echo "FAIL: slurmd did not start"; logs; exit 1; }
for _ in $(seq 60); do
  [[ $(sinfo -h -n "$host" -o %t 2>/dev/null) == idle ]] && break
  sleep 0.5
done
if [[ $(sinfo -h -n "$host" -o %t 2>/dev/null) != idle ]]; then
  echo "FAIL: node $host not idle in sinfo"
  sinfo || true
  logs
  exit 1
fi
echo "slurm_check: $(srun --version), node $host idle, $(mpirun --version | head -n 1)"

export CLVIT_GEMM_TUNE=0 # kernels by rule: runs and ranks comparable
# the checks: a failing one is a FAIL line, not the end of the script
set +e
fail=0
check() { # what, status
  if [[ $2 -eq 0 ]]; then echo "ok: $1"; else echo "FAIL: $1 (status $2)"; fail=1; fi
}
sr() { # np, then the command
  local np=$1
  shift
  timeout 300 srun --mpi="$mpi" -n "$np" --overcommit "$@"
}
mr() { # np, then the command
  local np=$1
  shift
  timeout 300 mpirun --allow-run-as-root --oversubscribe -np "$np" "$@"
}

out=$(timeout 60 srun -n 2 hostname 2>&1)
[[ $? -eq 0 && $(grep -c "^$host\$" <<<"$out") -eq 2 ]]
check "srun -n 2 hostname: $(tr '\n' ' ' <<<"$out")" $?
plugins=$(srun --mpi=list 2>&1 | tail -n +2 | tr -s '\n\t ' ' ')
grep -qw -- "$mpi" <<<"$plugins"
check "srun --mpi=list offers $mpi:$plugins" $?

echo "--- mpi_train under srun --mpi=$mpi -n 2"
sr 2 "$build/mpi_train" --steps 20 --check-one --out "$dir/srun.bin"
check "srun np 2 matches one process" $?
mr 2 "$build/mpi_train" --steps 20 --out "$dir/mpirun.bin"
check "mpirun np 2" $?
cmp "$dir/srun.bin" "$dir/mpirun.bin"
check "srun np 2 and mpirun np 2: bit-identical" $?
timeout 300 "$build/mpi_train" --steps 20 --compare "$dir/srun.bin"
check "one process against srun np 2 (--compare)" $?

# ranks as clvit_dist_init numbers them vs srun's: rank == SLURM_PROCID, local == SLURM_LOCALID
cat >"$dir/ranks.c" <<'EOF2'
#include "clvit.h"
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    clvit_dist_info di;
    if (clvit_dist_init(&argc, &argv, &di)) return 1;
    printf("rank %d of %d local %d of %d mpi %d SLURM_PROCID %s SLURM_LOCALID %s\n", di.rank,
           di.nranks, di.local_rank, di.local_nranks, di.mpi, getenv("SLURM_PROCID"),
           getenv("SLURM_LOCALID"));
    clvit_dist_finalize();
    return 0;
}
EOF2
bdir=$(cd "$build" && pwd)
cc -o "$dir/ranks" "$dir/ranks.c" -Iinclude -I"$bdir" -L"$bdir" -lclvit -Wl,-rpath,"$bdir" &&
  sr 4 "$dir/ranks" >"$dir/ranks.out" 2>&1
sort "$dir/ranks.out"
awk '$1 == "rank" && $4 == 4 && $8 == 4 && $10 == 1 && $2 == $12 && $6 == $14 { n++ }
     END { exit n == 4 ? 0 : 1 }' "$dir/ranks.out"
check "srun np 4: rank = SLURM_PROCID, local rank = SLURM_LOCALID on every rank" $?

if [[ -f $mnist/train-images-idx3-ubyte || -f $mnist/train-images-idx3-ubyte.gz ]]; then
  echo "--- clvit train under srun --mpi=$mpi -n 2"
  args=(train --preset vit_mnist_tiny --data "mnist:$mnist" --limit 2560 --epochs 1 --batch 64
        --no-test)
  sr 2 "$build/clvit" "${args[@]}" --save "$dir/srun.safetensors" >"$dir/cli_srun.out" 2>&1
  check "clvit train, srun np 2" $?
  cat "$dir/cli_srun.out"
  [[ $(grep -c "MPI: 2 ranks" "$dir/cli_srun.out") -eq 1 &&
    $(grep -c "^training done" "$dir/cli_srun.out") -eq 1 ]]
  check "clvit train: \"MPI: 2 ranks\" and \"training done\" once each (rank 0 alone prints)" $?
  mr 2 "$build/clvit" "${args[@]}" --save "$dir/mpirun.safetensors" >"$dir/cli_mpirun.out" 2>&1
  check "clvit train, mpirun np 2" $?
  cmp "$dir/srun.safetensors" "$dir/mpirun.safetensors"
  check "clvit train: srun and mpirun checkpoints bit-identical" $?
else
  echo "skip: clvit train (no MNIST in $mnist; scripts/fetch_data.sh, or MNIST=DIR)"
fi

# srun without a PMI plugin: the tasks are not ranks of one job; clvit says so and stops
timeout 120 srun --mpi=none -n 2 --overcommit "$build/clvit" train --preset vit_mnist_tiny \
  --data "mnist:$mnist" --max-steps 1 >"$dir/none.out" 2>&1
rc=$?
cat "$dir/none.out"
[[ $rc -ne 0 && $rc -ne 124 ]] && grep -q "srun started 2 tasks, but they are not MPI ranks" "$dir/none.out"
check "srun --mpi=none np 2: clvit train refuses (exit $rc)" $?

for how in error kill; do
  start=$SECONDS
  sr 2 "$build/mpi_train" --steps 20 --fail-rank 1 --fail-step 3 --fail-how $how >"$dir/out" 2>&1
  rc=$?
  took=$((SECONDS - start))
  [[ $rc -ne 0 && $rc -ne 124 ]] && grep -q "mpi_train: rank 1: " "$dir/out"
  check "srun np 2, rank 1 fails ($how): the step ends, exit $rc after ${took}s" $?
done
exit $fail
