package providers

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// Upstream (an OIDC refresh token) never appears when an Identity is
// printed with any verb, logged with either slog handler, or encoded as
// JSON; the rest of the identity does.
func TestIdentityNeverShowsUpstream(t *testing.T) {
	const secret = "rt-CANARY-refresh-token-upstream-7f3a"
	id := Identity{
		Provider: "corp", Subject: "https://idp#u-1", Username: "alice", Groups: []string{"dev"},
		MFA: true, MFATime: time.Unix(1700000000, 0).UTC(), AuthTime: time.Unix(1700000000, 0).UTC(),
		Upstream: []byte(secret),
	}
	type holder struct {
		ID  Identity
		Ptr *Identity
	}
	var texts []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		texts = append(texts, fmt.Sprintf(verb, id), fmt.Sprintf(verb, &id), fmt.Sprintf(verb, holder{id, &id}), fmt.Sprintf(verb, []Identity{id}))
	}
	texts = append(texts, id.String(), fmt.Sprint(id), fmt.Sprintln(id))
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		slog.New(h).Info("login", "identity", id, "ptr", &id, slog.Any("any", id))
	}
	texts = append(texts, buf.String())
	js, err := json.Marshal(id)
	if err != nil {
		t.Fatal(err)
	}
	texts = append(texts, string(js))
	// The secret as text, in hex, as %v prints bytes, and in base64.
	renderings := []string{secret, fmt.Sprintf("%x", secret), strings.Trim(fmt.Sprint([]byte(secret)), "[]"), base64.StdEncoding.EncodeToString([]byte(secret))[:20]}
	for _, s := range texts {
		for _, r := range renderings {
			if strings.Contains(strings.ToLower(s), strings.ToLower(r)) {
				t.Errorf("Upstream shown: %s", s)
			}
		}
		if strings.Contains(s, "CANARY") {
			t.Errorf("Upstream shown: %s", s)
		}
	}
	if s := fmt.Sprintf("%+v", id); !strings.Contains(s, "Username:alice") || !strings.Contains(s, "REDACTED") {
		t.Errorf("%%+v = %s", s)
	}
	if s := fmt.Sprintf("%+v", Identity{Username: "bob"}); strings.Contains(s, "REDACTED") {
		t.Errorf("%%+v without Upstream = %s", s)
	}
	if !strings.Contains(buf.String(), `"username":"alice"`) || !strings.Contains(buf.String(), `"upstream":"REDACTED"`) {
		t.Errorf("log = %s", buf.String())
	}
}
