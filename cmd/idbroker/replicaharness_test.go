package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/idbroker/idbroker/configs"
	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/internal/store/redistest"
	"github.com/idbroker/idbroker/providers/saml/samltest"
)

// The replica harness: n `idbroker serve` processes of the built binary,
// one real Redis and one key directory, all on loopback, driven only
// through what users and operators use (HTTP, the AWS SDK, the idbroker
// commands).

// replicaSet is a running deployment of replicas.
type replicaSet struct {
	bin   string
	redis *redistest.Server
	// keys is the shared key directory, cfg the shared configuration file.
	keys, cfg string
	// idp is the SAML IdP the STS trusts as saml-provider/corp.
	idp   *samltest.IdP
	bases []string
	procs []*replicaProc
}

// replicaProc is one `idbroker serve` process.
type replicaProc struct {
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan error
}

// replicaSAMLRole may be assumed with an assertion of saml-provider/corp.
const replicaSAMLRole = "arn:aws:iam::123456789012:role/SAMLReader"

// replicaExtra is what the harness adds to the demo: carol (alice's
// password, for the lock-out), a login protection that locks after 3
// refused passwords, and a role trusting a SAML IdP.
const replicaExtra = `
login_protection: {user_threshold: 3, ip_threshold: 1000, lock_duration: 1m}
sts:
  saml_providers:
    - {name: corp, metadata_file: %q}
`

// startReplicas starts n replicas on one Redis and one key directory; all
// of them name replica 0's URL as server.public_url (the issuer their
// credentials come from), as replicas behind a load balancer name its URL.
func startReplicas(t *testing.T, n int) *replicaSet {
	t.Helper()
	rs := &replicaSet{bin: buildIdbroker(t), redis: redistest.Start(t), idp: samltest.NewIdP(t)}
	dir := t.TempDir()
	rs.keys = filepath.Join(dir, "keys")
	if code, out, errOut := idbrokerCmd(t, rs.bin, "keys", "init", rs.keys); code != 0 {
		t.Fatalf("keys init: exit %d\n%s%s", code, out, errOut)
	}
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = freeAddr(t)
		rs.bases = append(rs.bases, "http://"+addrs[i])
	}
	cfg := string(configs.Demo)
	for _, edit := range [][2]string{
		{`keys: {dir: ""}`, fmt.Sprintf("keys: {dir: %q}", rs.keys)},
		{"store: {type: memory}", fmt.Sprintf("store: {type: redis, url: %q, replicas: %d}", rs.redis.URL, n)},
		{"server:\n", fmt.Sprintf("server:\n  public_url: %s\n", rs.bases[0])},
		{"    users:\n", "    users:\n      - {username: carol, password_hash: \"$2a$10$U9aZVUyLR.VgL4OPhZD3d.buFnvxyv3lZxDNy10Bapp2.tH9pU/7G\", groups: [developers]}\n"},
		{"roles:\n  - name: Developer\n", "roles:\n  - name: SAMLReader\n    trust_broker: false\n    trust_policy:\n      Version: \"2012-10-17\"\n      Statement:\n        - {Effect: Allow, Principal: {Federated: \"arn:aws:iam::123456789012:saml-provider/corp\"}, Action: sts:AssumeRoleWithSAML}\n  - name: Developer\n"},
	} {
		if !strings.Contains(cfg, edit[0]) {
			t.Fatalf("configs/demo.yaml changed shape (no %q); update the replica harness", edit[0])
		}
		cfg = strings.Replace(cfg, edit[0], edit[1], 1)
	}
	cfg += fmt.Sprintf(replicaExtra, rs.idp.MetadataFile(t))
	rs.cfg = filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(rs.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, addr := range addrs {
		p := &replicaProc{cmd: exec.Command(rs.bin, "serve", "--config", rs.cfg, "--listen", addr), log: &lockedBuffer{}, done: make(chan error, 1)}
		p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.done <- p.cmd.Wait() }()
		t.Cleanup(func() { p.stop() })
		rs.procs = append(rs.procs, p)
	}
	for i, base := range rs.bases {
		rs.waitReady(t, i, base)
	}
	return rs
}

// stop ends the process with SIGTERM (SIGKILL if it hangs).
func (p *replicaProc) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// waitReady polls replica i's /readyz until it answers 200.
func (rs *replicaSet) waitReady(t *testing.T, i int, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %d (%s) never became ready\n%s", i, base, rs.procs[i].log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logs are every replica's log, for failure messages.
func (rs *replicaSet) logs() string {
	var b strings.Builder
	for i, p := range rs.procs {
		fmt.Fprintf(&b, "--- replica %d ---\n%s", i, p.log.String())
	}
	return b.String()
}

// assertion is a fresh signed SAML Response of the IdP for SAMLReader.
func (rs *replicaSet) assertion(t *testing.T, nameID string) string {
	t.Helper()
	spec := samltest.ResponseSpec{
		Recipient: awsspec.SAMLRecipient, Audiences: []string{awsspec.SAMLAudience},
		NameID: nameID, NameIDFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
		Attributes: []samltest.Attribute{
			{Name: attrRole, Values: []string{replicaSAMLRole + ",arn:aws:iam::123456789012:saml-provider/corp"}},
			{Name: attrSession, Values: []string{nameID}},
		},
	}
	return samltest.Encode(samltest.XML(t, rs.idp.BuildResponse(t, spec)))
}

// redeem sends AssumeRoleWithSAML to base (aws-sdk-go-v2, unsigned): the
// AWS error code, "" when credentials were issued.
func redeem(t *testing.T, base, assertion string) string {
	t.Helper()
	_, err := stsClient(base, nil).AssumeRoleWithSAML(context.Background(), &awssts.AssumeRoleWithSAMLInput{
		RoleArn: aws.String(replicaSAMLRole), PrincipalArn: aws.String("arn:aws:iam::123456789012:saml-provider/corp"),
		SAMLAssertion: aws.String(assertion),
	})
	if err != nil && apiCode(err) == "" {
		t.Fatalf("AssumeRoleWithSAML at %s: %v", base, err)
	}
	return apiCode(err)
}

// pollUntil calls cond until it returns "" (then it returns), failing the
// test with cond's last answer after the deadline.
func pollUntil(t *testing.T, within time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		last := cond()
		if last == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, within, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
