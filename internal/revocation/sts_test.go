package revocation

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/sts"
)

// The Set behind a real STS: credentials minted by AssumeRoleWithWebIdentity
// and chained with AssumeRole, checked with the AWS SDK's GetCallerIdentity.

const (
	brokerIssuer = "https://broker.example.com"
	devRole      = "arn:aws:iam::123456789012:role/dev"
	hopRole      = "arn:aws:iam::123456789012:role/hop"
)

// claimsVerifier stands in for the broker's token verifier (tested with
// real keys in providers/oidc and cmd/idbroker): it takes the claims of a
// JWT-shaped token as they are.
type claimsVerifier struct{}

func (claimsVerifier) VerifyWebIdentity(_ context.Context, tok string) (*sts.WebIdentity, error) {
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		return nil, err
	}
	sub, _ := claims["sub"].(string)
	return &sts.WebIdentity{Issuer: brokerIssuer, Subject: sub, Audience: "idbroker", Claims: claims}, nil
}

// brokerToken is a token of the broker for user with session sid.
func brokerToken(user, sid string) string {
	payload, _ := json.Marshal(map[string]any{"iss": brokerIssuer, "sub": user, "aud": "idbroker", "sid": sid})
	return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(payload) + ".c2ln"
}

// replica is one STS with its Set, served over HTTP.
type replica struct {
	svc *sts.Service
	set *Set
	url string
}

func newReplica(t *testing.T, clk *clock, keys *sts.KeyRing, set *Set) *replica {
	t.Helper()
	svc, err := sts.New(sts.Config{AccountID: "123456789012", Keys: keys, Now: clk.Now, Revocations: set,
		OIDCProviders: []sts.OIDCProvider{{Issuer: brokerIssuer, Verifier: claimsVerifier{}}},
		Roles: []sts.RoleConfig{
			{Name: "dev", TrustPolicy: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` + brokerOIDC + `"},"Action":"sts:AssumeRoleWithWebIdentity"}]}`)},
			{Name: "hop", TrustPolicy: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + devRole + `"},"Action":"sts:AssumeRole"}]}`)},
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	return &replica{svc: svc, set: set, url: srv.URL}
}

func (r *replica) client(creds *aws.Credentials) *awssts.Client {
	var p aws.CredentialsProvider = aws.AnonymousCredentials{}
	if creds != nil {
		c := *creds
		p = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return c, nil })
	}
	return awssts.New(awssts.Options{BaseEndpoint: aws.String(r.url), Region: "us-east-1", Credentials: p, Retryer: aws.NopRetryer{}})
}

func (r *replica) login(t *testing.T, user, sid string) aws.Credentials {
	t.Helper()
	out, err := r.client(nil).AssumeRoleWithWebIdentity(t.Context(), &awssts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(devRole), RoleSessionName: aws.String(user), WebIdentityToken: aws.String(brokerToken(user, sid))})
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity: %v", err)
	}
	c := out.Credentials
	return aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}
}

func (r *replica) chain(t *testing.T, from aws.Credentials) aws.Credentials {
	t.Helper()
	out, err := r.client(&from).AssumeRole(t.Context(), &awssts.AssumeRoleInput{RoleArn: aws.String(hopRole), RoleSessionName: aws.String("hop")})
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	c := out.Credentials
	return aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}
}

// refused returns "" when GetCallerIdentity succeeds, else the error code.
func (r *replica) refused(creds aws.Credentials) string {
	_, err := r.client(&creds).GetCallerIdentity(context.Background(), &awssts.GetCallerIdentityInput{})
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return err.Error()
}

// TestSTSRefusesEverySelector: revocation by session, user, group, role and
// access key, checked with the AWS SDK on GetCallerIdentity before and
// after, reaches chained credentials, and spares credentials issued after
// NotBefore.
func TestSTSRefusesEverySelector(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entry   func(creds map[string]aws.Credentials) Entry
		refused []string
	}{
		{"session", func(map[string]aws.Credentials) Entry {
			return Entry{Selector: Selector{Kind: KindSession, Value: "s-alice"}}
		}, []string{"alice", "alice-hop"}},
		{"user", func(map[string]aws.Credentials) Entry {
			return Entry{Selector: Selector{Kind: KindUser, Value: "alice"}, SessionIDs: []string{"s-alice"}}
		}, []string{"alice", "alice-hop"}},
		{"group", func(map[string]aws.Credentials) Entry {
			return Entry{Selector: Selector{Kind: KindGroup, Value: "devs"}, SessionIDs: []string{"s-alice", "s-bob"}}
		}, []string{"alice", "alice-hop", "bob"}},
		{"role", func(map[string]aws.Credentials) Entry {
			return Entry{Selector: Selector{Kind: KindRole, Value: "dev"}, RoleARN: devRole}
		}, []string{"alice", "alice-hop", "bob"}},
		{"chained role", func(map[string]aws.Credentials) Entry {
			return Entry{Selector: Selector{Kind: KindRole, Value: hopRole}, RoleARN: hopRole}
		}, []string{"alice-hop"}},
		{"access key", func(c map[string]aws.Credentials) Entry {
			return Entry{Selector: Selector{Kind: KindAccessKeyID, Value: c["alice"].AccessKeyID}}
		}, []string{"alice", "alice-hop"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{}
			keys, err := sts.GenerateKeyRing()
			if err != nil {
				t.Fatal(err)
			}
			r := newReplica(t, clk, keys, synced(t, store.NewMemory(clk.Now), clk))
			creds := map[string]aws.Credentials{"alice": r.login(t, "alice", "s-alice"), "bob": r.login(t, "bob", "s-bob")}
			creds["alice-hop"] = r.chain(t, creds["alice"])
			for name, c := range creds {
				if code := r.refused(c); code != "" {
					t.Fatalf("%s before: %s", name, code)
				}
			}
			if err := r.set.Add(t.Context(), tc.entry(creds)); err != nil {
				t.Fatal(err)
			}
			for name, c := range creds {
				want := ""
				for _, n := range tc.refused {
					if n == name {
						want = "InvalidClientTokenId"
					}
				}
				if got := r.refused(c); got != want {
					t.Errorf("%s after: %q, want %q", name, got, want)
				}
			}
			clk.Advance(time.Second)
			if code := r.refused(r.login(t, "alice", "s-alice")); code != "" {
				t.Errorf("a login after NotBefore: %s", code)
			}
		})
	}
}

