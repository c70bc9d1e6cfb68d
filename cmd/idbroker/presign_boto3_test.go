package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/idbroker/idbroker/configs"
)

// presignScript presigns GetCallerIdentity with boto3 as users do, fetches
// the URLs with urllib, and prints {case: [status, body]} as JSON. The
// "UNSIGNED-PAYLOAD" case signs the same request with botocore's S3 query
// signer (the only AWS presigner that uses UNSIGNED-PAYLOAD) and checks
// that it did.
const presignScript = `
import hashlib, hmac, json, os, urllib.error, urllib.parse, urllib.request
import boto3, botocore.auth, botocore.awsrequest, botocore.credentials
env = os.environ
s = boto3.client("sts", endpoint_url=env["URL"], region_name="us-east-1", aws_access_key_id=env["AKID"],
                 aws_secret_access_key=env["SECRET"], aws_session_token=env["TOKEN"])
def fetch(url, method):
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return [r.status, r.read().decode()]
    except urllib.error.HTTPError as e:
        return [e.code, e.read().decode()]
def payload_hash_of(url, method):
    # The payload hash the URL's signature covers (of two candidates).
    p = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qsl(p.query, keep_blank_values=True)
    d = dict(q)
    cq = "&".join(urllib.parse.quote(k, safe="-_.~") + "=" + urllib.parse.quote(v, safe="-_.~")
                  for k, v in sorted(q) if k != "X-Amz-Signature")
    key = ("AWS4" + env["SECRET"]).encode()
    for part in (d["X-Amz-Date"][:8], "us-east-1", "sts", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    for ph in ("UNSIGNED-PAYLOAD", hashlib.sha256(b"").hexdigest()):
        cr = "\n".join([method, "/", cq, "host:" + p.netloc + "\n", d["X-Amz-SignedHeaders"], ph])
        sts = "\n".join(["AWS4-HMAC-SHA256", d["X-Amz-Date"], d["X-Amz-Credential"].split("/", 1)[1],
                         hashlib.sha256(cr.encode()).hexdigest()])
        if hmac.new(key, sts.encode(), hashlib.sha256).hexdigest() == d["X-Amz-Signature"]:
            return ph
    return None
out = {}
default = s.generate_presigned_url("get_caller_identity", ExpiresIn=60)
out["default hash"] = [0, payload_hash_of(default, "POST")]
out["default POSTed"] = fetch(default, "POST")
out["default GET"] = fetch(default, "GET")
get = s.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
out["GET hash"] = [0, payload_hash_of(get, "GET")]
out["GET"] = fetch(get, "GET")
creds = botocore.credentials.Credentials(env["AKID"], env["SECRET"], env["TOKEN"])
req = botocore.awsrequest.AWSRequest(method="GET", url=env["URL"] + "/?Action=GetCallerIdentity&Version=2011-06-15")
botocore.auth.S3SigV4QueryAuth(creds, "sts", "us-east-1", expires=60).add_auth(req)
out["unsigned hash"] = [0, payload_hash_of(req.url, "GET")]
out["UNSIGNED-PAYLOAD"] = fetch(req.url, "GET")
print(json.dumps(out))
`

// TestBoto3PresignedCallerIdentity: presigned GetCallerIdentity URLs from
// boto3 (Debian's python3-boto3) against a running server. botocore
// presigns STS with the SHA-256 of the empty body, for POST unless told
// HttpMethod="GET"; a GET of a URL signed for POST is SignatureDoesNotMatch
// (as at AWS: the method is signed). A URL signed with UNSIGNED-PAYLOAD
// (botocore's S3 presigner) is refused, as AWS refuses it outside S3.
func TestBoto3PresignedCallerIdentity(t *testing.T) {
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import boto3").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s with boto3 is required in CI (apt-get install python3-boto3): %v", py, err)
		}
		t.Skipf("SKIPPED: %s with boto3 is missing (apt-get install python3-boto3): %v", py, err)
	}
	ts := startServer(t, configs.Demo)
	status, creds := apiLogin(t, ts.URL, map[string]any{"provider": "demo", "username": "alice", "password": "alice"})
	if status != 200 {
		t.Fatalf("login: %d %v", status, creds)
	}
	cmd := exec.Command(py, "-c", presignScript)
	cmd.Env = []string{"URL=" + ts.URL, "AKID=" + creds["AccessKeyId"].(string), "SECRET=" + creds["SecretAccessKey"].(string),
		"TOKEN=" + creds["SessionToken"].(string), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	raw, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("boto3 script: %v\n%s", err, stderr)
	}
	var out map[string][2]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("script output %q: %v", raw, err)
	}
	const emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	for name, want := range map[string]string{"default hash": emptyHash, "GET hash": emptyHash, "unsigned hash": "UNSIGNED-PAYLOAD"} {
		if out[name][1] != want {
			t.Errorf("%s: the URL is signed with payload hash %v, want %s", name, out[name][1], want)
		}
	}
	for name, want := range map[string]string{"default POSTed": "", "GET": "", "default GET": "SignatureDoesNotMatch", "UNSIGNED-PAYLOAD": "SignatureDoesNotMatch"} {
		got, _ := out[name][0].(float64)
		body, _ := out[name][1].(string)
		switch {
		case want == "" && (got != 200 || !strings.Contains(body, "assumed-role/Developer/alice")):
			t.Errorf("%s: %v %s", name, got, body)
		case want != "" && (got != 403 || !strings.Contains(body, "<Code>"+want+"</Code>")):
			t.Errorf("%s: %v %s, want 403 %s", name, got, body, want)
		}
	}
}
