package broker

import (
	"net/http/httptest"
	"testing"
)

// TestWriteJSONKeepsURLs: the JSON APIs answer programs, so "&", "<" and
// ">" stay as they are (an otpauth URI is copied as the README shows it).
func TestWriteJSONKeepsURLs(t *testing.T) {
	rec := httptest.NewRecorder()
	writeJSON(rec, 200, map[string]string{"otpauth_uri": "otpauth://totp/x?digits=6&period=30<>"})
	if got, want := rec.Body.String(), `{"otpauth_uri":"otpauth://totp/x?digits=6&period=30<>"}`+"\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
