package broker

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRecheck: a session asks its upstream again once the re-check interval
// has passed, never before; what the upstream says now decides: a group
// gone drops its grant with a refusal naming the role (the session lives
// on), a user gone ends the session and revokes what it issued, and an
// upstream that cannot be asked refuses this issuance and keeps the
// session. The upstream state goes back to the provider and its rotation
// is kept.
func TestRecheck(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example.com", Sessions{RecheckInterval: time.Minute})
	token, sid := b.createSession(t, "olga")
	ask := func(role string) (int, map[string]any) {
		t.Helper()
		rec, out := b.credentials(t, token, `{"role":"`+role+`"}`)
		return rec.Code, out
	}
	if code, out := ask("Ops"); code != http.StatusOK {
		t.Fatalf("first issuance: %d %v", code, out)
	}
	if n := b.dir.refresh.Load(); n != 0 {
		t.Fatalf("re-checked %d times within the interval", n)
	}

	// ops removed upstream: within the interval the session still has it.
	b.dir.setUsers(t, map[string][]string{"olga": {"developers"}})
	if code, _ := ask("Ops"); code != http.StatusOK {
		t.Fatalf("within the interval: %d", code)
	}
	b.clk.add(time.Minute)
	code, out := ask("Ops")
	e, _ := out["error"].(map[string]any)
	if code != http.StatusForbidden || e["code"] != "RoleNoLongerGranted" || !strings.HasSuffix(e["message"].(string), "Ops") {
		t.Fatalf("lost grant: %d %v", code, out)
	}
	if n := b.dir.refresh.Load(); n != 1 {
		t.Fatalf("%d re-checks, want 1", n)
	}
	if ev := b.auditEvents(t, "issue.refused"); len(ev) != 1 || ev[0]["session_id"] != sid {
		t.Errorf("issue.refused %v", ev)
	}
	// The session lives on with what is still granted, and the next
	// request is within the new interval.
	if code, out := ask("Developer"); code != http.StatusOK {
		t.Fatalf("remaining grant: %d %v", code, out)
	}
	if n := b.dir.refresh.Load(); n != 1 {
		t.Fatalf("%d re-checks, want 1", n)
	}
	se, err := b.s.loadSession(context.Background(), sid)
	if err != nil || string(se.Upstream) != upstreamCanary+"-1" || strings.Join(se.Identity.Groups, ",") != "developers" {
		t.Fatalf("refreshed session: %v, upstream %q, groups %v", err, se.Upstream, se.Identity.Groups)
	}

	// The upstream cannot be asked: refused, kept.
	b.clk.add(time.Minute)
	b.dir.setFail(true)
	code, out = ask("Developer")
	if e, _ := out["error"].(map[string]any); code != http.StatusServiceUnavailable || e["code"] != "ProviderUnavailable" {
		t.Fatalf("upstream down: %d %v", code, out)
	}
	b.dir.setFail(false)
	if code, out := ask("Developer"); code != http.StatusOK {
		t.Fatalf("upstream back: %d %v", code, out)
	}

	// olga is gone: the session ends, its credentials are revoked.
	b.clk.add(time.Minute)
	b.dir.setUsers(t, map[string][]string{"alice": {"developers"}})
	issued := len(b.sts.calls())
	rec, out := b.credentials(t, token, `{"role":"Developer"}`)
	checkInvalidSession(t, "account gone", rec, out)
	if len(b.sts.calls()) != issued {
		t.Error("a gone account was issued credentials")
	}
	if got := b.revoker.revoked(); len(got) != 1 || got[0] != sid {
		t.Errorf("revoked %v, want [%s]", got, sid)
	}
	if ev := b.auditEvents(t, "session.ended"); len(ev) != 1 || !strings.HasPrefix(ev[0]["reason"].(string), "account gone") {
		t.Errorf("session.ended %v", ev)
	}
	rec, out = b.request(t, http.MethodGet, "/api/v1/sessions/current", token, "", "")
	checkInvalidSession(t, "after the end", rec, out)
	if strings.Contains(b.logs.String(), upstreamCanary) {
		t.Error("the upstream state reached the log")
	}
}

// TestRemapWithTheRulesInForce: each issuance maps the session's identity
// with the rules in force then: after a reload that takes a role away, the
// session is refused that role by name and gets the one the new rules
// grant, without signing in again.
func TestRemapWithTheRulesInForce(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example.com", Sessions{})
	token, _ := b.createSession(t, "alice")
	if rec, out := b.credentials(t, token, `{}`); rec.Code != http.StatusOK || out["RoleArn"] != moRoleARN("Developer") {
		t.Fatalf("before: %d %v", rec.Code, out)
	}
	b.mapper.set(t, `
rules:
  - {name: devs-now-ops, when: {groups_any: [developers]}, roles: [Ops]}
`)
	rec, out := b.credentials(t, token, `{"role":"Developer"}`)
	if e, _ := out["error"].(map[string]any); rec.Code != http.StatusForbidden || e["code"] != "RoleNoLongerGranted" || !strings.HasSuffix(e["message"].(string), "Developer") {
		t.Fatalf("removed role: %d %v", rec.Code, out)
	}
	if rec, out := b.credentials(t, token, `{}`); rec.Code != http.StatusOK || out["RoleArn"] != moRoleARN("Ops") {
		t.Fatalf("after: %d %v", rec.Code, out)
	}
	// A role never granted is the usual refusal, not a lost grant.
	if rec, out := b.credentials(t, token, `{"role":"Admin"}`); rec.Code != http.StatusForbidden || out["error"].(map[string]any)["code"] != "RoleNotGranted" {
		t.Fatalf("never granted: %d %v", rec.Code, out)
	}
	// Nothing granted any more: the roles the session had are named.
	b.mapper.set(t, "rules: []\n")
	rec, out = b.credentials(t, token, `{}`)
	if e, _ := out["error"].(map[string]any); rec.Code != http.StatusForbidden || e["code"] != "RoleNoLongerGranted" {
		t.Fatalf("nothing left: %d %v", rec.Code, out)
	}
}
