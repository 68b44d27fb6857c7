#!/usr/bin/env bash
# tower-ajp against Apache httpd, side by side, on this machine, in one run.
#
#   bash bench/run.sh            # full run (~10-14 min on 2 cores, builds included)
#   bash bench/run.sh --quick    # smoke mode: every row, tiny runs (well under a minute once built)
#
# Installs what it needs (scripts/install-peers.sh: apache2, libapache2-mod-jk, wrk, curl,
# tomcat10, a JDK), builds the release examples, starts everything on 127.0.0.1, measures,
# stops everything it started, prints ONE markdown table and writes it to
# bench/out/results-<date>.md. See "Benchmarks" in README.md for what is measured and how.
#
# Environment:
#   BENCH_PROFILE=release|dev  cargo profile of the binaries (default release; the smoke
#                              test uses dev so that it reuses `cargo test`'s build)
#   BENCH_RUNS, BENCH_SECS     runs per cell and seconds per wrk run (default 3 x 3 s; quick 1 x 1 s)
#   BENCH_XFER_BYTES           size of the big download/upload (default 1 GiB; quick 16 MiB;
#                              the upload to Tomcat is at most 256 MiB)
#   BENCH_XFER_RUNS            runs per transfer cell (default 5; quick 1)
#   BENCH_TOMCAT=0             skip the second run against real Tomcat 10
#   BENCH_FDPASS=0             skip the fdpass hand-off benchmark
#   BENCH_OUT                  output file (default bench/out/results-<date>.md)
#   BENCH_PIN=0                share every CPU among everything (default: with 2 or more CPUs,
#                              the proxy under test gets CPU 0 alone; wrk, curl and the
#                              backend get the others)
#   BENCH_HALTPOLL_NS=N        a diagnostic for virtual machines (needs root): sets the guest's
#                              idle halt-polling (/sys/module/haltpoll/parameters/guest_halt_poll_ns)
#                              for the run and restores it after. With 0, every idle vCPU halts
#                              and each cross-CPU wake-up costs a VM exit; the table says which.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

QUICK=0
for a in "$@"; do
    case "$a" in
        --quick) QUICK=1 ;;
        -h | --help) sed -n '2,28p' "$0"; exit 0 ;;
        *) echo "bench: unknown argument $a (try --help)" >&2; exit 2 ;;
    esac
done

PROFILE=${BENCH_PROFILE:-release}
if [ "$QUICK" = 1 ]; then
    RUNS=${BENCH_RUNS:-1}; SECS=${BENCH_SECS:-1}
    XFER_BYTES=${BENCH_XFER_BYTES:-$((16 << 20))}; XFER_RUNS=${BENCH_XFER_RUNS:-1}
    FD_ROUNDS=1; FD_SECS=0.5; LIMIT=600
else
    RUNS=${BENCH_RUNS:-3}; SECS=${BENCH_SECS:-3}
    XFER_BYTES=${BENCH_XFER_BYTES:-$((1 << 30))}; XFER_RUNS=${BENCH_XFER_RUNS:-5}
    FD_ROUNDS=5; FD_SECS=2; LIMIT=1500
fi
CONCS="1 64 256"
# Every run stops by itself (wrk has -d, curl --max-time, cargo a timeout); this is the
# backstop: the whole script runs under timeout(1), and its TERM runs the cleanup below.
if [ -z "${BENCH_UNDER_TIMEOUT:-}" ]; then
    BENCH_UNDER_TIMEOUT=1 exec timeout -k 20 "$LIMIT" bash "$ROOT/bench/run.sh" "$@"
fi
PACKET=8192
# CPU split. On a box this small the load generator and the backend would otherwise take CPU
# from the proxy under test, and the ratio would measure them as much as the proxy. Each proxy
# (the gateway, every httpd process, the direct backend's nothing) gets CPU 0; wrk, curl and
# the backend get the rest. Same for every proxy; tokio sizes its worker pool from the
# affinity mask, so the gateway runs one worker, as httpd runs its threads on the one CPU.
NCPU=$(nproc)
if [ "${BENCH_PIN:-1}" != 0 ] && [ "$NCPU" -ge 2 ] && command -v taskset >/dev/null; then
    PROXY_CPUS=0; LOAD_CPUS=1-$((NCPU - 1))
    ON_PROXY_CPUS=(taskset -c "$PROXY_CPUS")
    ON_LOAD_CPUS=(taskset -c "$LOAD_CPUS")
    CPU_SPLIT="the proxy under test alone on CPU $PROXY_CPUS; wrk, curl and the backend on CPUs $LOAD_CPUS"
    # A diagnostic c=1 cell runs with everything on this one CPU: no cross-CPU wake-ups, so
    # what is left of a request is the CPU work of wrk, proxy and backend (see README).
    ONE_CPU=${LOAD_CPUS%%-*}
