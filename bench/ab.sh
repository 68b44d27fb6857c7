#!/usr/bin/env bash
# A/B of two builds on one transfer: alternating 1 GiB downloads (or uploads) through two
# gateway + container pairs, with the split bench/run.sh uses (gateway alone on CPU 0;
# container and curl on CPU 1). Prints each side's MB/s and the gateway's and container's
# CPU ticks (1/100 s) per run, and the medians. Both pairs run at once (the idle one sleeps), so drift hits both alike.
#
#   bash bench/ab.sh down|up ROUNDS GATEWAY_A CONTAINER_A GATEWAY_B CONTAINER_B
#
# e.g. keep a copy of the release examples, change the code, rebuild, then
#   bash bench/ab.sh down 10 /tmp/old/gateway /tmp/old/container \
#       target/release/examples/gateway target/release/examples/container
#
# Env: AB_BYTES (default 1 GiB), AB_PACKET (default 8192), AB_GATEWAY_ARGS (e.g. --busy-poll 1000).
# This machine is noisy: the same binary on both sides has differed by 10 % in one run, so
# swap A and B and run again before believing a difference under ~10 %.
set -euo pipefail

mode=${1:?down|up}; rounds=${2:?rounds}; shift 2
[ $# = 4 ] || { echo "usage: $0 down|up ROUNDS GATEWAY_A CONTAINER_A GATEWAY_B CONTAINER_B" >&2; exit 2; }
BYTES=${AB_BYTES:-$((1 << 30))}
PACKET=${AB_PACKET:-8192}
WORK=$(mktemp -d)
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

GW_PORT=(); GW_PID=(); CT_PID=()
for side in 0 1; do
    gw=$1 ct=$2; shift 2
    cport=$(free_port)
    taskset -c 1 "$ct" --listen "127.0.0.1:$cport" --packet-size "$PACKET" >"$WORK/ct$side.log" 2>&1 &
    PIDS+=($!); CT_PID+=($!)
    wait_port "$cport" || { echo "container $side did not start" >&2; exit 1; }
    gport=$(free_port)
    # shellcheck disable=SC2086
    taskset -c 0 "$gw" --listen "127.0.0.1:$gport" --backend "ajp://127.0.0.1:$cport" \
        --packet-size "$PACKET" --pool-max 64 --cping never ${AB_GATEWAY_ARGS:-} >"$WORK/gw$side.log" 2>&1 &
    PIDS+=($!); GW_PID+=($!); GW_PORT+=("$gport")
    wait_port "$gport" || { echo "gateway $side did not start" >&2; exit 1; }
done

[ "$mode" = up ] && truncate -s "$BYTES" "$WORK/upload.bin"
transfer() { # port mode -> bytes/s
    if [ "$2" = down ]; then
        taskset -c 1 curl -sf -o /dev/null --max-time 120 -w '%{speed_download}' "http://127.0.0.1:$1/download?bytes=$BYTES"
    else
        taskset -c 1 curl -sf -o /dev/null --max-time 120 -H 'Expect:' -X POST -T "$WORK/upload.bin" \
            -w '%{speed_upload}' "http://127.0.0.1:$1/discard"
    fi
}
# Warm-up: one transfer each (the first upload through a fresh pair has run at a quarter
# of the speed of the next).
for side in 0 1; do transfer "${GW_PORT[$side]}" "$mode" >/dev/null; done

declare -a MBS0 MBS1
for r in $(seq "$rounds"); do
    for side in 0 1; do
        t0=$(ticks "${GW_PID[$side]}"); c0=$(ticks "${CT_PID[$side]}")
        speed=$(transfer "${GW_PORT[$side]}" "$mode")
        t1=$(ticks "${GW_PID[$side]}"); c1=$(ticks "${CT_PID[$side]}")
        mbs=$(awk -v s="$speed" 'BEGIN {printf "%d", s / 1e6}')
        printf 'round %d %s: %5d MB/s, CPU ticks: gateway %d, container %d\n' \
            "$r" "$([ $side = 0 ] && echo A || echo B)" "$mbs" $((t1 - t0)) $((c1 - c0))
        if [ $side = 0 ]; then MBS0+=("$mbs"); else MBS1+=("$mbs"); fi
    done
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
echo "median MB/s: A $(median "${MBS0[@]}"), B $(median "${MBS1[@]}")"
