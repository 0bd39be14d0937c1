#!/usr/bin/env bash
# Check for / install the system tools circuitkit drives: ngspice >= 44 built with OSDI,
# libngspice.so (the shared library PySpice loads), and Chromium (the report's headless
# rendering test).
#   --check    exit 0 when both are usable, 1 otherwise (prints what is missing)
#   --install  install them on Debian bookworm from bookworm-backports (as root)
set -euo pipefail
NGSPICE_MIN=44

ngspice_major() {
    command -v ngspice >/dev/null 2>&1 || { echo 0; return; }
    ngspice --version 2>/dev/null | sed -n 's/.*ngspice-\([0-9]\+\).*/\1/p' | head -n1
}

libngspice_present() {
    [[ -n "${NGSPICE_LIBRARY_PATH:-}" && -e "${NGSPICE_LIBRARY_PATH}" ]] && return 0
    ldconfig -p 2>/dev/null | grep -q 'libngspice\.so ' && return 0
    compgen -G '/usr/lib/*/libngspice.so' >/dev/null || compgen -G '/usr/lib/libngspice.so' >/dev/null
}

check() {
    local major; major=$(ngspice_major); major=${major:-0}
    local ok=0
    if (( major < NGSPICE_MIN )); then
        echo "missing: ngspice >= $NGSPICE_MIN with OSDI (found: ${major/#0/none})"; ok=1
    fi
    if ! libngspice_present; then
        echo "missing: libngspice.so (Debian: libngspice0-dev; or set NGSPICE_LIBRARY_PATH)"; ok=1
    fi
    if ! command -v chromium >/dev/null 2>&1; then
        echo "missing: chromium (headless browser for the report test)"; ok=1
    fi
    return $ok
}

# The Debian mirror URI this machine already uses for the bookworm suite, read from its
# own apt configuration (deb822 .sources or one-line .list), so no host is hard-coded.
debian_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -e "$f" ]] || continue
        awk 'BEGIN{RS=""} /Suites:[^\n]*bookworm([ \n]|$)/ && !/security/ {
               if (match($0, /URIs:[ \t]*[^ \t\n]+/)) { s=substr($0,RSTART,RLENGTH); sub(/URIs:[ \t]*/,"",s); print s; exit } }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -e "$f" ]] || continue
        awk '$1=="deb" && $0 ~ / bookworm / && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' "$f"
    done
}

install() {
    if [[ ! -r /etc/os-release ]] || ! grep -q '^VERSION_CODENAME=bookworm' /etc/os-release; then
        echo "circuitkit needs ngspice >= $NGSPICE_MIN built with OSDI support and libngspice.so (and chromium for the tests)." >&2
        echo "This is not Debian bookworm: install them with your system's package manager" >&2
        echo "(Debian trixie/Ubuntu 25.04+: 'ngspice libngspice0-dev'), or build ngspice with --enable-osdi," >&2
        echo "then rerun 'make setup'. NGSPICE_LIBRARY_PATH may point at libngspice.so.0." >&2
        exit 1
    fi
    if [[ $(id -u) -ne 0 ]]; then
        echo "Installing ngspice from bookworm-backports needs root: rerun 'make setup' as root (or sudo)." >&2
        exit 1
    fi
    local list=/etc/apt/sources.list.d/circuitkit-bookworm-backports.sources
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        local mirror; mirror=$(debian_mirror | head -n1)
        if [[ -z "$mirror" ]]; then
            echo "Could not find the Debian mirror of the 'bookworm' suite in /etc/apt/sources*;" >&2
            echo "add the bookworm-backports suite by hand, then rerun 'make setup'." >&2
            exit 1
        fi
        echo "adding bookworm-backports on the configured mirror $mirror ($list)"
        printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "$mirror" > "$list"
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports ngspice libngspice0-dev >/dev/null
    command -v chromium >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    check
}

case "${1:---check}" in
    --check) check ;;
    --install) install ;;
    *) echo "usage: $0 --check|--install" >&2; exit 2 ;;
esac
