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

# The demo's alice/Developer plus what the demo lacks for the other STS
# actions: roles that trust Developer (AssumeRole chaining, ExternalId) and
# a SAML provider "corp" whose metadata carries a certificate made here.
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=clients-test-idp -days 2 \
	-keyout "$tmp/idp.key" -out "$tmp/idp.crt" >/dev/null 2>&1
idpcert=$(grep -v -- '-----' "$tmp/idp.crt" | tr -d '\n')
cat >"$tmp/idp-metadata.xml" <<EOF
<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.clients-test.example/saml">
 <IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
  <KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>$idpcert</X509Certificate></X509Data></KeyInfo></KeyDescriptor>
  <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.clients-test.example/sso"/>
 </IDPSSODescriptor>
</EntityDescriptor>
EOF
cat >"$tmp/config.yaml" <<EOF
account_id: "123456789012"
region: us-east-1
keys: {dir: ""}
store: {type: memory}
providers:
  - name: demo
    type: static
    users:
      - {username: alice, password_hash: "\$2a\$10\$U9aZVUyLR.VgL4OPhZD3d.buFnvxyv3lZxDNy10Bapp2.tH9pU/7G", groups: [developers]}
rules:
  - {name: developers, when: {provider: demo, groups_any: [developers]}, roles: [Developer]}
roles:
  - name: Developer
    max_session_duration: 4h
    policies:
      - Version: "2012-10-17"
        Statement:
          - {Effect: Allow, Action: ["s3:GetObject", "sts:AssumeRole", "sts:TagSession"], Resource: "*"}
  - name: Chained
    trust_broker: false
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: {AWS: "arn:aws:iam::123456789012:role/Developer"}
          Action: [sts:AssumeRole, sts:TagSession, sts:SetSourceIdentity]
  - name: Partner
    trust_broker: false
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: {AWS: "123456789012"}
          Action: sts:AssumeRole
          Condition: {StringEquals: {"sts:ExternalId": "partner-42"}}
  - name: Federated
    trust_broker: false
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - {Effect: Allow, Principal: {Federated: "arn:aws:iam::123456789012:saml-provider/corp"}, Action: sts:AssumeRoleWithSAML}
sts:
  saml_providers:
    - {name: corp, metadata_file: $tmp/idp-metadata.xml}
EOF
# An unsigned SAML Response: the STS must refuse it (signature).
now=$(date -u +%Y-%m-%dT%H:%M:%SZ); later=$(date -u -d '+5 min' +%Y-%m-%dT%H:%M:%SZ)
SAMLRESP=$(base64 -w0 <<EOF
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="$now"><saml:Issuer>https://idp.clients-test.example/saml</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion ID="_a1" Version="2.0" IssueInstant="$now"><saml:Issuer>https://idp.clients-test.example/saml</saml:Issuer><saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">mallory</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="$later" Recipient="https://signin.aws.amazon.com/saml"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="$now" NotOnOrAfter="$later"><saml:AudienceRestriction><saml:Audience>urn:amazon:webservices</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="$now"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Password</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/Role"><saml:AttributeValue>arn:aws:iam::123456789012:role/Federated,arn:aws:iam::123456789012:saml-provider/corp</saml:AttributeValue></saml:Attribute><saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/RoleSessionName"><saml:AttributeValue>mallory</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion></samlp:Response>
EOF
)

"$bin" serve --config "$tmp/config.yaml" --listen "127.0.0.1:$port" </dev/null >"$tmp/server.log" 2>&1 &
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

# awscli: the other actions, with the Developer session.
dev() { env AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$SECRET AWS_SESSION_TOKEN=$TOKEN "$AWS" sts --endpoint-url "$url" "$@"; }
chained=$(dev assume-role --role-arn arn:aws:iam::123456789012:role/Chained --role-session-name hop1 \
	--tags Key=project,Value=unicorn --transitive-tag-keys project --source-identity alice --duration-seconds 900 \
	--query '[AssumedRoleUser.Arn,SourceIdentity,Credentials.AccessKeyId,Credentials.SecretAccessKey,Credentials.SessionToken,to_string(PackedPolicySize)]' --output text 2>&1) || true
