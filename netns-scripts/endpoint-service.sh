#!/usr/bin/env bash
# The endpoint-service lab of the seeds (shared/seeds/000_*.txt, seed 1, lab 4), step by
# step with real packets:
#
#   1. templates/endpoint-service.yaml without its PrivateLink part (--parameter
#      PrivateLink=no): My-VPC 10.0.0.0/16 with MyEC2, Custom-VPC 20.0.0.0/16 with WEB1 and
#      WEB2 behind a Network Load Balancer (TCP target group);
#   2. curl to the NLB's DNS name load-balances: both WEB1 and WEB2 answer;
#   3. an endpoint service on the NLB, acceptance required; the consumer's endpoint is refused
#      until the provider allows its account, then created pendingAcceptance, which passes
#      nothing;
#   4. accept-vpc-endpoint-connections: curl to the endpoint's DNS name from My-VPC
#      load-balances, and dig +short of it shows private addresses (10.0.x.x);
#   5. the web servers saw the NLB's private addresses (20.0.x.x), not the consumer; down.
#
#   netns-scripts/endpoint-service.sh
#
# Re-runs itself through sudo when not root; exits non-zero at the first step that does not
# behave as in the write-up. The lab is taken down on every exit path.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vl_prepare "$@"
# shellcheck source-path=SCRIPTDIR source=walkthrough.sh
. "$(dirname "${BASH_SOURCE[0]}")/walkthrough.sh"
vl_walkthrough epservice

# balanced INSTANCE URL: curls URL until both WEB1 and WEB2 answered (at most 30 times, the
# first answer within 20 s: the web servers start with the user data); prints each answer.
balanced() {
    local inst="$1" url="$2" i got seen1=0 seen2=0 deadline=$((SECONDS + 20))
    show "curl -s ${url}   # on ${inst}, until WEB1 and WEB2 both answered"
    until got="$(run "${inst}" curl -sS -m 3 "${url}" 2>&1)"; do
        ((SECONDS < deadline)) || fail "${inst}: curl ${url}: ${got}"
        sleep 0.5
    done
    for ((i = 1; i <= 30; i++)); do
        echo "    ${got}"
        case "${got}" in
            *WEB1*) seen1=1 ;;
            *WEB2*) seen2=1 ;;
            *) fail "${inst}: unexpected answer '${got}'" ;;
        esac
        ((seen1 && seen2)) && return 0
        got="$(run "${inst}" curl -sS -m 3 "${url}" 2>&1)" || fail "${inst}: curl ${url}: ${got}"
    done
    fail "${inst}: 30 requests to ${url} did not reach both WEB1 and WEB2"
}

step "1. My-VPC (10.0.0.0/16) and Custom-VPC (20.0.0.0/16), WEB1/WEB2 behind an NLB; no endpoint yet"
"${vpclab}" down --name "${lab}" >/dev/null 2>&1 || true
"${vpclab}" up templates/endpoint-service.yaml --name "${lab}" --parameter PrivateLink=no --detach
"${vpclab}" describe load-balancers --name "${lab}" >"${work}/lb.json"
nlb_arn="$(json "${work}/lb.json" 'd["LoadBalancers"][0]["LoadBalancerArn"]')"
nlb_dns="$(json "${work}/lb.json" 'd["LoadBalancers"][0]["DNSName"]')"
node_public="$(json "${work}/lb.json" 'sorted(a["IpAddress"] for z in d["LoadBalancers"][0]["AvailabilityZones"] for a in z["LoadBalancerAddresses"])' | tr '\n' ' ' | sed 's/ $//')"
node_private="$(json "${work}/lb.json" '[a["PrivateIPv4Address"] for z in d["LoadBalancers"][0]["AvailabilityZones"] for a in z["LoadBalancerAddresses"]]' | tr '\n' ' ')"
echo "    ${nlb_dns}: nodes ${node_public} (public), ${node_private}(private)"

step "2. curl to the NLB's DNS name load-balances"
show "dig +short ${nlb_dns}   # on MyEC2"
got="$(run MyEC2 dig +short +time=2 +tries=2 "${nlb_dns}" | sort | tr '\n' ' ' | sed 's/ $//')"
echo "    ${got}"
[[ ${got} == "${node_public}" ]] || fail "${nlb_dns} resolved to '${got}', not the nodes' ${node_public}"
balanced MyEC2 "http://${nlb_dns}/"
show "curl -s http://${nlb_dns}/   # on the emulated internet (its resolver answers public names)"
got="$(run internet curl -sS -m 3 "http://${nlb_dns}/")" || fail "the internet cannot reach the NLB by its name"
echo "    ${got}"

