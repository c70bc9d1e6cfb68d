#!/usr/bin/env bash
# clients-test.sh BIN: drive a running idbroker with the real AWS clients
# Debian ships (awscli and python3-boto3), as a user following the README
# would. Starts BIN on a free loopback port with the embedded demo, a SAML
# IdP (assertions signed here with xmlsec1) and an OpenID Connect issuer
# (RS256 tokens signed here with openssl; discovery and JWKS served by
# python3's http.server on loopback), checks the parsed results and at
# least ten distinct AWS error codes, stops the servers.
set -euo pipefail
bin=${1:?usage: clients-test.sh path/to/idbroker}
AWS=/usr/bin/aws
PY=/usr/bin/python3
if [ ! -x "$AWS" ] || ! "$PY" -c 'import boto3' 2>/dev/null || ! command -v xmlsec1 >/dev/null || ! command -v openssl >/dev/null; then
	if [ "$(id -u)" = 0 ]; then
		apt-get update >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends awscli python3-boto3 xmlsec1 openssl >/dev/null
	elif [ "${CI:-}" = true ]; then
		echo "clients-test: awscli/python3-boto3/xmlsec1/openssl missing and not root" >&2; exit 1
	else
		echo "clients-test: SKIPPED: awscli/python3-boto3/xmlsec1/openssl missing (install them, or run as root)" >&2; exit 0
	fi
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
freeport() { "$PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
port=$(freeport)
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

# An OpenID Connect issuer on loopback: an RS256 key made here; discovery
# and JWKS are static files served by python3's http.server.
oport=$(freeport)
issuer="http://127.0.0.1:$oport"
oidc_hostpath="127.0.0.1:$oport"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/jwt.key" >/dev/null 2>&1
mkdir -p "$tmp/oidc/.well-known"
modulus=$(openssl rsa -in "$tmp/jwt.key" -noout -modulus 2>/dev/null | cut -d= -f2)
MODULUS=$modulus ISSUER=$issuer DIR=$tmp/oidc "$PY" - <<'PYEOF'
import base64, json, os
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
iss, d = os.environ["ISSUER"], os.environ["DIR"]
key = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "clients-test-1",
       "n": b64(bytes.fromhex(os.environ["MODULUS"])), "e": b64((65537).to_bytes(3, "big"))}
with open(d + "/jwks.json", "w") as f:
    json.dump({"keys": [key]}, f)
with open(d + "/.well-known/openid-configuration", "w") as f:
    json.dump({"issuer": iss, "jwks_uri": iss + "/jwks.json", "authorization_endpoint": iss + "/authorize",
               "token_endpoint": iss + "/token", "response_types_supported": ["id_token"],
               "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"]}, f)
PYEOF
"$PY" -m http.server "$oport" --bind 127.0.0.1 --directory "$tmp/oidc" >"$tmp/oidc.log" 2>&1 &
pids+=($!)
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
# jwt CLAIMS-JSON: an RS256 JWT signed with the issuer's key.
jwt() {
	local h p
	h=$(printf '%s' '{"alg":"RS256","kid":"clients-test-1","typ":"JWT"}' | b64url)
	p=$(printf '%s' "$1" | b64url)
	printf '%s.%s.%s' "$h" "$p" "$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$tmp/jwt.key" | b64url)"
}
# claims AUD EXP-IN-SECONDS: ID token claims of the loopback issuer.
claims() {
	local now; now=$(date +%s)
	printf '{"iss":"%s","aud":"%s","sub":"repo:acme/app","iat":%d,"exp":%d,"email":"ci@acme.example"}' \
		"$issuer" "$1" "$((now + $2 - 900))" "$((now + $2))"
}
WEBTOKEN=$(jwt "$(claims clients-test 600)")            # awscli success
WEBTOKEN_BOTO=$(jwt "$(claims clients-test 601)")       # boto3 success
WEBTOKEN_OTHER_AUD=$(jwt "$(claims someone-else 600)")  # audience not registered
WEBTOKEN_EXPIRED=$(jwt "$(claims clients-test -600)")   # expired ten minutes ago

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
          - {Effect: Allow, Action: ["s3:GetObject", "sts:AssumeRole", "sts:TagSession", "sts:DecodeAuthorizationMessage"], Resource: "*"}
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
  - name: WebCI
    max_session_duration: 2h
    trust_broker: false
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: {Federated: "arn:aws:iam::123456789012:oidc-provider/$oidc_hostpath"}
          Action: sts:AssumeRoleWithWebIdentity
          Condition:
            StringEquals: {"$oidc_hostpath:aud": clients-test}
            StringLike: {"$oidc_hostpath:sub": "repo:acme/*"}
