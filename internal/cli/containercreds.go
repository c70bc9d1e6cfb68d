package cli

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"
)

// The ECS/EKS container credentials format, as the AWS SDKs read it from
// AWS_CONTAINER_CREDENTIALS_FULL_URI with AWS_CONTAINER_AUTHORIZATION_TOKEN
// in the Authorization header: {"AccessKeyId", "SecretAccessKey", "Token",
// "Expiration", "RoleArn"}; errors as {"code", "message"}.

// ContainerCredentials serves one profile's keys in the container format
// to callers that present Token.
type ContainerCredentials struct {
	// Token is the secret a caller must send in Authorization.
	Token string
	// Get returns fresh keys (Getter.Get for the profile).
	Get func(ctx context.Context) (*Credentials, error)
	Log *slog.Logger
}

type containerAnswer struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	Token           string `json:"Token"`
	Expiration      string `json:"Expiration"`
	RoleArn         string `json:"RoleArn"`
}

type containerError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (s *ContainerCredentials) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeContainerJSON(w, http.StatusMethodNotAllowed, containerError{"MethodNotAllowed", "use GET"})
		return
	}
	got := r.Header.Values("Authorization")
	if len(got) != 1 || subtle.ConstantTimeCompare([]byte(got[0]), []byte(s.Token)) != 1 {
		s.Log.Warn("credentials request refused: missing or wrong Authorization token", "remote", r.RemoteAddr)
		writeContainerJSON(w, http.StatusUnauthorized, containerError{"Unauthorized", "a missing or wrong authorization token"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), RequestTimeout)
	defer cancel()
	c, err := s.Get(ctx)
	if err != nil {
		s.Log.Error("no credentials to serve", "err", err)
		writeContainerJSON(w, http.StatusServiceUnavailable, containerError{"CredentialsUnavailable", err.Error()})
		return
	}
	writeContainerJSON(w, http.StatusOK, containerAnswer{
		AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, Token: c.SessionToken,
		Expiration: c.Expiration.UTC().Format(time.RFC3339), RoleArn: c.RoleARN,
	})
}

func writeContainerJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
