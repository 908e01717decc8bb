#!/usr/bin/env bash
# The interface-endpoint lab of the seeds (shared/seeds/000_*.txt, seed 1, lab 3), step by
# step with real packets:
#
#   1. templates/interface-endpoint.yaml: an interface endpoint for CloudFormation in the
#      public and the private subnet, private DNS off as in the write-up; no route added;
#   2. dig +short cloudformation.ap-northeast-2.amazonaws.com → 52.95.193.132 (the public
#      address) from both instances;
#   3. dig +short of the endpoint's own name → its two private IPs, one per subnet, from both
#      instances; each zonal name → the one address of its zone;
#   4. curl of the endpoint's name answers over the endpoint ("path": "interface-endpoint",
#      the instance's private IP as source), also from the private instance, which has no
#      route to the internet; the default name from the public instance goes over the internet;
#   5. modify-vpc-endpoint --private-dns-enabled: the default name now resolves to the two
#      private IPs and the private instance reaches CloudFormation by its default name;
#   6. --no-private-dns-enabled flips it back; down.
#
#   netns-scripts/interface-endpoint.sh
#
# Re-runs itself through sudo when not root; exits non-zero at the first step that does not
# behave as in the write-up. The lab is taken down on every exit path.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vl_prepare "$@"
# shellcheck source-path=SCRIPTDIR source=walkthrough.sh
. "$(dirname "${BASH_SOURCE[0]}")/walkthrough.sh"
vl_walkthrough ifendpoint

region=ap-northeast-2
cfn="cloudformation.${region}.amazonaws.com"
cfn_public=52.95.193.132 # the write-up's answer
# digs INSTANCE NAME: dig +short's addresses, sorted, on one line.
digs() {
    run "$1" dig +short +time=2 +tries=2 "$2" | sort | tr '\n' ' ' | sed 's/ $//'
}

step "1. the interface-endpoint lab: a CloudFormation endpoint in both subnets, private DNS off"
"${vpclab}" down --name "${lab}" >/dev/null 2>&1 || true
"${vpclab}" up templates/interface-endpoint.yaml --name "${lab}" --detach
"${vpclab}" describe vpc-endpoints --name "${lab}" --output table
"${vpclab}" describe vpc-endpoints CloudFormationEndpoint --name "${lab}" >"${work}/vpce.json"
vpce="$(json "${work}/vpce.json" 'd["VpcEndpoints"][0]["VpcEndpointId"]')"
[[ "$(json "${work}/vpce.json" 'd["VpcEndpoints"][0]["PrivateDnsEnabled"]')" == False ]] ||
    fail "private DNS is on; the write-up turns it off"
mapfile -t names < <(json "${work}/vpce.json" '[e["DnsName"] for e in d["VpcEndpoints"][0]["DnsEntries"]]')
regional="${names[0]}"
"${vpclab}" describe instances --name "${lab}" >"${work}/instances.json"
ip_of() { json "${work}/instances.json" "[i['PrivateIpAddress'] for r in d['Reservations'] for i in r['Instances'] if any(t['Value'] == '$1' for t in i.get('Tags', []))][0]"; }
public_private_ip="$(ip_of PublicEC2)"
private_ip="$(ip_of PrivateEC2)"
for rt in PublicRT PrivateRT; do
    if "${vpclab}" describe route-tables "${rt}" --name "${lab}" | grep -q "${vpce}"; then
        fail "${rt} has a route to ${vpce}: an interface endpoint adds none"
    fi
done
echo "    ${vpce}: no route in either route table"

step "2. the default name resolves to CloudFormation's public address (private DNS off)"
for inst in PublicEC2 PrivateEC2; do
    show "dig +short ${cfn}   # on ${inst}"
    got="$(digs "${inst}" "${cfn}")"
    echo "    ${got}"
    [[ ${got} == "${cfn_public}" ]] || fail "${inst}: ${cfn} resolved to '${got}', not ${cfn_public}"
done

step "3. the endpoint's own name resolves to its two private IPs, one per subnet"
endpoint_ips=""
for inst in PublicEC2 PrivateEC2; do
    show "dig +short ${regional}   # on ${inst}"
    got="$(digs "${inst}" "${regional}")"
    echo "    ${got}"
    read -r a b extra <<<"${got}"
    [[ -n ${a} && -n ${b} && -z ${extra:-} ]] || fail "${inst}: not exactly two addresses: '${got}'"
    [[ ${a} == 10.0.0.* && ${b} == 10.0.1.* ]] ||
        fail "${inst}: '${got}' is not one address in 10.0.0.0/24 and one in 10.0.1.0/24"
    [[ -z ${endpoint_ips} || ${endpoint_ips} == "${got}" ]] || fail "the two instances got different answers"
    endpoint_ips="${got}"
