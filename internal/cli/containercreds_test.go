package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestContainerCredentials(t *testing.T) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	var logs bytes.Buffer
	fail := false
	h := &ContainerCredentials{Token: "right-token-0123456789", Log: slog.New(slog.NewTextHandler(&logs, nil)),
		Get: func(context.Context) (*Credentials, error) {
			if fail {
				return nil, errors.New("the session has ended: run `idbroker login --profile dev`")
			}
			return &Credentials{AccessKeyID: "ASIA1", SecretAccessKey: "secret-CANARY", SessionToken: "token", Expiration: exp, RoleARN: "arn:aws:iam::1:role/Dev"}, nil
		}}
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(method string, auth ...string) (int, map[string]any) {
		req, _ := http.NewRequest(method, srv.URL+"/", nil)
		for _, a := range auth {
			req.Header.Add("Authorization", a)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
		}
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	status, out := get(http.MethodGet, "right-token-0123456789")
	if status != 200 || out["AccessKeyId"] != "ASIA1" || out["Token"] != "token" || out["Expiration"] != "2030-01-02T03:04:05Z" || out["RoleArn"] != "arn:aws:iam::1:role/Dev" {
		t.Fatalf("%d %v", status, out)
	}
	for name, auth := range map[string][]string{
		"missing": nil, "wrong": {"wrong-token"}, "prefix": {"right-token"}, "bearer": {"Bearer right-token-0123456789"},
		"twice": {"right-token-0123456789", "right-token-0123456789"},
	} {
		if status, out := get(http.MethodGet, auth...); status != 401 || out["code"] != "Unauthorized" || out["AccessKeyId"] != nil {
			t.Errorf("%s token: %d %v", name, status, out)
		}
	}
	if status, _ := get(http.MethodPost, "right-token-0123456789"); status != 405 {
		t.Errorf("POST: %d", status)
	}
	fail = true
	if status, out := get(http.MethodGet, "right-token-0123456789"); status != 503 || !strings.Contains(out["message"].(string), "idbroker login") {
		t.Errorf("no keys: %d %v", status, out)
	}
	if strings.Contains(logs.String(), "secret-CANARY") || strings.Contains(logs.String(), "right-token") {
		t.Errorf("a secret in the log:\n%s", logs.String())
	}
}
