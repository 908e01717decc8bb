#!/usr/bin/env bash
# The gateway-endpoint lab of the seeds (shared/seeds/001_*.txt; seed 1, lab 2), step by
# step with real packets:
#
#   1. the seed-2 stack without the endpoint: the private instance cannot reach S3, the
#      public one can (through the internet gateway);
#   2. create-vpc-endpoint for S3 on the public and private route tables; both tables now
#      carry the pl-… → vpce-… route;
#   3. from the public instance, ssh root@<private> (the seed's password) and ping S3;
#   4. put and get an object with curl and with the aws CLI, through the endpoint;
#   5. an endpoint policy that denies s3:PutObject: PUT is 403, GET still 200;
#   6. down.
#
#   netns-scripts/gateway-endpoint.sh
#
# Re-runs itself through sudo when not root; exits non-zero at the first step that does not
# behave as in the write-up. The lab is taken down on every exit path.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vl_prepare "$@"
# shellcheck source-path=SCRIPTDIR source=walkthrough.sh
. "$(dirname "${BASH_SOURCE[0]}")/walkthrough.sh"
vl_walkthrough gwendpoint

region=ap-northeast-2
s3="s3.${region}.amazonaws.com"

step "1. the seed-2 stack, everything but the S3 endpoint (--parameter S3Endpoint=no)"
"${vpclab}" down --name "${lab}" >/dev/null 2>&1 || true
"${vpclab}" up templates/seed2-gateway-endpoint.yaml --name "${lab}" \
    --parameter S3Endpoint=no --detach
private_ip="$("${vpclab}" describe instances CloudNetaPrivateEC2 --name "${lab}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Reservations"][0]["Instances"][0]["PrivateIpAddress"])')"
vpc="$("${vpclab}" describe vpcs --name "${lab}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Vpcs"][0]["VpcId"])')"

show "ping -c 3 ${s3}   # on the private instance"
if run CloudNetaPrivateEC2 ping -c 3 -W 1 "${s3}"; then
    fail "the private instance reached S3 without an endpoint"
fi
show "ping -c 3 ${s3}   # on the public instance (through the internet gateway)"
run CloudNetaPublicEC2 ping -c 3 -W 2 "${s3}" || fail "the public instance cannot reach S3"

step "2. create-vpc-endpoint for com.amazonaws.${region}.s3 on both route tables"
"${vpclab}" create-vpc-endpoint --name "${lab}" --vpc-id "${vpc}" \
    --service-name "com.amazonaws.${region}.s3" \
    --route-table-ids CloudNetaPublicRT CloudNetaPrivateRT | tee "${work}/endpoint.json"
vpce="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["VpcEndpoint"]["VpcEndpointId"])' "${work}/endpoint.json")"
"${vpclab}" describe route-tables --name "${lab}" --output table
for rt in CloudNetaPublicRT CloudNetaPrivateRT; do
    "${vpclab}" describe route-tables "${rt}" --name "${lab}" | grep "\"GatewayId\": \"${vpce}\"" >/dev/null ||
        fail "${rt} has no route to ${vpce}"
done
"${vpclab}" describe prefix-lists --name "${lab}"

step "3. ssh root@${private_ip} from the public instance (password qwe123), then ping S3"
ssh_private=(sshpass -p qwe123 ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
    -o ConnectTimeout=5 "root@${private_ip}")
show "ssh root@${private_ip} ping -c 3 ${s3}"
run CloudNetaPublicEC2 "${ssh_private[@]}" ping -c 3 -W 2 "${s3}" ||
    fail "the private instance cannot reach S3 through the endpoint"

step "4. an object through the endpoint, with curl and with the aws CLI"
bucket="cloudneta-${lab//_/-}"
show "curl -X PUT http://${s3}/${bucket}; curl -X PUT --data-binary … http://${s3}/${bucket}/hello.txt"
run CloudNetaPrivateEC2 curl -sf -X PUT "http://${s3}/${bucket}" >/dev/null || fail "CreateBucket"
run CloudNetaPrivateEC2 curl -sf -X PUT --data-binary "hello through ${vpce}" \
    "http://${s3}/${bucket}/hello.txt" || fail "PutObject"
got="$(run CloudNetaPrivateEC2 curl -sf "http://${bucket}.${s3}/hello.txt")" || fail "GetObject"
[[ ${got} == "hello through ${vpce}" ]] || fail "GetObject returned '${got}'"
echo "    ${got}"
# The host's aws, by its full path: an instance's PATH is the standard one.
aws_bin="$(command -v aws)" || fail "the aws CLI is not installed (netns-scripts/install-deps.sh installs it)"
awsc=(env AWS_ACCESS_KEY_ID=lab AWS_SECRET_ACCESS_KEY=lab AWS_DEFAULT_REGION="${region}"
    "${aws_bin}" --endpoint-url "http://${s3}")
show "aws s3 cp /etc/hostname s3://${bucket}/hostname; aws s3 ls s3://${bucket}"
run CloudNetaPrivateEC2 "${awsc[@]}" s3 cp /etc/hostname "s3://${bucket}/hostname" || fail "aws s3 cp"
run CloudNetaPrivateEC2 "${awsc[@]}" s3 ls "s3://${bucket}" | tee "${work}/ls.txt"
grep -q hostname "${work}/ls.txt" || fail "aws s3 ls does not list the copied object"

step "5. an endpoint policy that denies s3:PutObject"
cat >"${work}/deny-put.json" <<'EOF'
{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
    {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "*"}
  ]
}
EOF
"${vpclab}" modify-vpc-endpoint --name "${lab}" --vpc-endpoint-id "${vpce}" \
    --policy-document "file://${work}/deny-put.json"
code="$(run CloudNetaPrivateEC2 curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary x \
    "http://${s3}/${bucket}/denied.txt")"
echo "    PUT → ${code}"
[[ ${code} == 403 ]] || fail "PutObject under a deny policy returned ${code}, not 403"
code="$(run CloudNetaPrivateEC2 curl -s -o /dev/null -w '%{http_code}' "http://${s3}/${bucket}/hello.txt")"
echo "    GET → ${code}"
[[ ${code} == 200 ]] || fail "GetObject under a deny-put policy returned ${code}, not 200"
"${vpclab}" modify-vpc-endpoint --name "${lab}" --vpc-endpoint-id "${vpce}" --reset-policy >/dev/null
code="$(run CloudNetaPrivateEC2 curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary x \
    "http://${s3}/${bucket}/allowed.txt")"
[[ ${code} == 200 ]] || fail "PutObject after --reset-policy returned ${code}"
echo "    --reset-policy: PUT → ${code}"

step "6. down"
"${vpclab}" status --name "${lab}" | sed -n '1,3p' # reads it all: no SIGPIPE under pipefail
"${vpclab}" down --name "${lab}"
vl_say "the gateway-endpoint walkthrough ran as in the write-up"
