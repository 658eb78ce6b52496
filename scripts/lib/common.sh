# shellcheck shell=bash
# Shared helpers for mailfront's scripts; sourced, never run on its own.
#
# It owns the checks every script repeats: the Rust toolchain against the
# workspace's rust-version, Debian packages (installed with apt-get when
# running as root), and error output. It never starts or stops a process.
# Every function either succeeds or exits the calling script with a message
# on stderr that says what is wrong and what to try.

# The workspace root: the folder above scripts/.
MAILFRONT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# How messages name the running script, e.g. scripts/demo.
SCRIPT_NAME=${SCRIPT_NAME:-scripts/${0##*/}}

# Prints "<script>: <message>" on stderr and exits 1.
die() {
    echo "$SCRIPT_NAME: $*" >&2
    exit 1
}

# Prints "<script>: <message>" on stderr.
say() {
    echo "$SCRIPT_NAME: $*" >&2
}

# The rust-version of Cargo.toml (workspace.package or package), e.g. 1.85.
workspace_rust_version() {
    sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' "$MAILFRONT_ROOT/Cargo.toml" | head -n 1
}

# Exits unless cargo and rustc exist and are at least the workspace's
# rust-version.
check_toolchain() {
    local want have
    want=$(workspace_rust_version)

    if ! command -v cargo >/dev/null 2>&1 || ! command -v rustc >/dev/null 2>&1; then
        die "cargo and rustc are not on PATH; install Rust ${want:-stable} with" \
            "'curl https://sh.rustup.rs -sSf | sh -s -- -y' and open a new shell" \
            "(or 'source ~/.cargo/env')"
    fi

    have=$(rustc --version | awk '{print $2}')
    have=${have%%-*}
    local oldest
    oldest=$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n 1)
    if [ -n "$want" ] && [ "$oldest" != "$want" ]; then
        die "rustc $have is older than the workspace's rust-version $want;" \
            "run 'rustup update stable'"
    fi
}

# Succeeds when the Debian package is installed.
package_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# Installs the named Debian packages that are missing: with apt-get when
# running as root, otherwise exits with the command to run. With --warn first,
# a user who is not root only gets the advice and the script goes on.
ensure_packages() {
    local warn_only=0 missing=() pkg
    if [ "${1:-}" = --warn ]; then
        warn_only=1
        shift
    fi
    for pkg in "$@"; do
        package_installed "$pkg" || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0

    if [ "$(id -u)" -ne 0 ]; then
        local advice="run 'sudo apt-get install ${missing[*]}'"
        if [ "$warn_only" -eq 1 ]; then
            say "missing Debian packages: ${missing[*]}; tests that need them are" \
                "skipped; $advice"
            return 0
        fi
        die "missing Debian packages: ${missing[*]}; $advice"
    fi

    say "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 ||
        die "apt-get update failed; check the network and /etc/apt/sources.list"

    # Packages such as dovecot-imapd and redis-server would start system
    # daemons (port 143, 6379); a policy-rc.d that answers 101 keeps them off.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && made_policy=1
    fi
    local status=0
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || status=$?
    [ "$made_policy" -eq 1 ] && rm -f "$policy"
    [ "$status" -eq 0 ] || die "apt-get install ${missing[*]} failed; see the output above"
}