// TestTwoReplicasThroughSTS: two STS replicas on one Redis, each with its
// Set: credentials minted on one and chained on the other are refused by
// the other within two seconds of a revocation made on the first.
func TestTwoReplicasThroughSTS(t *testing.T) {
	var a, b store.Store
	for _, be := range backends {
		if be.name == "redis" {
			a, b = be.open(t, nil)
		}
	}
	clk := &clock{}
	keys, err := sts.GenerateKeyRing()
	if err != nil {
		t.Fatal(err)
	}
	ra, rb := newReplica(t, clk, keys, synced(t, a, clk)), newReplica(t, clk, keys, synced(t, b, clk))
	run(t, ra.set)
	run(t, rb.set)
	alice := ra.login(t, "alice", "s-alice")
	hop := rb.chain(t, alice)
	for name, c := range map[string]aws.Credentials{"alice": alice, "hop": hop} {
		if code := rb.refused(c); code != "" {
			t.Fatalf("%s before: %s", name, code)
		}
	}
	if err := ra.set.Add(t.Context(), Entry{Selector: Selector{Kind: KindSession, Value: "s-alice"},
		By: "arn:aws:sts::123456789012:assumed-role/admin/root"}); err != nil {
		t.Fatal(err)
	}
	if code := ra.refused(alice); code != "InvalidClientTokenId" {
		t.Fatalf("the replica that revoked: %q", code)
	}
	start := time.Now()
	eventually(t, propagation, "the other replica refuses", func() bool {
		return rb.refused(alice) == "InvalidClientTokenId" && rb.refused(hop) == "InvalidClientTokenId"
	})
	t.Logf("applied on the other replica after %s", time.Since(start).Round(time.Millisecond))
	_, err = rb.client(&alice).AssumeRole(t.Context(), &awssts.AssumeRoleInput{RoleArn: aws.String(hopRole), RoleSessionName: aws.String("again")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidClientTokenId" {
		t.Errorf("chaining on the other replica: %v", err)
	}
}

// TestChainingDuringPropagationIsNoEscape: credentials chained, after the
// revocation, on a replica that has not applied it yet are refused as soon
// as it has (and by every other replica), and so are the ones chained from
// them: chaining in the propagation window does not outlive the revocation.
func TestChainingDuringPropagationIsNoEscape(t *testing.T) {
	for _, sel := range []Entry{
		{Selector: Selector{Kind: KindSession, Value: "s-alice"}},
		{Selector: Selector{Kind: KindRole, Value: "dev"}, RoleARN: devRole},
	} {
		t.Run(sel.Selector.Kind, func(t *testing.T) {
			clk := &clock{}
			keys, err := sts.GenerateKeyRing()
			if err != nil {
				t.Fatal(err)
			}
			st := store.NewMemory(clk.Now)
			ra, rb := newReplica(t, clk, keys, synced(t, st, clk)), newReplica(t, clk, keys, synced(t, st, clk))
			alice := ra.login(t, "alice", "s-alice")
			if err := ra.set.Add(t.Context(), sel); err != nil {
				t.Fatal(err)
			}
			// rb has not applied it (its Set does not run): chaining there
			// after NotBefore still works...
			clk.Advance(2 * time.Second)
			hop := rb.chain(t, alice)
			if code := rb.refused(hop); code != "" {
				t.Fatalf("before rb applies the entry: %s", code)
			}
			// ...until it applies it; the chained credentials die with their root.
			if err := rb.set.Sync(t.Context()); err != nil {
				t.Fatal(err)
			}
			for _, r := range []*replica{ra, rb} {
				if code := r.refused(hop); code != "InvalidClientTokenId" {
					t.Errorf("credentials chained in the window: %q", code)
				}
			}
		})
	}
}
