# shellcheck shell=bash
# Shared helpers for the vpclab scripts in netns-scripts/. Not run directly:
# each script does `. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"`.
#
#   vl_require_root "$@"  re-exec the calling script as root through sudo
#                         (keeping PATH and the invoking user's Rust toolchain)
#   vl_repo_root          cd to the repository root (parent of netns-scripts/)
#   vl_cargo_env          put cargo on PATH (~/.cargo/env) if it is not already
#   vl_say MSG...         print a "==> " progress line

# Absolute path of netns-scripts/, resolved once when this file is sourced.
VL_SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"

vl_say() {
    printf '==> %s\n' "$*"
}

vl_die() {
    printf 'vpclab: %s\n' "$*" >&2
    exit 1
}

# Re-run the calling script as root when it is not already root. Call it first,
# with the script's own arguments: vl_require_root "$@".
vl_require_root() {
    if [[ ${EUID} -eq 0 ]]; then
        return 0
    fi
    local script name
    script="$(readlink -f -- "$0")"
    name="$(basename -- "$0")"
    if ! command -v sudo >/dev/null 2>&1; then
        printf 'vpclab: %s needs root for network namespaces, and sudo is not installed.\n' "${name}" >&2
        printf 'vpclab: run it as root instead, e.g.: su -c "bash %q"\n' "${script}" >&2
        exit 1
    fi
    printf 'vpclab: %s needs root for network namespaces; re-running through sudo\n' "${name}" >&2
    # root must use the invoking user's toolchain, not look for one in /root:
    # pass PATH, and CARGO_HOME / RUSTUP_HOME (the user's ~/.cargo and ~/.rustup
    # when they are not set and exist).
    local -a envs=("PATH=${PATH}")
    if [[ -n ${CARGO_HOME:-} ]]; then
        envs+=("CARGO_HOME=${CARGO_HOME}")
    elif [[ -d ${HOME}/.cargo ]]; then
        envs+=("CARGO_HOME=${HOME}/.cargo")
    fi
    if [[ -n ${RUSTUP_HOME:-} ]]; then
        envs+=("RUSTUP_HOME=${RUSTUP_HOME}")
    elif [[ -d ${HOME}/.rustup ]]; then
        envs+=("RUSTUP_HOME=${HOME}/.rustup")
    fi
    exec sudo -E env "${envs[@]}" bash "${script}" "$@"
}

# cd to the repository root: the parent of netns-scripts/.
vl_repo_root() {
    cd "${VL_SCRIPTS_DIR}/.." || vl_die "cannot cd to the repository root ${VL_SCRIPTS_DIR}/.."
}

# Make cargo reachable when it is not on PATH: use $CARGO_HOME/bin (CARGO_HOME
# is passed through sudo) or ~/.cargo/bin, else source ~/.cargo/env. (rustup's
# env file adds $HOME/.cargo/bin, which under sudo may be root's, not the
# user's: hence the bin directory first.)
vl_cargo_env() {
    if command -v cargo >/dev/null 2>&1; then
        return 0
    fi
    local dir
    for dir in "${CARGO_HOME:-}" "${HOME:-}/.cargo"; do
        [[ -n ${dir} ]] || continue
        if [[ -x ${dir}/bin/cargo ]]; then
            PATH="${dir}/bin:${PATH}"
            export PATH
        elif [[ -f ${dir}/env ]]; then
            # shellcheck disable=SC1091
            . "${dir}/env"
        fi
        if command -v cargo >/dev/null 2>&1; then
            return 0
        fi
    done
    return 0
}

# Fail with a clear message when there is no cargo at all.
vl_require_cargo() {
    vl_cargo_env
    if ! command -v cargo >/dev/null 2>&1; then
        printf 'vpclab: cargo (the Rust toolchain) was not found on PATH, in CARGO_HOME or in ~/.cargo.\n' >&2
        printf 'vpclab: these scripts do not download a toolchain; install Rust with rustup\n' >&2
        printf 'vpclab: (https://rustup.rs), then run this script again.\n' >&2
        exit 1
    fi
}

# Sets the array VL_LOCKED to (--locked) when the repository (the current
# directory) has a Cargo.lock, else to (). Use as: cargo build "${VL_LOCKED[@]}".
# shellcheck disable=SC2034  # VL_LOCKED is used by the scripts that source this
vl_locked() {
    VL_LOCKED=()
    if [[ -f Cargo.lock ]]; then
        VL_LOCKED=(--locked)
    fi
}

# What every entry script does first: become root (through sudo if needed), go to the
# repository root, install missing system tools, find cargo, set VL_LOCKED.
# Call it with the script's own arguments: vl_prepare "$@".
vl_prepare() {
    vl_require_root "$@"
    vl_repo_root
    vl_say "checking system tools"
    bash netns-scripts/install-deps.sh
    vl_require_cargo
    vl_locked
}
