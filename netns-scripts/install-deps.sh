#!/usr/bin/env bash
# Installs (with apt, only what is missing) every system tool vpclab and its
# tests use: ip, ping, curl, dig, iperf3, sshd, ssh, ssh-keygen, sshpass, tcpdump,
# ethtool, python3 (instances' httpd), chpasswd (instances' passwd --stdin),
# setsid, ps/pkill (procps), killall/fuser (psmisc), gcc, pkg-config, libc headers,
# libpcap's headers and library (the build links libpcap: `vpclab capture --filter`
# compiles filters with it); then aws, the AWS CLI v1 (for the emulated S3 and
# DynamoDB), from PyPI with pip: Debian 12's awscli package is the CLI v2 (2.9), and
# the suite is run with v1.
# Then checks that cargo is there (it does not install Rust).
#
#   netns-scripts/install-deps.sh
#
# Idempotent: when everything is present it changes nothing and says so.
# Needs root only when something must be installed (re-runs through sudo).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# "what to check:debian package[|alternative package...]". A check that starts
# with / is a file that must exist; anything else is a command looked up on
# PATH (plus the sbin directories, which a non-root PATH may lack).
DEPS=(
    "ip:iproute2"
    "ping:iputils-ping"
    "curl:curl"
    "nc:netcat-openbsd"
    "dig:dnsutils|bind9-dnsutils"
    "iperf3:iperf3"
    "/usr/sbin/sshd:openssh-server"
    "ssh:openssh-client"
    "ssh-keygen:openssh-client"
    "sshpass:sshpass"
    "tcpdump:tcpdump"
    "ethtool:ethtool"
    "python3:python3"
    "ps:procps"
    "pkill:procps"
    "sysctl:procps"
    "killall:psmisc"
    "fuser:psmisc"
    "nsenter:util-linux"
    "setsid:util-linux"
    "script:bsdutils"
    "chpasswd:passwd"
    "gcc:gcc"
    "pkg-config:pkg-config|pkgconf"
    "/usr/include/stdio.h:libc6-dev"
    "/usr/include/pcap/pcap.h:libpcap-dev"
    "/usr/share/doc/libpcap0.8/copyright:libpcap0.8|libpcap0.8t64"
)

