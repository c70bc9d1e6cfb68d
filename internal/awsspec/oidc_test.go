package awsspec

import "testing"

func TestIssuerHostPath(t *testing.T) {
	for in, want := range map[string]string{
		"https://accounts.google.com":                   "accounts.google.com",
		"https://accounts.google.com/":                  "accounts.google.com",
		"http://127.0.0.1:8080":                         "127.0.0.1:8080",
		"https://idp.example.com/realms/a b/":           "idp.example.com/realms/a%20b",
		"https://token.actions.githubusercontent.com/x": "token.actions.githubusercontent.com/x",
	} {
		if got := IssuerHostPath(in); got != want {
			t.Errorf("IssuerHostPath(%q) = %q, want %q", in, got, want)
		}
	}
}
