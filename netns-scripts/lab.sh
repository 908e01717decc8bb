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

# ---------------------------------------------------------------------------
# TODO(lab up): a later issue adds here
#   - "${vpclab}" up --detach            bring the default lab up in the background
#   - a reachability check (e.g. ping between instances through the router)
#   - how to use it: vpclab exec <instance> -- <cmd>, vpclab shell <instance>,
#     and vpclab down to remove everything
# ---------------------------------------------------------------------------

vl_say "done. The binary: ${vpclab}"
vl_say "next, as root, with that binary:"
cat <<'NEXT'
    vpclab --help                                   every command
    vpclab describe vpc-endpoints --output table    other resources (JSON without --output)
    vpclab validate TEMPLATE.yaml                   check your own CloudFormation template
    (bringing the lab up in namespaces is not wired into this script yet)
NEXT