else
    ON_PROXY_CPUS=()
    ON_LOAD_CPUS=()
    CPU_SPLIT="wrk, curl and the backend share the cores with the proxy"
fi
POOL=256            # backend connections per proxy (httpd: 4 processes x 64)
# The gateway runs twice: as it starts by default, and with --busy-poll (its workers poll for
# I/O instead of sleeping while clients are active, for BUSY_POLL_US after the last read or
# write; it costs CPU 0 while traffic flows, and nothing when idle). See README.
BUSY_POLL_US=1000
PROXIES="gw gwbp ajp jk direct"
GATEWAYS="gw gwbp"
declare -A NAME=([gw]="tower-ajp gateway" [gwbp]="tower-ajp gateway --busy-poll" [ajp]="httpd mod_proxy_ajp" [jk]="httpd mod_jk" [direct]="direct HTTP (ceiling)")

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- cleanup and watchdog
WORK=$(mktemp -d /tmp/tower-ajp-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
declare -A STOPPED
stop_pid() {
    local pid=$1 i
    [ -z "${STOPPED[$pid]:-}" ] || return 0
    STOPPED[$pid]=1
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
HALTPOLL=/sys/module/haltpoll/parameters/guest_halt_poll_ns
HALTPOLL_WAS=
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    [ -z "$HALTPOLL_WAS" ] || echo "$HALTPOLL_WAS" >"$HALTPOLL" 2>/dev/null || true
    [ -n "${BENCH_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM
if [ -n "${BENCH_HALTPOLL_NS:-}" ]; then
    [ -w "$HALTPOLL" ] || die "BENCH_HALTPOLL_NS: $HALTPOLL is not writable (not a KVM guest with haltpoll, or not root)"
    HALTPOLL_WAS=$(cat "$HALTPOLL")
    echo "$BENCH_HALTPOLL_NS" >"$HALTPOLL"
    log "guest halt-polling set to $BENCH_HALTPOLL_NS ns for this run (was $HALTPOLL_WAS)"
fi

# ---------------------------------------------------------------- install and build
bash scripts/install-peers.sh
for t in wrk curl python3 javac java /usr/sbin/apache2; do
    command -v "$t" >/dev/null 2>&1 || die "$t not found (run scripts/install-peers.sh as root)"
done
log "building the gateway and container examples ($PROFILE)"
timeout 1200 cargo build --locked -q --profile "$PROFILE" --example gateway --example container
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
if [ "$PROFILE" = dev ]; then BIN=$TARGET_DIR/debug/examples; else BIN=$TARGET_DIR/$PROFILE/examples; fi
[ -x "$BIN/gateway" ] && [ -x "$BIN/container" ] || die "examples not found in $BIN"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() { # port [seconds]
    local i
    for i in $(seq $((${2:-30} * 20))); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# ---------------------------------------------------------------- /proc accounting
# The processes of a proxy: the gateway is one process; httpd is its parent and children.
tree_pids() { echo "$1"; pgrep -P "$1" || true; }
# CPU ticks (utime+stime, plus reaped children's for the root) of a process tree.
cpu_ticks() {
    local root=$1 p sum=0 f
    for p in $(tree_pids "$root"); do
        f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
        set -- $f
        sum=$((sum + ${12} + ${13}))
        [ "$p" = "$root" ] && sum=$((sum + ${14} + ${15}))
    done
    echo "$sum"
}
# Peak RSS (VmHWM, KiB), summed over the tree (httpd: shared pages counted in each process).
hwm_kib() {
    local p sum=0 v
    for p in $(tree_pids "$1"); do
        v=$(awk '/^VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null) || continue
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}
TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------- results
declare -A VALS   # "backend|metric|proxy" -> space-separated values
declare -A CPU    # "backend|phase|proxy" -> ticks
declare -A REQS   # "backend|proxy" -> requests done in the GET phase
ERRORS=""
NOTES=""
add() { VALS["$1|$2|$3"]="${VALS["$1|$2|$3"]:-} $4"; }
median() { # values...
    [ $# -gt 0 ] || { echo ""; return; }
    printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'
}

declare -A URL PID
to_ms() { # wrk duration (850.00us, 1.23ms, 1.02s, 2.00m) -> ms
    awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000;
        printf "%.3f", n }'
}

run_wrk() { # backend proxy conc [one: on ONE_CPU, with everything else]
    local b=$1 p=$2 c=$3 key=$3 cell="c=$3" t=2 out on=("${ON_LOAD_CPUS[@]}")
    [ "$c" -lt 2 ] && t=1
    if [ "${4:-}" = one ]; then
        # Busy polling on the CPU that wrk and the backend need is a misconfiguration, not a
        # measurement: that gateway sits this cell out.
        [ "$p" = gwbp ] && return 0
        on=(taskset -c "$ONE_CPU"); key=${c}one; cell+=" on one CPU"
    fi
    out=$("${on[@]}" wrk -t"$t" -c"$c" -d"${SECS}s" --timeout 10s --latency "${URL[$p]}/hello" 2>&1) || {
        ERRORS+="$b $p $cell: wrk failed: $out"$'\n'; return 0; }
    local rps p50 p99 n bad
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    bad=$(grep -E 'Non-2xx' <<<"$out" || true)
    [ -n "$bad" ] && ERRORS+="$b ${NAME[$p]} $cell: $(tr '\n' ' ' <<<"$bad")"$'\n'
    # Socket errors are the proxy closing connections on wrk (httpd's event MPM does when busy):
    # reported, not fatal.
    bad=$(grep -E 'Socket errors' <<<"$out" || true)
    [ -n "$bad" ] && NOTES+="$b ${NAME[$p]} $cell: $(sed 's/^ *//' <<<"$bad")"$'\n'
    add "$b" "get$key" "$p" "$rps"
    add "$b" "p50_$key" "$p" "$(to_ms "$p50")"
    add "$b" "p99_$key" "$p" "$(to_ms "$p99")"
    # CPU per GET is over the split runs only.
    [ "$key" = "$c" ] && REQS["$b|$p"]=$(( ${REQS["$b|$p"]:-0} + ${n:-0} ))
    return 0
}

# Moves every thread of the proxies and of the backend (process trees) to other CPUs.
pin_all() { # proxy-cpus backend-cpus backend-pid
    local p pid
    for p in $GATEWAYS ajp jk; do
        for pid in $(tree_pids "${PID[$p]}"); do taskset -a -p -c "$1" "$pid" >/dev/null 2>&1 || true; done
    done
    for pid in $(tree_pids "$3"); do taskset -a -p -c "$2" "$pid" >/dev/null 2>&1 || true; done
}

run_down() { # backend proxy
    local out
    out=$("${ON_LOAD_CPUS[@]}" curl -s -o /dev/null --max-time 300 -w '%{http_code} %{size_download} %{speed_download}' \
        "${URL[$2]}/download?bytes=$XB") || true
    set -- "$1" "$2" $out
    if [ "${3:-}" != 200 ] || [ "${4:-}" != "$XB" ]; then
        ERRORS+="$1 ${NAME[$2]} download: got '$out'"$'\n'; return 0
    fi
    add "$1" down "$2" "$(awk -v s="$5" 'BEGIN {printf "%.1f", s / 1e6}')"
}

run_up() { # backend proxy
    local out body=$WORK/up-$2.out
    out=$("${ON_LOAD_CPUS[@]}" curl -s -o "$body" --max-time 300 -H 'Expect:' -X POST -T "$WORK/upload-$XB.bin" \
        -w '%{http_code} %{size_upload} %{speed_upload}' "${URL[$2]}/discard") || true
    set -- "$1" "$2" $out
    if [ "${3:-}" != 200 ] || [ "${4:-}" != "$XB" ] || ! grep -Eq "body_len.{1,4}$XB" "$body"; then
        ERRORS+="$1 ${NAME[$2]} upload: got '$out' $(head -c 200 "$body" 2>/dev/null | tr '\n' ' ')"$'\n'; return 0
    fi
    add "$1" up "$2" "$(awk -v s="$5" 'BEGIN {printf "%.1f", s / 1e6}')"
}

# Interleaved: run r goes through the proxies in order, run r+1 in reverse order (A B C D E, E D C B A).
order() { if [ $(($1 % 2)) = 0 ]; then echo "$PROXIES"; else echo "$PROXIES" | tr ' ' '\n' | tac | tr '\n' ' '; fi; }
measure() { # backend phase fn args...
    local b=$1 phase=$2 fn=$3; shift 3
    local r p before
    for r in $(seq 0 $((${RUNS_OVERRIDE:-$RUNS} - 1))); do
        for p in $(order "$r"); do
            before=$([ "$p" = direct ] && echo 0 || cpu_ticks "${PID[$p]}")
            "$fn" "$b" "$p" "$@"
            [ "$p" = direct ] || CPU["$b|$phase|$p"]=$(( ${CPU["$b|$phase|$p"]:-0} + $(cpu_ticks "${PID[$p]}") - before ))
        done
    done
}

# ---------------------------------------------------------------- the proxies
start_bg() { # name logfile cmd...
    local name=$1 logf=$2; shift 2
    "$@" >"$logf" 2>&1 &
    PIDS+=($!)
    LAST_PID=$!
}

httpd_conf() { # dir port kind(ajp|jk) backend_port
    local d=$1 port=$2 kind=$3 bport=$4
    mkdir -p "$d/logs" "$d/run" "$d/htdocs"
    {
        cat <<EOF
# generated by bench/run.sh
ServerRoot "$d"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$d/run/httpd.pid"
ErrorLog "$d/logs/error.log"
LogLevel warn
DefaultRuntimeDir "$d/run"
Mutex file:$d/run default
DocumentRoot "$d/htdocs"
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
# Event MPM sized for 256 concurrent clients, all processes started up front and kept:
# 4 processes x 64 threads = MaxRequestWorkers 256, no access log.
StartServers 4
ServerLimit 4
ThreadLimit 64
ThreadsPerChild 64
MaxRequestWorkers 256
MinSpareThreads 64
MaxSpareThreads 256
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 30
Timeout 60
EOF
        [ "$(id -u)" = 0 ] && printf 'User www-data\nGroup www-data\n'
        if [ "$kind" = ajp ]; then
            cat <<EOF
LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so
LoadModule proxy_ajp_module /usr/lib/apache2/modules/mod_proxy_ajp.so
# A pool of up to 64 backend connections per process (= ThreadsPerChild; 256 in all), kept 120 s.
ProxyIOBufferSize $PACKET
ProxyPass "/" "ajp://127.0.0.1:$bport/" max=64 ttl=120
EOF
        else
            cat >"$d/workers.properties" <<EOF
worker.list=be
worker.be.type=ajp13
worker.be.host=127.0.0.1
worker.be.port=$bport
worker.be.connection_pool_size=64
worker.be.max_packet_size=$PACKET
EOF
            cat <<EOF
LoadModule jk_module /usr/lib/apache2/modules/mod_jk.so
JkWorkersFile "$d/workers.properties"
JkShmFile "$d/run/jk.shm"
JkLogFile "$d/logs/mod_jk.log"
JkLogLevel error
JkMount /* be
EOF
        fi
    } >"$d/httpd.conf"
}

# Starts the proxies (both gateways, httpd with each module) in front of AJP port $2; $3 is the direct HTTP URL.
start_proxies() { # backend ajp_port direct_url
    local b=$1 bport=$2 port
    local gw extra
    for gw in $GATEWAYS; do
        port=$(free_port); extra=()
        [ "$gw" = gwbp ] && extra=(--busy-poll "$BUSY_POLL_US")
        start_bg "$gw" "$WORK/$b-$gw.log" "${ON_PROXY_CPUS[@]}" env RUST_LOG=warn "$BIN/gateway" --listen "127.0.0.1:$port" \
            --backend "ajp://127.0.0.1:$bport" --packet-size "$PACKET" --pool-max "$POOL" --cping never "${extra[@]}"
        PID[$gw]=$LAST_PID; URL[$gw]="http://127.0.0.1:$port"
        wait_port "$port" 20 || die "${NAME[$gw]} did not start: $(tail -5 "$WORK/$b-$gw.log")"
    done
    local kind
    for kind in ajp jk; do
        port=$(free_port)
        httpd_conf "$WORK/$b-httpd-$kind" "$port" "$kind" "$bport"
        start_bg "httpd-$kind" "$WORK/$b-httpd-$kind/logs/stderr.log" \
            "${ON_PROXY_CPUS[@]}" /usr/sbin/apache2 -f "$WORK/$b-httpd-$kind/httpd.conf" -DFOREGROUND
        PID[$kind]=$LAST_PID; URL[$kind]="http://127.0.0.1:$port"
        wait_port "$port" 20 || die "httpd ($kind) did not start: $(tail -5 "$WORK/$b-httpd-$kind/logs/error.log" "$WORK/$b-httpd-$kind/logs/stderr.log")"
    done
    URL[direct]=$3
    local p
    for p in $PROXIES; do
        curl -sf --max-time 10 "${URL[$p]}/hello" | grep -q 'Hello, AJP!' || die "$b: ${NAME[$p]} does not answer /hello"
    done
}
stop_proxies() {
    local p
    for p in $GATEWAYS ajp jk; do stop_pid "${PID[$p]}"; done
}

run_backend() { # backend-label backend-pid
    local b=$1 bpid=$2 p
    log "$b: warm-up"
    RUNS_OVERRIDE=1 SECS_SAVE=$SECS
    SECS=1; measure "$b" warm run_wrk 64; SECS=$SECS_SAVE
    XB=$WARM_BYTES; measure "$b" warm run_down; measure "$b" warm run_up; XB=$XFER_BYTES
    unset RUNS_OVERRIDE
    VALS=(); for k in "${!CPU[@]}"; do [[ $k == "$b|warm|"* ]] && unset "CPU[$k]"; done
    # The warm-up's figures are thrown away (VALS is reset per backend before anything counts).
    REQS=()
    log "$b: $XFER_RUNS x download of $XFER_BYTES bytes, upload of ${UP_BYTES[$b]} bytes"
    RUNS_OVERRIDE=$XFER_RUNS measure "$b" xfer run_down
    XB=${UP_BYTES[$b]}; RUNS_OVERRIDE=$XFER_RUNS measure "$b" xfer run_up; XB=$XFER_BYTES
    for p in $GATEWAYS ajp jk; do add "$b" rss_xfer "$p" "$(( $(hwm_kib "${PID[$p]}") / 1024 ))"; done
    local c
    for c in $CONCS; do
        log "$b: small GETs, c=$c, $RUNS x ${SECS}s per proxy"
        measure "$b" get run_wrk "$c"
    done
    if [ -n "${ONE_CPU:-}" ]; then
        log "$b: small GETs, c=1, everything on CPU $ONE_CPU (diagnostic), $RUNS x ${SECS}s per proxy"
        pin_all "$ONE_CPU" "$ONE_CPU" "$bpid"
        measure "$b" get_one run_wrk 1 one
        pin_all "$PROXY_CPUS" "$LOAD_CPUS" "$bpid"
    fi
    for p in $GATEWAYS ajp jk; do
        add "$b" rss_all "$p" "$(( $(hwm_kib "${PID[$p]}") / 1024 ))"
        add "$b" cpu_get "$p" "$(awk -v t="${CPU["$b|get|$p"]:-0}" -v k="$TCK" 'BEGIN {printf "%.2f", t / k}')"
        add "$b" cpu_us "$p" "$(awk -v t="${CPU["$b|get|$p"]:-0}" -v k="$TCK" -v n="${REQS["$b|$p"]:-0}" 'BEGIN {printf "%.1f", n ? t / k / n * 1e6 : 0}')"
        add "$b" cpu_xfer "$p" "$(awk -v t="${CPU["$b|xfer|$p"]:-0}" -v k="$TCK" 'BEGIN {printf "%.2f", t / k}')"
    done
    # Keep this backend's values under its own key space for the table.
    for k in "${!VALS[@]}"; do SAVED["$k"]=${VALS[$k]}; done
}
declare -A SAVED

# Upload sources: sparse files (zeros read from the page cache, never held in RAM).
WARM_BYTES=$((XFER_BYTES < (64 << 20) ? XFER_BYTES : (64 << 20)))
XB=$XFER_BYTES
# Tomcat reads an upload one 8 KiB packet per round trip (~75 MB/s behind every proxy), so
# 1 GiB would take 15 runs x 14 s; it uploads 256 MiB, which says the same in a quarter of
# the time and keeps the whole run well under 15 minutes.
declare -A UP_BYTES=([demo]=$XFER_BYTES [tomcat]=$((XFER_BYTES < (256 << 20) ? XFER_BYTES : (256 << 20))))
for n in "${UP_BYTES[@]}"; do truncate -s "$n" "$WORK/upload-$n.bin"; done
truncate -s "$WARM_BYTES" "$WORK/upload-$WARM_BYTES.bin"

# ---------------------------------------------------------------- run 1: the demo container
CPORT=$(free_port); CHTTP=$(free_port)
start_bg container "$WORK/container.log" "${ON_LOAD_CPUS[@]}" env RUST_LOG=warn "$BIN/container" --listen "127.0.0.1:$CPORT" \
    --http-listen "127.0.0.1:$CHTTP" --packet-size "$PACKET"
CONTAINER=$LAST_PID
wait_port "$CPORT" 20 && wait_port "$CHTTP" 5 || die "container did not start: $(tail -5 "$WORK/container.log")"
BACKENDS="demo"
log "demo: proxies in front of the demo container (AJP :$CPORT, HTTP :$CHTTP)"
start_proxies demo "$CPORT" "http://127.0.0.1:$CHTTP"
run_backend demo "$CONTAINER"
stop_proxies
stop_pid "$CONTAINER"

# ---------------------------------------------------------------- run 2: real Tomcat 10
if [ "${BENCH_TOMCAT:-1}" != 0 ]; then
    BACKENDS="demo tomcat"
    log "tomcat: compiling the test webapp and starting a private Tomcat 10"
    TB=$WORK/tomcat
    mkdir -p "$TB/conf" "$TB/logs" "$TB/temp" "$TB/work" "$TB/webapps" "$TB/webapp/WEB-INF/classes"
    javac -nowarn -encoding UTF-8 -cp /usr/share/tomcat10/lib/servlet-api.jar \
        -d "$TB/webapp/WEB-INF/classes" tests/webapp/src/towerajp/*.java
    cp tests/webapp/WEB-INF/web.xml "$TB/webapp/WEB-INF/web.xml"
    TAJP=$(free_port); THTTP=$(free_port)
    cat >"$TB/conf/server.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- generated by bench/run.sh: one HTTP and one AJP connector sharing 300 threads -->
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Executor name="tc-exec" namePrefix="tc-exec-" maxThreads="300" minSpareThreads="16"/>
    <Connector executor="tc-exec" protocol="HTTP/1.1" address="127.0.0.1" port="$THTTP" maxKeepAliveRequests="-1"/>
    <Connector executor="tc-exec" protocol="AJP/1.3" address="127.0.0.1" port="$TAJP" secretRequired="false" packetSize="$PACKET"/>
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false" deployOnStartup="false">
        <Context path="" docBase="$TB/webapp" reloadable="false">
          <Manager pathname=""/>
          <JarScanner scanClassPath="false" scanManifest="false"/>
        </Context>
      </Host>
    </Engine>
  </Service>
</Server>
EOF
    cat >"$TB/conf/web.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<web-app xmlns="https://jakarta.ee/xml/ns/jakartaee" version="6.0">
  <servlet><servlet-name>default</servlet-name><servlet-class>org.apache.catalina.servlets.DefaultServlet</servlet-class></servlet>
  <servlet-mapping><servlet-name>default</servlet-name><url-pattern>/</url-pattern></servlet-mapping>
</web-app>
EOF
    cat >"$TB/conf/logging.properties" <<'EOF'
handlers = java.util.logging.ConsoleHandler
.handlers = java.util.logging.ConsoleHandler
.level = WARNING
java.util.logging.ConsoleHandler.level = ALL
EOF
    CH=/usr/share/tomcat10
    start_bg tomcat "$TB/logs/catalina.out" "${ON_LOAD_CPUS[@]}" java -Xms64m -Xmx256m -XX:+UseSerialGC -XX:-UsePerfData \
        -Djava.util.logging.config.file="$TB/conf/logging.properties" \
        -Djava.util.logging.manager=org.apache.juli.ClassLoaderLogManager \
        -Dcatalina.base="$TB" -Dcatalina.home="$CH" -Djava.io.tmpdir="$TB/temp" \
        -classpath "$CH/bin/bootstrap.jar:$CH/bin/tomcat-juli.jar" org.apache.catalina.startup.Bootstrap start
    TOMCAT=$LAST_PID
    wait_port "$TAJP" 60 && wait_port "$THTTP" 10 || die "Tomcat did not start: $(tail -20 "$TB/logs/catalina.out")"
    for i in $(seq 100); do curl -sf --max-time 2 "http://127.0.0.1:$THTTP/hello" >/dev/null && break; sleep 0.1; done
    log "tomcat: proxies in front of Tomcat (AJP :$TAJP, HTTP :$THTTP)"
    start_proxies tomcat "$TAJP" "http://127.0.0.1:$THTTP"
    run_backend tomcat "$TOMCAT"
    stop_proxies
    stop_pid "$TOMCAT"
fi

# ---------------------------------------------------------------- fdpass hand-offs
FD_LINE=""
if [ "${BENCH_FDPASS:-1}" != 0 ]; then
    log "fdpass: hand-offs/s, fdpass-layer vs httpd mod_proxy_fdpass ($FD_ROUNDS rounds x ${FD_SECS}s)"
    FD_OUT=$(timeout 600 cargo bench --locked -q --profile "$PROFILE" -p fdpass-layer --bench handoffs -- \
        --rounds "$FD_ROUNDS" --secs "$FD_SECS" 2>&1) || ERRORS+="fdpass bench failed: $(tail -5 <<<"$FD_OUT")"$'\n'
    # Its summary: "fdpass-layer compatible  RATE  R.RRx  SERVER_US ..." and "httpd mod_proxy_fdpass ...".
    SAVED["fdpass|handoffs|gw"]=$(awk '/^fdpass-layer compatible/ {print $3}' <<<"$FD_OUT")
    SAVED["fdpass|handoffs|ajp"]=$(awk '/^httpd mod_proxy_fdpass/ {print $3}' <<<"$FD_OUT")
    SAVED["fdpass|fd_us|gw"]=$(awk '/^fdpass-layer compatible/ {print $5}' <<<"$FD_OUT")
    SAVED["fdpass|fd_us|ajp"]=$(awk '/^httpd mod_proxy_fdpass/ {print $5}' <<<"$FD_OUT")
    # The ceiling: the same client served by the worker itself, nothing handed off. Handing
    # off only adds work on the same cores, so no sender can pass it here.
    SAVED["fdpass|handoffs|direct"]=$(awk '/^ceiling/ {print $4}' <<<"$FD_OUT")
    SAVED["fdpass|fd_us|direct"]=$(awk '/^ceiling/ {print $6}' <<<"$FD_OUT")
    # Extended mode (one persistent unix connection, metadata with the fd) has no httpd
    # twin; it is compared with mod_proxy_fdpass all the same, as what a tower-ajp worker gets.
    SAVED["fdpass_ext|handoffs|gw"]=$(awk '/^fdpass-layer extended/ {print $3}' <<<"$FD_OUT")
    SAVED["fdpass_ext|handoffs|ajp"]=${SAVED["fdpass|handoffs|ajp"]}
    SAVED["fdpass_ext|fd_us|gw"]=$(awk '/^fdpass-layer extended/ {print $5}' <<<"$FD_OUT")
    SAVED["fdpass_ext|fd_us|ajp"]=${SAVED["fdpass|fd_us|ajp"]}
    [ -n "${SAVED["fdpass|handoffs|gw"]}" ] || ERRORS+="fdpass bench: no summary in its output: $(tail -5 <<<"$FD_OUT")"$'\n'
fi

# ---------------------------------------------------------------- the table
med() { local v=${SAVED["$1|$2|$3"]:-}; [ -n "$v" ] && median $v || echo ""; }
fmt() { # value decimals
    [ -n "$1" ] && awk -v v="$1" -v d="$2" 'BEGIN {printf "%.*f", d, v}' || echo "—"
}
cell() { # backend metric proxy decimals
    local v h
    v=$(med "$1" "$2" "$3"); h=$(med "$1" "$2" ajp)
    if [ -z "$v" ]; then echo "—"; return; fi
    if [ "$3" = ajp ] || [ -z "$h" ] || [ "$(awk -v h="$h" 'BEGIN {print (h == 0)}')" = 1 ]; then
        fmt "$v" "$4"
    else
        printf '%s (%s×)' "$(fmt "$v" "$4")" "$(awk -v v="$v" -v h="$h" 'BEGIN {printf "%.2f", v / h}')"
    fi
}
row() { # label backend metric decimals
    printf '| %s |' "$1"
    local p
    for p in $PROXIES; do printf ' %s |' "$(cell "$2" "$3" "$p" "$4")"; done
    printf '\n'
}
DATE=$(date -u +%Y-%m-%d)
MACHINE="$(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME")"
# How an idle CPU waits matters as much as the proxies at c=1 (see README): say which.
IDLE=$(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo unknown)
[ -r "$HALTPOLL" ] && IDLE+=", guest_halt_poll_ns=$(cat "$HALTPOLL")"
MACHINE+=", cpuidle: $IDLE"
human() { awk -v b="$1" 'BEGIN { if (b >= 2^30) printf "%g GiB", b / 2^30; else printf "%g MiB", b / 2^20 }'; }
XFER_H=$(human "$XFER_BYTES")
TABLE=$WORK/table.md
{
    echo "tower-ajp vs Apache httpd, $DATE, $MACHINE; $( [ "$QUICK" = 1 ] && echo "QUICK SMOKE RUN (figures meaningless)" || echo "full run")."
    echo "Medians of $RUNS x ${SECS}s wrk runs per cell ($XFER_RUNS per transfer), proxies interleaved in order, then in reverse; $CPU_SPLIT."
    echo "Ratios are against httpd mod_proxy_ajp in the same run. Peak RSS: VmHWM (httpd: summed over its 5 processes); CPU: utime+stime from /proc."
    echo
    printf '| metric |'; for p in $PROXIES; do printf ' %s |' "${NAME[$p]}"; done; printf '\n'
    printf '|---|'; for p in $PROXIES; do printf -- '---|'; done; printf '\n'
    for b in $BACKENDS; do
        B=$([ "$b" = demo ] && echo "demo container" || echo "Tomcat 10")
        for c in $CONCS; do
            row "$B: GET /hello c=$c, req/s" "$b" "get$c" 0
            row "$B: GET c=$c, p50 ms" "$b" "p50_$c" 2
            row "$B: GET c=$c, p99 ms" "$b" "p99_$c" 2
        done
        if [ -n "${ONE_CPU:-}" ]; then
            row "$B: GET /hello c=1 with everything on CPU $ONE_CPU (diagnostic), req/s" "$b" get1one 0
            row "$B: GET c=1 on one CPU, p99 ms" "$b" p99_1one 2
        fi
        row "$B: $XFER_H download, MB/s" "$b" down 0
        row "$B: $(human "${UP_BYTES[$b]}") upload, MB/s" "$b" up 0
        row "$B: proxy peak RSS after transfers, MiB" "$b" rss_xfer 1
        row "$B: proxy peak RSS after all, MiB" "$b" rss_all 1
        row "$B: proxy CPU s, all GET runs" "$b" cpu_get 2
        row "$B: proxy CPU µs per GET" "$b" cpu_us 1
        row "$B: proxy CPU s, transfers" "$b" cpu_xfer 2
    done
    if [ "${BENCH_FDPASS:-1}" != 0 ]; then
        row "fdpass: hand-offs/s (gateway column: fdpass-layer, compatible mode; httpd column: mod_proxy_fdpass; ceiling: the worker serves the client itself, no hand-off)" fdpass handoffs 0
        row "fdpass: server CPU µs per hand-off (ceiling: the worker, serving directly)" fdpass fd_us 1
        row "fdpass: hand-offs/s, fdpass-layer extended mode (no httpd equivalent; against mod_proxy_fdpass)" fdpass_ext handoffs 0
        row "fdpass: server CPU µs per hand-off, extended mode" fdpass_ext fd_us 1
    fi
    echo
    # Targets (issue 6), on the demo-container run.
    target() { # label metric op threshold [backend] [gateway]
        local r v h
        v=$(med "${5:-demo}" "$2" "${6:-$TGW}"); h=$(med "${5:-demo}" "$2" ajp)
        if [ -z "$v" ] || [ -z "$h" ]; then echo "- [?] $1: no figure"; return; fi
        r=$(awk -v v="$v" -v h="$h" 'BEGIN {printf "%.2f", v / h}')
        if awk -v r="$r" -v t="$4" -v o="$3" 'BEGIN {exit !((o == ">=") ? r >= t : r <= t)}'; then
            echo "- [x] $1: ${r}× (target $3 $4×)"
        else
            echo "- [ ] $1: ${r}× (target $3 $4×) MISSED"
        fi
    }
    for TGW in $GATEWAYS; do
        echo
        echo "Targets, ${NAME[$TGW]} (demo container run; ratio to httpd mod_proxy_ajp):"
        for c in $CONCS; do target "GET req/s c=$c" "get$c" ">=" 2.0; done
        target "GET p99 c=64" p99_64 "<=" 0.5
        target "$XFER_H download MB/s" down ">=" 1.5
        target "$XFER_H upload MB/s" up ">=" 1.5
        rss=$(med demo rss_all "$TGW")
        if [ -n "$rss" ] && [ "$rss" -lt 32 ]; then echo "- [x] gateway peak RSS ${rss} MiB (< 32 MiB)"; else echo "- [ ] gateway peak RSS ${rss:-?} MiB (target < 32 MiB) MISSED"; fi
    done
    if [ "${BENCH_FDPASS:-1}" != 0 ]; then
        echo
        echo "Target, fdpass-layer (compatible mode):"
        target "fdpass hand-offs/s vs mod_proxy_fdpass" handoffs ">=" 3.0 fdpass gw
        v=$(med fdpass handoffs direct); h=$(med fdpass handoffs ajp)
        if [ -n "$v" ] && [ -n "$h" ]; then
            awk -v v="$v" -v h="$h" 'BEGIN {printf "  (the ceiling, no hand-off at all, is %.2f× mod_proxy_fdpass on this machine: no sender can pass it)\n", v / h}'
        fi
    fi
    echo
    echo "The whole run (install check, build, every cell) took $((SECONDS / 60)) min $((SECONDS % 60)) s."
    if [ -n "$NOTES" ]; then
        echo
        echo "Notes (wrk socket errors):"
        printf '%s' "$NOTES" | sed 's/^/- /'
    fi
    if [ -n "$ERRORS" ]; then
        echo
        echo "Errors:"
        printf '%s' "$ERRORS" | sed 's/^/- /'
    fi
} >"$TABLE"

OUT=${BENCH_OUT:-$ROOT/bench/out/results-$(date -u +%Y%m%d-%H%M%S).md}
mkdir -p "$(dirname "$OUT")"
cp "$TABLE" "$OUT"
cat "$TABLE"
log "written to $OUT"
[ -z "$ERRORS" ] || exit 1
