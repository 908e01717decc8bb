#!/usr/bin/env bash
# The main job of vpclab: as root, installs missing system tools, builds vpclab
# (dev profile, the same build the tests use), validates the embedded default
# lab and shows its route tables and instances.
#
#   netns-scripts/lab.sh
#
# Re-runs itself through sudo when not root. Exits non-zero when a step fails.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vl_prepare "$@"

build_cmd=(cargo build "${VL_LOCKED[@]}")
vl_say "${build_cmd[*]}"
"${build_cmd[@]}"

# Where cargo put it (honours CARGO_TARGET_DIR and .cargo/config build.target-dir).
target_dir="$(cargo metadata --format-version 1 --no-deps "${VL_LOCKED[@]}" 2>/dev/null |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null)" ||
    target_dir="${PWD}/target"
vpclab="${target_dir}/debug/vpclab"
[[ -x ${vpclab} ]] || vl_die "built, but ${vpclab} is not there"

vl_say "vpclab validate (the embedded default lab)"
"${vpclab}" validate

vl_say "vpclab describe route-tables"
"${vpclab}" describe route-tables --output table

vl_say "vpclab describe instances"
"${vpclab}" describe instances --output table

lab="${VPCLAB_LAB:-vpclab}"
if [[ -n $("${vpclab}" status --name "${lab}" 2>/dev/null | sed -n '1p') ]]; then
    vl_say "lab ${lab} is already up; taking it down first"
    "${vpclab}" down --name "${lab}"
fi
vl_say "vpclab up --detach --name ${lab} (the embedded default lab)"
"${vpclab}" up --detach --name "${lab}"

# A short reachability check through the router, with the real ping.
ip_of() { "${vpclab}" describe instances --output json |
    python3 -c 'import json,sys; n=sys.argv[1]; print(next(i["PrivateIpAddress"] for r in json.load(sys.stdin)["Reservations"] for i in r["Instances"] if any(t["Key"]=="aws:cloudformation:logical-id" and t["Value"]==n for t in i.get("Tags",[]))))' "$1"; }
check() { # from to-address what
    if "${vpclab}" exec --name "${lab}" "$1" -- ping -c 2 -i 0.2 -W 2 "$2" >/dev/null; then
        vl_say "ok: $1 reaches $3 ($2)"
    else
        vl_say "FAILED: $1 cannot reach $3 ($2)"
        failed=1
    fi
}
failed=0
check CloudNetaPublicEC2 "$(ip_of CloudNetaPrivateEC2)" "the private instance"
check CloudNetaPublicEC2 203.0.113.10 "the emulated internet"
check WEB1 "$(ip_of WEB2)" "WEB2 in the other subnet"
"${vpclab}" status --name "${lab}" | sed -n '1,3p' # reads it all: no SIGPIPE under pipefail
if [[ ${failed} -ne 0 ]]; then
    vl_say "the lab is up but a check failed; see above. Remove it with: ${vpclab} down --name ${lab}"
    exit 1
fi

vl_say "done. The lab ${lab} is up; the router runs in the background."
cat <<NEXT
    ${vpclab} shell --name ${lab} CloudNetaPublicEC2            a shell inside an instance
    ${vpclab} exec --name ${lab} CloudNetaPublicEC2 -- ping 10.0.1.x   one command inside it
    ${vpclab} status --name ${lab}                               counters, drops by reason
    ${vpclab} describe route-tables --output table               the route tables
    ${vpclab} down --name ${lab}                                 remove everything
NEXT