sts:
  saml_providers:
    - {name: corp, metadata_file: $tmp/idp-metadata.xml}
  oidc_providers:
    - {issuer: "$issuer", client_ids: [clients-test]}
EOF

# saml_response N STATUS ISSUED-OFFSET-SECONDS SESSION [unsigned]: a SAML
# Response of the "corp" IdP for the Federated role (SessionDuration 900),
# base64. Its assertion (ID _aN) is signed with the IdP key by xmlsec1
# (enveloped, exclusive c14n, RSA-SHA256) unless "unsigned" is given.
saml_response() {
	local n=$1 status=$2 issued later sig=""
	issued=$(date -u -d "$3 seconds" +%Y-%m-%dT%H:%M:%SZ); later=$(date -u -d '+10 min' +%Y-%m-%dT%H:%M:%SZ)
	if [ "${5:-}" != unsigned ]; then
		sig='<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#_a'$n'"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>'
	fi
	cat >"$tmp/saml-$n.xml" <<EOF
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r$n" Version="2.0" IssueInstant="$issued"><saml:Issuer>https://idp.clients-test.example/saml</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:$status"/></samlp:Status><saml:Assertion ID="_a$n" Version="2.0" IssueInstant="$issued"><saml:Issuer>https://idp.clients-test.example/saml</saml:Issuer>$sig<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">$4@corp.example</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="$later" Recipient="https://signin.aws.amazon.com/saml"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="$issued" NotOnOrAfter="$later"><saml:AudienceRestriction><saml:Audience>urn:amazon:webservices</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="$issued"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Password</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/Role"><saml:AttributeValue>arn:aws:iam::123456789012:role/Federated,arn:aws:iam::123456789012:saml-provider/corp</saml:AttributeValue></saml:Attribute><saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/RoleSessionName"><saml:AttributeValue>$4</saml:AttributeValue></saml:Attribute><saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/SessionDuration"><saml:AttributeValue>900</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion></samlp:Response>
EOF
	if [ -z "$sig" ]; then base64 -w0 <"$tmp/saml-$n.xml"; return; fi
	xmlsec1 --sign --privkey-pem "$tmp/idp.key,$tmp/idp.crt" --id-attr:ID urn:oasis:names:tc:SAML:2.0:assertion:Assertion \
		--output "$tmp/saml-$n.signed.xml" "$tmp/saml-$n.xml" >"$tmp/xmlsec1.log" 2>&1 || { cat "$tmp/xmlsec1.log" >&2; return 1; }
	base64 -w0 <"$tmp/saml-$n.signed.xml"
}
SAMLRESP=$(saml_response 1 Success 0 mallory unsigned) # refused: no signature
SAML_CLI=$(saml_response 2 Success 0 carol)            # awscli success
SAML_BOTO=$(saml_response 3 Success 0 dave)            # boto3 success
SAML_REJECTED=$(saml_response 4 Responder 0 erin)      # the IdP reports a failed login
SAML_OLD=$(saml_response 5 Success -420 frank)         # issued seven minutes ago
SAML_REJECTED_BOTO=$(saml_response 6 Responder 0 gina)
SAML_OLD_BOTO=$(saml_response 7 Success -420 hank)

"$bin" serve --config "$tmp/config.yaml" --listen "127.0.0.1:$port" </dev/null >"$tmp/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fs "$url/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
for _ in $(seq 100); do curl -fs "$issuer/.well-known/openid-configuration" >/dev/null 2>&1 && break; sleep 0.1; done

# Isolate the clients from any local AWS configuration; never the real AWS.
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_DEFAULT_REGION=us-east-1
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL || true

pass=0 fail=0
ok()  { pass=$((pass+1)); echo "ok   $*"; }
bad() { fail=$((fail+1)); echo "FAIL $*"; }
: >"$tmp/codes" # every error code a client parsed, one a line

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
	if grep -q "($code)" <<<"$out"; then ok "awscli $code"; echo "$code" >>"$tmp/codes"; else bad "awscli $code: $out"; fi
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