step "3. an endpoint service on the NLB (acceptance required) and an endpoint in My-VPC"
show "vpclab create-vpc-endpoint-service-configuration --network-load-balancer-arns ${nlb_arn} --acceptance-required"
"${vpclab}" create-vpc-endpoint-service-configuration --name "${lab}" \
    --network-load-balancer-arns "${nlb_arn}" --acceptance-required >"${work}/svc.json"
service_id="$(json "${work}/svc.json" 'd["ServiceConfiguration"]["ServiceId"]')"
service_name="$(json "${work}/svc.json" 'd["ServiceConfiguration"]["ServiceName"]')"
echo "    ${service_name}"
create_endpoint=("${vpclab}" create-vpc-endpoint --name "${lab}" --vpc-endpoint-type Interface
    --vpc-id MyVPC --service-name "${service_name}" --subnet-ids MyPublicSN1 MyPublicSN2
    --security-group-ids MySG)
show "vpclab create-vpc-endpoint --vpc-endpoint-type Interface --vpc-id MyVPC --service-name ${service_name} …"
if "${create_endpoint[@]}" >"${work}/refused.txt" 2>&1; then
    fail "the endpoint was created before the service allowed the account"
fi
sed 's/^/    /' "${work}/refused.txt"
grep -q InvalidServiceName "${work}/refused.txt" || fail "the refusal is not InvalidServiceName"
account="arn:aws:iam::123456789012:root"
show "vpclab modify-vpc-endpoint-service-permissions --service-id ${service_id} --add-allowed-principals ${account}"
"${vpclab}" modify-vpc-endpoint-service-permissions --name "${lab}" --service-id "${service_id}" \
    --add-allowed-principals "${account}" >/dev/null
show "vpclab create-vpc-endpoint … (again)"
"${create_endpoint[@]}" >"${work}/endpoint.json"
vpce="$(json "${work}/endpoint.json" 'd["VpcEndpoint"]["VpcEndpointId"]')"
endpoint_dns="$(json "${work}/endpoint.json" 'd["VpcEndpoint"]["DnsEntries"][0]["DnsName"]')"
state="$(json "${work}/endpoint.json" 'd["VpcEndpoint"]["State"]')"
echo "    ${vpce}: ${state}"
[[ ${state} == pendingAcceptance ]] || fail "the new endpoint is ${state}, not pendingAcceptance"
"${vpclab}" describe vpc-endpoint-connections --name "${lab}" |
    grep '"VpcEndpointState"' | sed 's/^ */    /'
show "curl -s -m 3 http://${endpoint_dns}/   # on MyEC2: pendingAcceptance passes nothing"
if run MyEC2 curl -sS -m 3 "http://${endpoint_dns}/"; then
    fail "a pendingAcceptance endpoint passed traffic"
fi
"${vpclab}" status --name "${lab}" | grep EndpointNotAccepted | sed 's/^ */    /' ||
    fail "status counts no EndpointNotAccepted drop"

step "4. accept-vpc-endpoint-connections: the endpoint's name load-balances over private addresses"
show "vpclab accept-vpc-endpoint-connections --service-id ${service_id} --vpc-endpoint-ids ${vpce}"
"${vpclab}" accept-vpc-endpoint-connections --name "${lab}" --service-id "${service_id}" \
    --vpc-endpoint-ids "${vpce}" >/dev/null
state="$("${vpclab}" describe vpc-endpoints "${vpce}" --name "${lab}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["VpcEndpoints"][0]["State"])')"
echo "    ${vpce}: ${state}"
[[ ${state} == available ]] || fail "the accepted endpoint is ${state}"
balanced MyEC2 "http://${endpoint_dns}/"
show "dig +short ${endpoint_dns}   # on MyEC2"
got="$(run MyEC2 dig +short +time=2 +tries=2 "${endpoint_dns}" | sort)"
sed 's/^/    /' <<<"${got}"
[[ $(wc -l <<<"${got}") -eq 2 ]] || fail "the endpoint's name did not resolve to two addresses"
while read -r a; do
    [[ ${a} == 10.0.* ]] || fail "${a} is not a private address of My-VPC"
done <<<"${got}"

step "5. the web servers saw the NLB's private addresses, not MyEC2"
show "tail -n 1 /var/log/httpd/access_log   # on WEB1 and WEB2"
for web in WEB1 WEB2; do
    last="$(run "${web}" cat /var/log/httpd/access_log | grep '"GET / ' | tail -n 1)"
    echo "    ${web}: ${last}"
    src="${last%% *}"
    [[ " ${node_private} " == *" ${src} "* ]] || fail "${web} saw ${src}, not one of the NLB's ${node_private}"
done

"${vpclab}" status --name "${lab}" | sed -n '1,3p' # reads it all: no SIGPIPE under pipefail
"${vpclab}" down --name "${lab}"
vl_say "the endpoint-service walkthrough ran as in the write-up"
