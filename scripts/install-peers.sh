#!/usr/bin/env bash
# Installs the real AJP peers the integration tests and benchmarks run against:
# Tomcat 10, Apache httpd 2.4 (+ mod_proxy_ajp, mod_jk), a JDK compiler for the
# test webapp, wrk, curl and python3.
#
# Debian 12, run as root, non-interactive, idempotent: a fast no-op when
# everything is already there. The system tomcat10/apache2 services are kept
# from starting during the install (temporary /usr/sbin/policy-rc.d exiting
# 101); the tests start private instances themselves.
set -euo pipefail

die() { echo "install-peers: error: $*" >&2; exit 1; }

# package -> a file that proves it is installed (cheaper and more robust than dpkg-query)
declare -A probe=(
    [tomcat10]=/usr/share/tomcat10/bin/catalina.sh
    [apache2]=/usr/sbin/apache2
    [libapache2-mod-jk]=/usr/lib/apache2/modules/mod_jk.so
    [wrk]=/usr/bin/wrk
    [curl]=/usr/bin/curl
    [python3]=/usr/bin/python3
)

missing=()
for pkg in "${!probe[@]}"; do
    [ -e "${probe[$pkg]}" ] || missing+=("$pkg")
done
# Tomcat's own dependencies only bring a JRE; the webapp is compiled with javac.
if ! command -v javac >/dev/null 2>&1; then
    missing+=(JDK)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

[ "$(id -u)" -eq 0 ] || die "missing: ${missing[*]}; run this script as root"
command -v apt-get >/dev/null 2>&1 || die "missing: ${missing[*]}; apt-get not found (Debian 12 expected)"

export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
created_policy=0
cleanup() {
    if [ "$created_policy" -eq 1 ]; then rm -f "$policy"; fi
}
trap cleanup EXIT
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# temporary, written by tower-ajp scripts/install-peers.sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    created_policy=1
fi

log=$(mktemp /tmp/install-peers.XXXXXX.log)
run() {
    if ! "$@" >>"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "'$*' failed (full log: $log)"
    fi
}

echo "install-peers: installing ${missing[*]}" >&2
run apt-get update -q
pkgs=()
for p in "${missing[@]}"; do
    [ "$p" = JDK ] || pkgs+=("$p")
done
if [ ${#pkgs[@]} -gt 0 ]; then
    run apt-get install -y -q --no-install-recommends "${pkgs[@]}"
fi
if ! command -v javac >/dev/null 2>&1; then
    if apt-cache show default-jdk-headless >/dev/null 2>&1; then
        run apt-get install -y -q --no-install-recommends default-jdk-headless
    else
        run apt-get install -y -q --no-install-recommends openjdk-17-jdk-headless
    fi
fi

for pkg in "${!probe[@]}"; do
    [ -e "${probe[$pkg]}" ] || die "$pkg still missing after install (${probe[$pkg]} not found; log: $log)"
done
command -v javac >/dev/null 2>&1 || die "javac still missing after install (log: $log)"
rm -f "$log"
echo "install-peers: done" >&2
