package store

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want []string // substrings, one per expected error; none: valid
	}{
		{"empty is memory", Config{}, nil},
		{"memory", Config{Type: "memory", Replicas: 1}, nil},
		{"redis", Config{Type: "redis", URL: "redis://127.0.0.1:6379/0", Replicas: 3}, nil},
		{"rediss", Config{Type: "redis", URL: "rediss://user:pw@127.0.0.1:6380/2"}, nil},
		{"file", Config{Type: "file", Path: "/var/lib/idbroker/state.db"}, nil},
		{"unknown type", Config{Type: "etcd"}, []string{`store.type: "etcd" must be memory, redis or file`}},
		{"memory replicas", Config{Type: "memory", Replicas: 2}, []string{"store.replicas: 2 replicas cannot share a memory store"}},
		{"file replicas", Config{Type: "file", Path: "x.db", Replicas: 2}, []string{"store.replicas: 2 replicas cannot share a file store"}},
		{"default type replicas", Config{Replicas: 4}, []string{"store.replicas: 4 replicas cannot share a memory store"}},
		{"negative replicas", Config{Type: "redis", URL: "redis://127.0.0.1", Replicas: -1}, []string{"store.replicas: -1 must not be negative"}},
		{"redis without url", Config{Type: "redis"}, []string{"store.url: required for type redis"}},
		{"redis with http url", Config{Type: "redis", URL: "http://127.0.0.1:6379"}, []string{"store.url: must be a redis:// or rediss:// URL"}},
		{"redis with bad url", Config{Type: "redis", URL: "redis://:secret@[::1"}, []string{"store.url: must be a redis:// or rediss:// URL"}},
		{"redis with path", Config{Type: "redis", URL: "redis://127.0.0.1", Path: "x"}, []string{"store.path: only type file takes a path"}},
		{"file without path", Config{Type: "file"}, []string{"store.path: required for type file"}},
		{"file with url", Config{Type: "file", Path: "x", URL: "redis://127.0.0.1"}, []string{"store.url: only type redis takes a url"}},
		{"memory with both", Config{URL: "redis://127.0.0.1", Path: "x"}, []string{"store.url: only type redis", "store.path: only type file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("valid config refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("errors %q, want %d", lines, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("error %q, want it to start %q", lines[i], w)
				}
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error repeats the URL's password: %v", err)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		cfg     Config
		shared  bool
		wantErr string
	}{
		{"memory", Config{}, false, ""},
		{"file", Config{Type: "file", Path: filepath.Join(dir, "state.db")}, false, ""},
		{"redis (no dial)", Config{Type: "redis", URL: "redis://:pw@127.0.0.1:1/0"}, true, ""},
		{"file in a missing directory", Config{Type: "file", Path: filepath.Join(dir, "missing", "state.db")}, false, "store.path: open " + filepath.Join(dir, "missing", "state.db")},
		{"redis with a bad database", Config{Type: "redis", URL: "redis://:secret@127.0.0.1:1/x"}, false, "store.url: "},
		{"invalid", Config{Type: "file"}, false, "store.path: required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(tc.cfg)
			if tc.wantErr != "" {
				if err == nil {
					s.Close()
					t.Fatal("opened")
				}
				if !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("error %q, want it to start %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Fatalf("error repeats the URL's password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Shared() != tc.shared {
				t.Fatalf("Shared() = %v", s.Shared())
			}
		})
	}
}
