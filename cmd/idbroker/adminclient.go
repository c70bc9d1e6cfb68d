package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/idbroker/idbroker/internal/loopback"
)

// adminClient calls the broker's administrators' APIs the way an
// administrator's program would: SigV4-signed (service "sts", the broker's
// region) with the AWS credentials of the environment, which the broker
// itself issued for an administrator role.
type adminClient struct {
	base   *url.URL
	creds  aws.Credentials
	region string
	http   *http.Client
	now    func() time.Time
}

// adminRequestTimeout bounds one call of the administrators' APIs (a
// revocation of a large group walks and ends many sessions).
const adminRequestTimeout = 2 * time.Minute

// maxAdminAnswer bounds an answer read (a page of 1000 sessions, or a
// revocation listing 10,000 session ids, fits).
const maxAdminAnswer = 16 << 20

// errUsage is a command-line mistake (exit code 2).
var errUsage = errors.New("usage")

// newAdminClient checks --url and reads the credentials and region from
// getenv. Plain http is only for the local machine: the session token
// travels in a header.
func newAdminClient(rawURL, region string, getenv func(string) string) (*adminClient, error) {
	if rawURL == "" {
		return nil, fmt.Errorf("%w: --url is required (the broker's public URL, e.g. https://idbroker.example.org)", errUsage)
	}
	u, err := url.Parse(rawURL)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("%w: --url must be the broker's http(s) URL, without user, query or fragment", errUsage)
	case u.Scheme == "http" && !loopback.Host(u.Hostname()):
		return nil, fmt.Errorf("%w: --url %s is plain http to another machine: use https (the session token would travel in clear)", errUsage, u.Redacted())
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	id := firstEnv(getenv, "AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY")
	secret := firstEnv(getenv, "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY")
	token := getenv("AWS_SESSION_TOKEN")
	if id == "" || secret == "" || token == "" {
		return nil, errors.New("no AWS credentials in the environment: set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and " +
			"AWS_SESSION_TOKEN to keys the broker issued for an administrator role (one of admin.roles), " +
			`e.g. from POST /api/v1/credentials with {"role":"<admin role>"}`)
	}
	if region == "" {
		region = firstEnv(getenv, "AWS_REGION", "AWS_DEFAULT_REGION")
	}
	if region == "" {
		region = "us-east-1"
	}
	return &adminClient{
		base: u, creds: aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: token},
		region: region, http: &http.Client{Timeout: adminRequestTimeout}, now: time.Now,
	}, nil
}

func firstEnv(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// apiFailure is an error answer of the broker's JSON APIs.
type apiFailure struct {
	Status  int
	Code    string
	Message string
	// what is the operation ("revoke", "list sessions"), action the IAM
	// action it needs.
	what, action, region string
}

func (e *apiFailure) Error() string {
	msg := fmt.Sprintf("%s was refused (HTTP %d %s): %s", e.what, e.Status, e.Code, e.Message)
	if hint := e.hint(); hint != "" {
		msg += "\n" + hint
	}
	return msg
}

// hint says what to do next about a refusal.
func (e *apiFailure) hint() string {
	switch e.Code {
	case "AccessDenied":
		return "The credentials must be of a role listed in admin.roles whose policies allow " + e.action +
			" on \"*\" (see the README, \"Administrators: sessions and revocation\")."
	case "InvalidClientTokenId":
		return "The broker does not accept these credentials: they are unknown to it, revoked, or were issued by another broker. Get new ones."
	case "ExpiredToken":
		return "The credentials have expired: get new ones from the broker."
	case "SignatureDoesNotMatch", "IncompleteSignature":
		return fmt.Sprintf("Check AWS_SECRET_ACCESS_KEY, and that the region (%s; --region, AWS_REGION) is the broker's region.", e.region)
	case "ServiceUnavailable":
		return "Run the command again in a moment."
	}
	if e.Status == http.StatusNotFound || e.Status == http.StatusMethodNotAllowed {
		return "Is --url the broker's public URL, and does the broker run a version with the administrators' APIs?"
	}
	return ""
}

// call sends a signed request and decodes a JSON answer of status want
// into out; any other answer is an *apiFailure.
func (c *adminClient) call(ctx context.Context, method, path string, query url.Values, body any, want int, out any, what, action string) error {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return err
		}
	}
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(raw))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	sum := sha256.Sum256(raw)
	if err := v4.NewSigner().SignHTTP(ctx, c.creds, req, hex.EncodeToString(sum[:]), "sts", c.region, c.now()); err != nil {
		return fmt.Errorf("sign the request: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the broker at %s: %w", c.base.Redacted(), err)
	}
	defer resp.Body.Close()
	ans, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminAnswer+1))
	if err != nil {
		return fmt.Errorf("reading the broker's answer: %w", err)
	}
	if len(ans) > maxAdminAnswer {
		return fmt.Errorf("the broker's answer is larger than %d bytes", maxAdminAnswer)
	}
	if resp.StatusCode != want {
		f := &apiFailure{Status: resp.StatusCode, what: what, action: action, region: c.region}
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(ans, &e) == nil && e.Error.Code != "" {
			f.Code, f.Message = e.Error.Code, e.Error.Message
		} else {
			f.Code, f.Message = http.StatusText(resp.StatusCode), "the answer is not the broker's JSON"
		}
		return f
	}
	if err := json.Unmarshal(ans, out); err != nil {
		return fmt.Errorf("the broker's answer is not the expected JSON: %w", err)
	}
	return nil
}