read -r c_arn c_si C_AKID C_SECRET C_TOKEN c_pps <<<"$chained"
[ "$c_arn" = "arn:aws:sts::123456789012:assumed-role/Chained/hop1" ] && [ "$c_si" = alice ] && [ "${C_AKID:0:4}" = ASIA ] && [ "${#C_SECRET}" = 40 ] && [ "$c_pps" -gt 0 ] \
	&& ok "awscli assume-role (tags, transitive, source identity)" || bad "awscli assume-role: $chained"
arn=$(env AWS_ACCESS_KEY_ID=$C_AKID AWS_SECRET_ACCESS_KEY=$C_SECRET AWS_SESSION_TOKEN=$C_TOKEN \
	"$AWS" sts get-caller-identity --endpoint-url "$url" --query Arn --output text 2>&1) || true
[ "$arn" = "arn:aws:sts::123456789012:assumed-role/Chained/hop1" ] && ok "awscli get-caller-identity (chained)" || bad "awscli chained identity: $arn"
partner=$(dev assume-role --role-arn arn:aws:iam::123456789012:role/Partner --role-session-name p1 --external-id partner-42 --query AssumedRoleUser.Arn --output text 2>&1) || true
[ "$partner" = "arn:aws:sts::123456789012:assumed-role/Partner/p1" ] && ok "awscli assume-role with ExternalId (account trust)" || bad "awscli ExternalId: $partner"
acct=$(dev get-access-key-info --access-key-id "$AKID" --query Account --output text 2>&1) || true
[ "$acct" = 123456789012 ] && ok "awscli get-access-key-info" || bad "awscli get-access-key-info: $acct"
expect_code AccessDenied dev assume-role --role-arn arn:aws:iam::123456789012:role/Partner --role-session-name p2 --external-id wrong-one
expect_code ValidationError dev assume-role --role-arn arn:aws:iam::123456789012:role/Chained --role-session-name hop2 --duration-seconds 3601
expect_code ValidationError dev assume-role --role-arn arn:aws:iam::123456789012:role/Chained --role-session-name "$(printf 's%.0s' $(seq 65))"
expect_code MalformedPolicyDocument dev assume-role --role-arn arn:aws:iam::123456789012:role/Chained --role-session-name hop3 --policy '{"Statement":'
bigtags=$("$PY" -c 'import json,secrets;print(json.dumps([{"Key":"k%02d"%i+secrets.token_hex(60),"Value":secrets.token_hex(120)} for i in range(50)]))')
expect_code PackedPolicyTooLarge dev assume-role --role-arn arn:aws:iam::123456789012:role/Chained --role-session-name hop4 --tags "$bigtags"
expect_code AccessDenied dev get-session-token --duration-seconds 903
expect_code AccessDenied dev get-federation-token --name Bob
expect_code AccessDenied dev decode-authorization-message --encoded-message abc
expect_code InvalidIdentityToken "$AWS" sts assume-role-with-saml --endpoint-url "$url" --role-arn arn:aws:iam::123456789012:role/Federated \
	--principal-arn arn:aws:iam::123456789012:saml-provider/corp --saml-assertion "$SAMLRESP"
expect_code InvalidIdentityToken "$AWS" sts assume-role-with-saml --endpoint-url "$url" --role-arn arn:aws:iam::123456789012:role/Federated \
	--principal-arn arn:aws:iam::123456789012:saml-provider/nope --saml-assertion "$SAMLRESP"
expect_code ValidationError "$AWS" sts assume-role-with-saml --endpoint-url "$url" --role-arn arn:aws:iam::123456789012:role/Federated \
	--principal-arn arn:aws:iam::123456789012:saml-provider/corp --saml-assertion "$SAMLRESP" --duration-seconds 43201

# boto3: the same credentials, and its error parsing.
AKID=$AKID SECRET=$SECRET TOKEN=$TOKEN URL=$url SAMLRESP=$SAMLRESP "$PY" - <<'PYEOF' && ok "boto3" || bad "boto3"
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

def expect(code, status, fn, **kw):
    try:
        fn(**kw)
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == code, (code, e.response)
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == status, (code, e.response)
        assert len(e.response["ResponseMetadata"]["RequestId"]) == 36, e.response
        return e
    raise SystemExit("%s: call succeeded" % code)

# AssumeRole chaining and the chained identity.
out = s.assume_role(RoleArn="arn:aws:iam::123456789012:role/Chained", RoleSessionName="boto-hop",
                    DurationSeconds=900, SourceIdentity="alice",
                    Tags=[{"Key": "project", "Value": "unicorn"}], TransitiveTagKeys=["project"])
