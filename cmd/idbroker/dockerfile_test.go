package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The image is built from base images pinned by digest (a tag can be
// re-pointed at other bytes), with the Go release go.mod asks for, and
// `make docker` passes the version into the binary.
func TestDockerfilePinsBaseImages(t *testing.T) {
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	from := regexp.MustCompile(`(?m)^FROM\s+(?:--platform=\S+\s+)?(\S+)`)
	pinned := regexp.MustCompile(`^[a-z0-9./-]+:[\w.-]+@sha256:[0-9a-f]{64}$`)
	froms := from.FindAllStringSubmatch(string(df), -1)
	if len(froms) < 2 {
		t.Fatalf("Dockerfile has %d FROM lines, want the build and the runtime stage", len(froms))
	}
	for _, m := range froms {
		if !pinned.MatchString(m[1]) {
			t.Errorf("FROM %s: base image not pinned by digest (image:tag@sha256:<64 hex>)", m[1])
		}
	}
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	if goLine == nil {
		t.Fatal("go.mod has no go directive")
	}
	if want := "FROM golang:" + string(goLine[1]) + "@"; !strings.Contains(string(df), want) {
		t.Errorf("the build stage is not %s… (go.mod says go %s)", want, goLine[1])
	}
	if !strings.Contains(string(df), "-X main.version=${VERSION}") {
		t.Error("the Dockerfile does not stamp the version into the binary")
	}
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^\tdocker build .*--build-arg VERSION=\$\(VERSION\)`).Match(mk) {
		t.Error("make docker does not pass --build-arg VERSION=$(VERSION)")
	}
}
