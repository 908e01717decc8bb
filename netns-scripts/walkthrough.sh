# shellcheck shell=bash
# What the seed walkthroughs (gateway-endpoint.sh, interface-endpoint.sh, endpoint-service.sh)
# share: the build, the lab's name and work folder with their cleanup, and the helpers each
# step uses. Sourced after lib.sh and vl_prepare.

# vl_walkthrough DEFAULT_LAB: builds the dev binary and sets `vpclab` (its path), `lab`
# (VPCLAB_LAB, else DEFAULT_LAB) and `work` (a temporary folder); the lab is taken down and
# the folder removed on every exit path.
vl_walkthrough() {
    cargo build "${VL_LOCKED[@]}"
    local target_dir
    target_dir="$(cargo metadata --format-version 1 --no-deps "${VL_LOCKED[@]}" 2>/dev/null |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
    vpclab="${target_dir}/debug/vpclab"
    lab="${VPCLAB_LAB:-$1}"
    work="$(mktemp -d "/tmp/vpclab-$1.XXXXXX")"
    trap vl_walkthrough_cleanup EXIT
}

vl_walkthrough_cleanup() {
    "${vpclab}" down --name "${lab}" >/dev/null 2>&1 || true
    rm -rf "${work}"
}

run() { # instance command...
    local inst="$1"
    shift
    "${vpclab}" exec --name "${lab}" "${inst}" -- "$@"
}
show() { printf '    $ %s\n' "$*"; }
step() { vl_say "$*"; }
fail() { vl_die "FAILED: $*"; }
# json FILE EXPR: a Python expression on the parsed file `d`, printed (lists one item a line).
json() {
    python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print("\n".join(map(str, v)) if isinstance(v, list) else v)' "$1" "$2"
}