c = out["Credentials"]
assert c["AccessKeyId"].startswith("ASIA") and len(c["AccessKeyId"]) == 20 and len(c["SecretAccessKey"]) == 40, c
assert out["AssumedRoleUser"]["Arn"] == "arn:aws:sts::123456789012:assumed-role/Chained/boto-hop", out
assert out["AssumedRoleUser"]["AssumedRoleId"].startswith("AROA") and out["AssumedRoleUser"]["AssumedRoleId"].endswith(":boto-hop"), out
assert out["SourceIdentity"] == "alice" and out["PackedPolicySize"] > 0, out
import datetime
left = (c["Expiration"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
assert 880 < left <= 905, left
h = boto3.client("sts", endpoint_url=os.environ["URL"], region_name="us-east-1", aws_access_key_id=c["AccessKeyId"],
                 aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
assert h.get_caller_identity()["UserId"] == out["AssumedRoleUser"]["AssumedRoleId"]
# Every session here is a role session: chaining is capped at one hour.
expect("ValidationError", 400, s.assume_role, RoleArn="arn:aws:iam::123456789012:role/Chained", RoleSessionName="again", DurationSeconds=7200)
assert s.get_access_key_info(AccessKeyId=c["AccessKeyId"])["Account"] == "123456789012"
assert s.assume_role(RoleArn="arn:aws:iam::123456789012:role/Partner", RoleSessionName="bp", ExternalId="partner-42")["AssumedRoleUser"]["Arn"].endswith("/Partner/bp")

# Error codes, as botocore parses them (modeled ones as typed exceptions).
expect("AccessDenied", 403, s.assume_role, RoleArn="arn:aws:iam::123456789012:role/Partner", RoleSessionName="bp")
expect("AccessDenied", 403, s.get_session_token, DurationSeconds=903)
e = expect("AccessDenied", 403, s.get_federation_token, Name="Bob")
assert e.response["Error"]["Message"] == "Cannot call GetFederationToken with session credentials", e.response
expect("ValidationError", 400, s.get_federation_token, Name="Bob", Policy="x" * 2049)
expect("ValidationError", 400, s.assume_role, RoleArn="arn:aws:iam::123456789012:role/Chained", RoleSessionName="a:b")
try:
    s.assume_role(RoleArn="arn:aws:iam::123456789012:role/Chained", RoleSessionName="bad-policy", Policy="[")
    raise SystemExit("bad policy accepted")
except s.exceptions.MalformedPolicyDocumentException:
    pass
try:
    anon.assume_role_with_saml(RoleArn="arn:aws:iam::123456789012:role/Federated",
                               PrincipalArn="arn:aws:iam::123456789012:saml-provider/corp", SAMLAssertion=os.environ["SAMLRESP"])
    raise SystemExit("unsigned SAML accepted")
except s.exceptions.InvalidIdentityTokenException as e:
    assert e.response["Error"]["Message"] == "Response signature invalid", e.response
expect("InvalidIdentityToken", 400, anon.assume_role_with_saml, RoleArn="arn:aws:iam::123456789012:role/Federated",
       PrincipalArn="arn:aws:iam::123456789012:saml-provider/nope", SAMLAssertion=os.environ["SAMLRESP"])
expect("MissingAuthenticationToken", 403, anon.assume_role, RoleArn="arn:aws:iam::123456789012:role/Chained", RoleSessionName="anon")
expect("AccessDenied", 403, s.decode_authorization_message, EncodedMessage="abc")
bad = boto3.client("sts", endpoint_url=os.environ["URL"], region_name="us-east-1", aws_access_key_id=c["AccessKeyId"],
                   aws_secret_access_key="x" * 40, aws_session_token=c["SessionToken"])
expect("SignatureDoesNotMatch", 403, bad.get_access_key_info, AccessKeyId=c["AccessKeyId"])
PYEOF

if grep -q "$SECRET\|$TOKEN\|${C_SECRET:-unset-secret}\|PHNhbWxw" "$tmp/server.log"; then bad "server log contains a secret"; else ok "no secret in the server log"; fi
echo "clients: $pass passed, $fail failed"
[ "$fail" = 0 ]