done
read -r ip_a ip_c <<<"${endpoint_ips}"
for zonal in "${names[@]:1}"; do
    show "dig +short ${zonal}"
    got="$(digs PrivateEC2 "${zonal}")"
    echo "    ${got}"
    case "${zonal}" in
        *-"${region}"a.*) want="${ip_a}" ;; # the public subnet is in the first AZ
        *-"${region}"c.*) want="${ip_c}" ;; # the private subnet in the third
        *) fail "unexpected zonal name ${zonal}" ;;
    esac
    [[ ${got} == "${want}" ]] || fail "${zonal} resolved to '${got}', not ${want}"
done

step "4. curl through the endpoint; the default name still goes over the internet"
for inst in PublicEC2 PrivateEC2; do
    show "curl -s http://${regional}/   # on ${inst}"
    got="$(run "${inst}" curl -sS -m 5 "http://${regional}/")" || fail "${inst}: curl to the endpoint failed"
    echo "    ${got}"
    [[ ${got} == *'"path": "interface-endpoint"'* && ${got} == *"\"endpoint\": \"${vpce}\""* ]] ||
        fail "${inst}: the answer did not come through ${vpce}"
done
[[ ${got} == *"\"source\": \"${private_ip}\""* ]] || fail "the service did not see the private IP ${private_ip}"
show "curl -s http://${cfn}/   # on PublicEC2"
got="$(run PublicEC2 curl -sS -m 5 "http://${cfn}/")" || fail "PublicEC2 cannot reach ${cfn}"
echo "    ${got}"
[[ ${got} == *'"path": "internet"'* ]] || fail "the default name did not go over the internet"
[[ ${got} != *"\"source\": \"${public_private_ip}\""* ]] || fail "the service saw the private IP over the internet"
show "curl -s -m 3 http://${cfn}/   # on PrivateEC2 (no internet route: fails)"
if run PrivateEC2 curl -sS -m 3 "http://${cfn}/"; then
    fail "the private instance reached ${cfn} over a path it does not have"
fi

step "5. modify-vpc-endpoint --private-dns-enabled: the default name now leads to the endpoint"
show "vpclab modify-vpc-endpoint --vpc-endpoint-id ${vpce} --private-dns-enabled"
"${vpclab}" modify-vpc-endpoint --name "${lab}" --vpc-endpoint-id "${vpce}" --private-dns-enabled >/dev/null
for inst in PublicEC2 PrivateEC2; do
    show "dig +short ${cfn}   # on ${inst}"
    got="$(digs "${inst}" "${cfn}")"
    echo "    ${got}"
    [[ ${got} == "${endpoint_ips}" ]] || fail "${inst}: ${cfn} resolved to '${got}', not ${endpoint_ips}"
done
show "curl -s http://${cfn}/   # on PrivateEC2"
got="$(run PrivateEC2 curl -sS -m 5 "http://${cfn}/")" || fail "the private instance cannot reach ${cfn}"
echo "    ${got}"
[[ ${got} == *'"path": "interface-endpoint"'* && ${got} == *"\"source\": \"${private_ip}\""* ]] ||
    fail "the default name did not lead through the endpoint"

step "6. --no-private-dns-enabled: back to the public address"
show "vpclab modify-vpc-endpoint --vpc-endpoint-id ${vpce} --no-private-dns-enabled"
"${vpclab}" modify-vpc-endpoint --name "${lab}" --vpc-endpoint-id "${vpce}" --no-private-dns-enabled >/dev/null
got="$(digs PrivateEC2 "${cfn}")"
echo "    dig +short ${cfn} → ${got}"
[[ ${got} == "${cfn_public}" ]] || fail "${cfn} resolved to '${got}', not ${cfn_public}"
if run PrivateEC2 curl -sS -m 3 "http://${cfn}/" >/dev/null 2>&1; then
    fail "the private instance still reaches ${cfn} with private DNS off"
fi
echo "    curl from PrivateEC2 fails again (no internet route)"

"${vpclab}" status --name "${lab}" | sed -n '1,3p' # reads it all: no SIGPIPE under pipefail
"${vpclab}" down --name "${lab}"
vl_say "the interface-endpoint walkthrough ran as in the write-up"