# awscli: AssumeRoleWithWebIdentity with the loopback issuer's token (no
# credentials, no signature), then who the minted keys are.
web=$("$AWS" sts assume-role-with-web-identity --endpoint-url "$url" --role-arn arn:aws:iam::123456789012:role/WebCI \
	--role-session-name ci-cli --web-identity-token "$WEBTOKEN" --duration-seconds 903 \
	--query '[AssumedRoleUser.Arn,AssumedRoleUser.AssumedRoleId,SubjectFromWebIdentityToken,Audience,Provider,Credentials.AccessKeyId,Credentials.SecretAccessKey,Credentials.SessionToken]' \
	--output text 2>&1) || true
read -r w_arn w_id w_sub w_aud w_prov W_AKID W_SECRET W_TOKEN <<<"$web"
if [ "$w_arn" = "arn:aws:sts::123456789012:assumed-role/WebCI/ci-cli" ] && [[ $w_id == AROA*:ci-cli ]] && [ "$w_sub" = repo:acme/app ] \
	&& [ "$w_aud" = clients-test ] && [ "$w_prov" = "arn:aws:iam::123456789012:oidc-provider/$oidc_hostpath" ] && [ "${W_AKID:0:4}" = ASIA ] && [ "${#W_SECRET}" = 40 ]; then
	ok "awscli assume-role-with-web-identity"
else
	bad "awscli assume-role-with-web-identity: $web"
fi
arn=$(env AWS_ACCESS_KEY_ID=$W_AKID AWS_SECRET_ACCESS_KEY=$W_SECRET AWS_SESSION_TOKEN=$W_TOKEN \
	"$AWS" sts get-caller-identity --endpoint-url "$url" --query '[Arn,UserId]' --output text 2>&1) || true
[ "$arn" = "$(printf '%s\t%s' "$w_arn" "$w_id")" ] && ok "awscli get-caller-identity (web identity)" || bad "awscli web identity caller: $arn"
expect_code InvalidIdentityToken "$AWS" sts assume-role-with-web-identity --endpoint-url "$url" \
	--role-arn arn:aws:iam::123456789012:role/WebCI --role-session-name ci2 --web-identity-token "$WEBTOKEN_OTHER_AUD"
expect_code ExpiredTokenException "$AWS" sts assume-role-with-web-identity --endpoint-url "$url" \
	--role-arn arn:aws:iam::123456789012:role/WebCI --role-session-name ci3 --web-identity-token "$WEBTOKEN_EXPIRED"
expect_code AccessDenied "$AWS" sts assume-role-with-web-identity --endpoint-url "$url" \
	--role-arn arn:aws:iam::123456789012:role/Federated --role-session-name ci4 --web-identity-token "$(jwt "$(claims clients-test 600)")"

# awscli: AssumeRoleWithSAML with an assertion signed by the IdP key.
saml=$("$AWS" sts assume-role-with-saml --endpoint-url "$url" --role-arn arn:aws:iam::123456789012:role/Federated \
	--principal-arn arn:aws:iam::123456789012:saml-provider/corp --saml-assertion "$SAML_CLI" \
	--query '[AssumedRoleUser.Arn,AssumedRoleUser.AssumedRoleId,Subject,SubjectType,Issuer,Audience,Credentials.AccessKeyId,Credentials.SecretAccessKey,Credentials.SessionToken]' \
	--output text 2>&1) || true