have() {
    local what="$1"
    if [[ ${what} == /* ]]; then
        [[ -e ${what} ]]
    else
        PATH="${PATH}:/usr/local/sbin:/usr/sbin:/sbin" command -v "${what}" >/dev/null 2>&1
    fi
}

# Fills MISSING_TOOLS (what is missing) and MISSING_PKGS (package specs, unique).
find_missing() {
    MISSING_TOOLS=()
    MISSING_PKGS=()
    local dep what pkgs p seen
    for dep in "${DEPS[@]}"; do
        what="${dep%%:*}"
        pkgs="${dep#*:}"
        if ! have "${what}"; then
            MISSING_TOOLS+=("${what} (${pkgs%%|*})")
            seen=0
            for p in "${MISSING_PKGS[@]}"; do
                [[ ${p} == "${pkgs}" ]] && seen=1
            done
            [[ ${seen} -eq 1 ]] || MISSING_PKGS+=("${pkgs}")
        fi
    done
}

# Prints how to install by hand and exits 1.
give_up() {
    local why="$1" spec
    local -a names=()
    for spec in "${MISSING_PKGS[@]}"; do
        names+=("${spec%%|*}")
    done
    printf 'vpclab: %s\n' "${why}" >&2
    printf 'vpclab: missing: %s\n' "${MISSING_TOOLS[*]}" >&2
    printf 'vpclab: install them by hand, e.g. as root: apt-get update && apt-get install %s\n' "${names[*]}" >&2
    printf 'vpclab: (or the same packages with your distribution'\''s package manager), then run %s again.\n' "$0" >&2
    exit 1
}

check_cargo() {
    vl_require_cargo
    vl_say "cargo: $(cargo --version)"
}

POLICY=/usr/sbin/policy-rc.d
POLICY_BACKUP=""
POLICY_OURS=0

# Keep package installs from starting services (openssh-server would start a
# host sshd, which is not ours to run): a policy-rc.d that answers 101.
deny_service_starts() {
    if [[ -e ${POLICY} ]]; then
        POLICY_BACKUP="$(mktemp /tmp/vpclab-policy-rc.d.XXXXXX)"
        cp -p "${POLICY}" "${POLICY_BACKUP}"
    fi
    POLICY_OURS=1
    printf '#!/bin/sh\n# written by vpclab install-deps.sh for the duration of an install\nexit 101\n' >"${POLICY}"
    chmod 755 "${POLICY}"
}

restore_service_policy() {
    if [[ ${POLICY_OURS} -eq 1 ]]; then
        if [[ -n ${POLICY_BACKUP} ]]; then
            cp -p "${POLICY_BACKUP}" "${POLICY}"
            rm -f "${POLICY_BACKUP}"
        else
            rm -f "${POLICY}"
        fi
        POLICY_OURS=0
    fi
}

# The AWS CLI v1 (PyPI's awscli) when there is no `aws`: with python3's pip, into the
# Python that `python3` is (a pyenv shim makes `aws` a shim too); where that Python is the
# system's and refuses pip (PEP 668), into a virtual environment under /opt, linked from
# /usr/local/bin. An `aws` already on PATH is left as it is.
install_aws_cli() {
    if have aws; then
        return 0
    fi
    vl_require_root "$@"
    vl_say "the AWS CLI: pip install awscli (v1)"
    if ! python3 -m pip install -q awscli; then
        local venv=/opt/vpclab-awscli
        if ! { python3 -m venv "${venv}" && "${venv}/bin/pip" install -q awscli; }; then
            printf 'vpclab: pip install awscli failed: install the AWS CLI v1 by hand (pip install awscli), then run %s again.\n' "$0" >&2
            exit 1
        fi
        ln -sf "${venv}/bin/aws" /usr/local/bin/aws
    fi
    hash -r
    have aws || { printf 'vpclab: pip installed awscli, but no aws is on PATH (%s)\n' "${PATH}" >&2; exit 1; }
    vl_say "installed: $(aws --version 2>&1)"
}

main() {
    find_missing
    if [[ ${#MISSING_PKGS[@]} -eq 0 ]]; then
        vl_say "all system tools present"
        install_aws_cli "$@"
        check_cargo
        return 0
    fi

    vl_say "missing: ${MISSING_TOOLS[*]}"
    if ! command -v apt-get >/dev/null 2>&1; then
        give_up "apt-get is not available to install the missing tools."
    fi
    # Installing needs root; everything above did not.
    vl_require_root "$@"

    export DEBIAN_FRONTEND=noninteractive
    vl_say "apt-get update"
    apt-get update -q || give_up "apt-get update failed."

    # Pick, for each missing spec, the first package that apt knows.
    local spec p chosen
    local -a install=() alts=()
    for spec in "${MISSING_PKGS[@]}"; do
        chosen=""
        IFS='|' read -r -a alts <<<"${spec}"
        for p in "${alts[@]}"; do
            if apt-cache show --no-all-versions "${p}" >/dev/null 2>&1; then
                chosen="${p}"
                break
            fi
        done
        install+=("${chosen:-${alts[0]}}")
    done

    # iperf3 asks whether to start a daemon at boot: no.
    if command -v debconf-set-selections >/dev/null 2>&1; then
        echo 'iperf3 iperf3/start_daemon boolean false' | debconf-set-selections
    fi

    local ssh_new=0
    [[ -e /usr/sbin/sshd ]] || ssh_new=1

    trap restore_service_policy EXIT
    deny_service_starts
    vl_say "apt-get install ${install[*]}"
    local rc=0
    apt-get install -y -q --no-install-recommends "${install[@]}" || rc=$?
    restore_service_policy
    trap - EXIT
    [[ ${rc} -eq 0 ]] || give_up "apt-get install failed (exit ${rc})."

    # The package enables its unit for boot on a systemd host; the lab runs its
    # own sshd inside instances, so leave the host's disabled as it was.
    if [[ ${ssh_new} -eq 1 ]] && [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
        systemctl disable --quiet ssh.service ssh.socket >/dev/null 2>&1 || true
    fi

    find_missing
    if [[ ${#MISSING_PKGS[@]} -ne 0 ]]; then
        give_up "still missing after apt-get install."
    fi
    vl_say "installed: ${install[*]}; all system tools present"
    install_aws_cli "$@"
    check_cargo
}

main "$@"
