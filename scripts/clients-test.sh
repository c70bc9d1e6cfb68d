#!/usr/bin/env bash
# clients-test.sh BIN: drive a running idbroker with the real AWS clients
# Debian ships (awscli and python3-boto3), as a user following the README
# would. Starts BIN on a free loopback port with the embedded demo, checks
# the parsed results and the AWS error codes, stops the server.
set -euo pipefail
bin=${1:?usage: clients-test.sh path/to/idbroker}
AWS=/usr/bin/aws
PY=/usr/bin/python3
if [ ! -x "$AWS" ] || ! "$PY" -c 'import boto3' 2>/dev/null; then
	if [ "$(id -u)" = 0 ]; then
		apt-get update >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends awscli python3-boto3 >/dev/null
	elif [ "${CI:-}" = true ]; then
		echo "clients-test: awscli/python3-boto3 missing and not root" >&2; exit 1
	else
		echo "clients-test: SKIPPED: awscli/python3-boto3 missing (install them, or run as root)" >&2; exit 0
	fi
fi

tmp=$(mktemp -d)
port=$("$PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
"$bin" serve --listen "127.0.0.1:$port" </dev/null >"$tmp/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do curl -fs "$url/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

# Isolate the clients from any local AWS configuration; never the real AWS.
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_DEFAULT_REGION=us-east-1
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL || true

pass=0 fail=0
ok()  { pass=$((pass+1)); echo "ok   $*"; }
bad() { fail=$((fail+1)); echo "FAIL $*"; }

login() { curl -s "$url/api/v1/credentials" -H 'Content-Type: application/json' -d "$1"; }
field() { "$PY" -c "import json,sys;print(json.load(sys.stdin)[\"$1\"])"; }

creds=$(login '{"provider":"demo","username":"alice","password":"alice"}')
AKID=$(field AccessKeyId <<<"$creds"); SECRET=$(field SecretAccessKey <<<"$creds"); TOKEN=$(field SessionToken <<<"$creds")

# awscli: the README walkthrough.
arn=$(AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$SECRET AWS_SESSION_TOKEN=$TOKEN \
	"$AWS" sts get-caller-identity --endpoint-url "$url" --query Arn --output text 2>&1) || true
[ "$arn" = "arn:aws:sts::123456789012:assumed-role/Developer/alice" ] && ok "awscli get-caller-identity" || bad "awscli get-caller-identity: $arn"

# awscli error codes: expect CODE, then the command.
expect_code() {
	local code=$1; shift
	local out
	if out=$("$@" 2>&1); then bad "$code: command succeeded: $out"; return; fi
	if grep -q "($code)" <<<"$out"; then ok "awscli $code"; else bad "awscli $code: $out"; fi
}
expect_code MissingAuthenticationToken "$AWS" sts get-caller-identity --endpoint-url "$url" --no-sign-request
expect_code SignatureDoesNotMatch env AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY="x${SECRET:1}" AWS_SESSION_TOKEN=$TOKEN \
	"$AWS" sts get-caller-identity --endpoint-url "$url"
expect_code InvalidClientTokenId env AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$SECRET AWS_SESSION_TOKEN="AAAA${TOKEN:4}" \
	"$AWS" sts get-caller-identity --endpoint-url "$url"
expect_code InvalidIdentityToken "$AWS" sts assume-role-with-web-identity --endpoint-url "$url" \
	--role-arn arn:aws:iam::123456789012:role/Developer --role-session-name s1 --web-identity-token not.a.jwt
expect_code ValidationError "$AWS" sts assume-role-with-web-identity --endpoint-url "$url" \
	--role-arn arn:aws:iam::123456789012:role/Developer --role-session-name 'bad/name' --web-identity-token abcd.efgh.ijkl

# boto3: the same credentials, and its error parsing.
AKID=$AKID SECRET=$SECRET TOKEN=$TOKEN URL=$url "$PY" - <<'PYEOF' && ok "boto3" || bad "boto3"
import os, boto3, botocore
s = boto3.client("sts", endpoint_url=os.environ["URL"], region_name="us-east-1",
                 aws_access_key_id=os.environ["AKID"], aws_secret_access_key=os.environ["SECRET"],
                 aws_session_token=os.environ["TOKEN"])
who = s.get_caller_identity()
assert who["Arn"] == "arn:aws:sts::123456789012:assumed-role/Developer/alice", who
assert who["Account"] == "123456789012" and who["UserId"].startswith("AROA"), who
assert len(who["ResponseMetadata"]["RequestId"]) == 36, who["ResponseMetadata"]
anon = boto3.client("sts", endpoint_url=os.environ["URL"], region_name="us-east-1",
                    config=botocore.config.Config(signature_version=botocore.UNSIGNED))
try:
    anon.assume_role_with_web_identity(RoleArn="arn:aws:iam::123456789012:role/Developer",
                                       RoleSessionName="s1", WebIdentityToken="a.b.c", DurationSeconds=43201)
    raise SystemExit("43201 seconds accepted")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "ValidationError", e.response
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response
PYEOF

if grep -q "$SECRET\|$TOKEN" "$tmp/server.log"; then bad "server log contains a secret"; else ok "no secret in the server log"; fi
echo "clients: $pass passed, $fail failed"
[ "$fail" = 0 ]