read -r s_arn s_id s_sub s_type s_iss s_aud S_AKID S_SECRET S_TOKEN <<<"$saml"
if [ "$s_arn" = "arn:aws:sts::123456789012:assumed-role/Federated/carol" ] && [[ $s_id == AROA*:carol ]] && [ "$s_sub" = carol@corp.example ] \
	&& [ "$s_type" = persistent ] && [ "$s_iss" = https://idp.clients-test.example/saml ] && [ "$s_aud" = https://signin.aws.amazon.com/saml ] \
	&& [ "${S_AKID:0:4}" = ASIA ] && [ "${#S_SECRET}" = 40 ]; then
	ok "awscli assume-role-with-saml (xmlsec1-signed assertion)"
else
	bad "awscli assume-role-with-saml: $saml"
fi
arn=$(env AWS_ACCESS_KEY_ID=$S_AKID AWS_SECRET_ACCESS_KEY=$S_SECRET AWS_SESSION_TOKEN=$S_TOKEN \
	"$AWS" sts get-caller-identity --endpoint-url "$url" --query '[Arn,UserId]' --output text 2>&1) || true
[ "$arn" = "$(printf '%s\t%s' "$s_arn" "$s_id")" ] && ok "awscli get-caller-identity (SAML)" || bad "awscli SAML caller: $arn"
samlcli() { "$AWS" sts assume-role-with-saml --endpoint-url "$url" --role-arn arn:aws:iam::123456789012:role/Federated "$@"; }
expect_code InvalidIdentityToken samlcli --principal-arn arn:aws:iam::123456789012:saml-provider/corp --saml-assertion "$SAML_CLI" # replayed
expect_code IDPRejectedClaim samlcli --principal-arn arn:aws:iam::123456789012:saml-provider/corp --saml-assertion "$SAML_REJECTED"
expect_code ExpiredTokenException samlcli --principal-arn arn:aws:iam::123456789012:saml-provider/corp --saml-assertion "$SAML_OLD"

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
# Developer may decode (its policy allows sts:DecodeAuthorizationMessage),
# but this STS never encoded "abc"; the Chained session may not decode.
expect_code InvalidAuthorizationMessageException dev decode-authorization-message --encoded-message abc
expect_code AccessDenied env AWS_ACCESS_KEY_ID=$C_AKID AWS_SECRET_ACCESS_KEY=$C_SECRET AWS_SESSION_TOKEN=$C_TOKEN \
	"$AWS" sts decode-authorization-message --endpoint-url "$url" --encoded-message abc
expect_code InvalidIdentityToken "$AWS" sts assume-role-with-saml --endpoint-url "$url" --role-arn arn:aws:iam::123456789012:role/Federated \
	--principal-arn arn:aws:iam::123456789012:saml-provider/corp --saml-assertion "$SAMLRESP"
expect_code InvalidIdentityToken "$AWS" sts assume-role-with-saml --endpoint-url "$url" --role-arn arn:aws:iam::123456789012:role/Federated \
	--principal-arn arn:aws:iam::123456789012:saml-provider/nope --saml-assertion "$SAMLRESP"
expect_code ValidationError "$AWS" sts assume-role-with-saml --endpoint-url "$url" --role-arn arn:aws:iam::123456789012:role/Federated \
	--principal-arn arn:aws:iam::123456789012:saml-provider/corp --saml-assertion "$SAMLRESP" --duration-seconds 43201

# boto3: the same credentials, and its error parsing.
AKID=$AKID SECRET=$SECRET TOKEN=$TOKEN URL=$url SAMLRESP=$SAMLRESP CODES=$tmp/codes "$PY" - <<'PYEOF' && ok "boto3" || bad "boto3"
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
        with open(os.environ["CODES"], "a") as f:
            f.write(code + "\n")
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
expect("AccessDenied", 403, h.decode_authorization_message, EncodedMessage="abc")
try:
    s.decode_authorization_message(EncodedMessage="abc")
    raise SystemExit("decoded a message this STS never encoded")
except s.exceptions.InvalidAuthorizationMessageException as e:
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response
bad = boto3.client("sts", endpoint_url=os.environ["URL"], region_name="us-east-1", aws_access_key_id=c["AccessKeyId"],
                   aws_secret_access_key="x" * 40, aws_session_token=c["SessionToken"])
expect("SignatureDoesNotMatch", 403, bad.get_access_key_info, AccessKeyId=c["AccessKeyId"])
PYEOF

# boto3: the federation actions (unsigned, no region) with a signed SAML
# assertion and an RS256 ID token, the identity of the minted keys, and
# the typed exceptions botocore raises for the modeled codes.
URL=$url CODES=$tmp/codes ISSUER=$issuer HOSTPATH=$oidc_hostpath SAML_BOTO=$SAML_BOTO SAML_REJECTED=$SAML_REJECTED_BOTO \
SAML_OLD=$SAML_OLD_BOTO WEBTOKEN=$WEBTOKEN_BOTO WEBTOKEN_EXPIRED=$WEBTOKEN_EXPIRED "$PY" - <<'PYEOF' && ok "boto3 federation (SAML, web identity)" || bad "boto3 federation"
import datetime, os, boto3, botocore
env = os.environ
anon = boto3.client("sts", endpoint_url=env["URL"], region_name=None,
                    config=botocore.config.Config(signature_version=botocore.UNSIGNED))
def record(e, code, status):
    assert e.response["Error"]["Code"] == code, (code, e.response)
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == status, (code, e.response)
    with open(env["CODES"], "a") as f:
        f.write(code + "\n")
def who(c):
    return boto3.client("sts", endpoint_url=env["URL"], region_name="us-east-1", aws_access_key_id=c["AccessKeyId"],
                        aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"]).get_caller_identity()
def now():
    return datetime.datetime.now(datetime.timezone.utc)
saml = dict(RoleArn="arn:aws:iam::123456789012:role/Federated", PrincipalArn="arn:aws:iam::123456789012:saml-provider/corp")

out = anon.assume_role_with_saml(SAMLAssertion=env["SAML_BOTO"], **saml)
u, c = out["AssumedRoleUser"], out["Credentials"]
assert u["Arn"] == "arn:aws:sts::123456789012:assumed-role/Federated/dave", out
assert u["AssumedRoleId"].startswith("AROA") and u["AssumedRoleId"].endswith(":dave") and len(u["AssumedRoleId"]) == 21 + 1 + 4, u
assert c["AccessKeyId"].startswith("ASIA") and len(c["AccessKeyId"]) == 20 and len(c["SecretAccessKey"]) == 40, c
assert 880 < (c["Expiration"] - now()).total_seconds() <= 905, c["Expiration"]  # SessionDuration 900
assert out["Subject"] == "dave@corp.example" and out["SubjectType"] == "persistent", out
assert out["Issuer"] == "https://idp.clients-test.example/saml" and out["Audience"] == "https://signin.aws.amazon.com/saml", out
assert out["NameQualifier"], out
i = who(c)
assert i["Arn"] == u["Arn"] and i["UserId"] == u["AssumedRoleId"] and i["Account"] == "123456789012", i
try:
    anon.assume_role_with_saml(SAMLAssertion=env["SAML_REJECTED"], **saml)
    raise SystemExit("IdP failure status accepted")
except anon.exceptions.IDPRejectedClaimException as e:
    record(e, "IDPRejectedClaim", 403)
try:
    anon.assume_role_with_saml(SAMLAssertion=env["SAML_OLD"], **saml)
    raise SystemExit("seven-minute-old assertion accepted")
except anon.exceptions.ExpiredTokenException as e:
    record(e, "ExpiredTokenException", 400)
    assert e.response["Error"]["Message"] == "Token must be redeemed within 5 minutes of issuance", e.response
try:
    anon.assume_role_with_saml(SAMLAssertion=env["SAML_BOTO"], **saml)
    raise SystemExit("replayed assertion accepted")
except anon.exceptions.InvalidIdentityTokenException as e:
    record(e, "InvalidIdentityToken", 400)

web = dict(RoleArn="arn:aws:iam::123456789012:role/WebCI", RoleSessionName="ci-boto")
out = anon.assume_role_with_web_identity(WebIdentityToken=env["WEBTOKEN"], DurationSeconds=903, **web)
u, c = out["AssumedRoleUser"], out["Credentials"]
assert u["Arn"] == "arn:aws:sts::123456789012:assumed-role/WebCI/ci-boto", out
assert u["AssumedRoleId"].startswith("AROA") and u["AssumedRoleId"].endswith(":ci-boto"), u
assert c["AccessKeyId"].startswith("ASIA") and len(c["AccessKeyId"]) == 20 and len(c["SecretAccessKey"]) == 40, c
assert 890 < (c["Expiration"] - now()).total_seconds() <= 905, c["Expiration"]
assert out["SubjectFromWebIdentityToken"] == "repo:acme/app" and out["Audience"] == "clients-test", out
assert out["Provider"] == "arn:aws:iam::123456789012:oidc-provider/" + env["HOSTPATH"], out
i = who(c)
assert i["Arn"] == u["Arn"] and i["UserId"] == u["AssumedRoleId"], i
try:
    anon.assume_role_with_web_identity(WebIdentityToken=env["WEBTOKEN_EXPIRED"], **web)
    raise SystemExit("expired ID token accepted")
except anon.exceptions.ExpiredTokenException as e:
    record(e, "ExpiredTokenException", 400)
try:
    anon.assume_role_with_web_identity(WebIdentityToken=env["WEBTOKEN"], DurationSeconds=7201, **web)
    raise SystemExit("DurationSeconds above MaxSessionDuration accepted")
except botocore.exceptions.ClientError as e:
    record(e, "ValidationError", 400)
PYEOF

# boto3/botocore: pre-signed GetCallerIdentity URLs (X-Amz-Expires) fetched
# with urllib, and malformed raw requests, parsed by botocore's own query
# protocol parser.
AKID=$AKID SECRET=$SECRET TOKEN=$TOKEN URL=$url CODES=$tmp/codes "$PY" - <<'PYEOF' && ok "botocore pre-signed URLs and raw requests" || bad "botocore pre-signed URLs and raw requests"
import os, time, urllib.error, urllib.request, boto3, botocore.parsers
env = os.environ
s = boto3.client("sts", endpoint_url=env["URL"], region_name="us-east-1", aws_access_key_id=env["AKID"],
                 aws_secret_access_key=env["SECRET"], aws_session_token=env["TOKEN"])
parser = botocore.parsers.QueryParser()
def fetch(req):
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
def expect_raw(code, status, req):
    st, headers, body = fetch(req)
    parsed = parser.parse({"status_code": st, "headers": headers, "body": body}, None)
    assert st == status and parsed["Error"]["Code"] == code, (code, st, parsed)
    assert len(parsed["ResponseMetadata"]["RequestId"]) == 36, parsed
    with open(env["CODES"], "a") as f:
        f.write(code + "\n")
    return parsed

# botocore presigns with the operation's method (POST) unless told GET.
st, _, body = fetch(s.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET"))
assert st == 200 and b"assumed-role/Developer/alice" in body, (st, body)
# The default URL is signed for POST (with the hash of the empty body, not
# UNSIGNED-PAYLOAD): POSTed it works; a GET of it is SignatureDoesNotMatch,
# as at AWS, since the method is signed.
default = s.generate_presigned_url("get_caller_identity", ExpiresIn=60)
st, _, body = fetch(urllib.request.Request(default, data=b"", method="POST"))
assert st == 200 and b"assumed-role/Developer/alice" in body, (st, body)
expect_raw("SignatureDoesNotMatch", 403, default)
short = s.generate_presigned_url("get_caller_identity", ExpiresIn=1, HttpMethod="GET")
time.sleep(2)
expect_raw("RequestExpired", 400, short)
form = {"Content-Type": "application/x-www-form-urlencoded"}
# Statuses per AWS's Common Errors (STS-SPEC §3): InvalidAction 400, MalformedQueryString 404.
expect_raw("InvalidAction", 400, urllib.request.Request(env["URL"] + "/", data=b"Action=FlyToTheMoon&Version=2011-06-15", headers=form))
expect_raw("MalformedQueryString", 404, urllib.request.Request(env["URL"] + "/", data=b"Action=GetCallerIdentity&Version=2011-06-15&x=%zz", headers=form))
PYEOF

ncodes=$(sort -u "$tmp/codes" | wc -l)
if [ "$ncodes" -ge 10 ]; then ok "$ncodes distinct error codes: $(sort -u "$tmp/codes" | tr '\n' ' ')"; else bad "only $ncodes distinct error codes: $(sort -u "$tmp/codes" | tr '\n' ' ')"; fi
if grep -qF -e "$SECRET" -e "$TOKEN" -e "${C_SECRET:-unset-secret}" -e "${S_SECRET:-unset-secret}" -e "${W_SECRET:-unset-secret}" \
	-e "$WEBTOKEN" -e "${WEBTOKEN%%.*}" -e PHNhbWxw -e PD94bWwg "$tmp/server.log"; then
	bad "server log contains a secret"
else
	ok "no secret in the server log"
fi
echo "clients: $pass passed, $fail failed"
[ "$fail" = 0 ]
