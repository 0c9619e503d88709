#!/bin/sh
# README's first command's demo, timed as on a fresh clone (an empty data folder: the bundled
# sample), with the CPU of everything it starts: /usr/bin/time misses the sandboxed kernels
# (they are not its waited-for children), so the run goes into a cpuacct cgroup of its own
# (cgroup v1, as root; nothing is limited there, only counted). From the repository's root:
#
#     sh benchmarks/demo_time.sh [RUNS]      (default 3)
#
# Prints, per run, the load average at its start, the wall time, and the CPU (user, sys).
set -eu
runs=${1:-3}
i=1
while [ "$i" -le "$runs" ]; do
    group=/sys/fs/cgroup/cpuacct/dlcourse-demo-time-$$-$i
    mkdir "$group"
    data=$(mktemp -d)
    out=$(mktemp -d)
    load=$(cut -d' ' -f1 /proc/loadavg)
    start=$(date +%s.%N)
    sh -c 'echo $$ > "$1/cgroup.procs"; exec env DLCOURSE_DATA="$2" .venv/bin/dlcourse demo --out "$3"' \
        sh "$group" "$data" "$out" > "$out.log" 2>&1 || { cat "$out.log"; exit 1; }
    end=$(date +%s.%N)
    user=$(awk '{printf "%.1f", $1 / 1e9}' "$group/cpuacct.usage_user")
    sys=$(awk '{printf "%.1f", $1 / 1e9}' "$group/cpuacct.usage_sys")
    wall=$(awk -v start="$start" -v end="$end" 'BEGIN { printf "%.1f", end - start }')
    echo "run $i: load $load at its start, $wall s wall, CPU $user s user + $sys s sys"
    rmdir "$group"
    rm -rf "$data" "$out" "$out.log"
    i=$((i + 1))
done
