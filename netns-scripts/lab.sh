#!/usr/bin/env bash
# The main job of vpclab: as root, installs missing system tools, builds vpclab
# (dev profile, the same build the tests use), validates the embedded default
# lab and shows its route tables and instances, brings it up, and checks it with real
# packets: pings across it, and the three seed labs (the gateway endpoint to S3, the
# CloudFormation interface endpoint, the endpoint service behind the NLB).
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

# The three seed labs on the default lab, a few commands each (what the walkthroughs
# netns-scripts/{gateway-endpoint,interface-endpoint,endpoint-service}.sh show in full).
run() { "${vpclab}" exec --name "${lab}" "$@"; }
seed_ok() { vl_say "ok: $*"; }
seed_failed() {
    vl_say "FAILED: $*"
    failed=1
}
dns_name() { # endpoint logical id → its regional DNS name
    "${vpclab}" describe vpc-endpoints "$1" --name "${lab}" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["VpcEndpoints"][0]["DnsEntries"][0]["DnsName"])'
}
s3=s3.ap-northeast-2.amazonaws.com
cfn=cloudformation.ap-northeast-2.amazonaws.com
# Seed 2 / seed 1 lab 2: the private instance reaches S3 through the gateway endpoint.
if run CloudNetaPrivateEC2 -- ping -c 2 -i 0.2 -W 2 "${s3}" >/dev/null; then
    seed_ok "gateway endpoint: CloudNetaPrivateEC2 pings ${s3}"
else
    seed_failed "gateway endpoint: CloudNetaPrivateEC2 cannot ping ${s3}"
fi
# Seed 1 lab 3: the CloudFormation interface endpoint, private DNS off.
cfn_vpce="$(dns_name CloudFormationEndpoint)"
got="$(run CloudNetaPublicEC2 -- dig +short +time=2 +tries=2 "${cfn}" | tr '\n' ' ')" || true
if [[ ${got} == "52.95.193.132 " ]]; then
    seed_ok "interface endpoint: dig +short ${cfn} → ${got}"
else
    seed_failed "interface endpoint: dig +short ${cfn} → '${got}', not 52.95.193.132"
fi
got="$(run CloudNetaPrivateEC2 -- dig +short +time=2 +tries=2 "${cfn_vpce}" | sort | tr '\n' ' ')" || true
if [[ ${got} =~ ^10\.0\.0\.[0-9]+\ 10\.0\.1\.[0-9]+\ $ ]]; then
    seed_ok "interface endpoint: dig +short ${cfn_vpce} → ${got}"
else
    seed_failed "interface endpoint: dig +short ${cfn_vpce} → '${got}', not one private IP per subnet"
fi
got="$(run CloudNetaPrivateEC2 -- curl -sS -m 5 "http://${cfn_vpce}/" 2>&1)" || true
if [[ ${got} == *'"path": "interface-endpoint"'* ]]; then
    seed_ok "interface endpoint: curl from the private instance → ${got}"
else
    seed_failed "interface endpoint: curl http://${cfn_vpce}/ from the private instance → '${got}'"
fi
# Seed 1 lab 4: the endpoint service; curl through the endpoint until WEB1 and WEB2 answered
# (the web servers start with the user data: allow them 20 s).
web_vpce="$(dns_name WebServiceEndpoint)"
seen=""
deadline=$((SECONDS + 20))
while ((SECONDS < deadline)) && [[ ${seen} != *WEB1* || ${seen} != *WEB2* ]]; do
    seen+="$(run CloudNetaPublicEC2 -- curl -s -m 3 "http://${web_vpce}/" 2>/dev/null || sleep 0.5) "
done
if [[ ${seen} == *WEB1* && ${seen} == *WEB2* ]]; then
    seed_ok "endpoint service: curl http://${web_vpce}/ → WEB1 and WEB2"
else
    seed_failed "endpoint service: curl http://${web_vpce}/ did not reach both WEB1 and WEB2 in 20 s: ${seen}"
fi

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
