package cli

import (
	"context"
	"fmt"
	"net/http"
)

// TOTPEnrollment is a pending TOTP enrolment (POST /api/v1/mfa/totp): the
// secret and its otpauth:// URI, both secrets shown to the person once.
type TOTPEnrollment struct {
	Secret     string `json:"secret"`
	OTPAuthURI string `json:"otpauth_uri"`
}

// BeginTOTP begins a TOTP enrolment of the session's person.
func (c *Client) BeginTOTP(ctx context.Context, token string) (*TOTPEnrollment, error) {
	var out TOTPEnrollment
	if err := c.do(ctx, http.MethodPost, "/api/v1/mfa/totp", token, nil, &out); err != nil {
		return nil, err
	}
	if out.Secret == "" || out.OTPAuthURI == "" {
		return nil, fmt.Errorf("the broker at %s answered the enrolment without a secret", c.Base)
	}
	return &out, nil
}

// ConfirmTOTP confirms the pending enrolment with a code from the
// authenticator and returns the recovery codes (shown once).
func (c *Client) ConfirmTOTP(ctx context.Context, token, code string) ([]string, error) {
	var out struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	if err := c.do(ctx, http.MethodPost, "/api/v1/mfa/totp/confirm", token, map[string]string{"code": code}, &out); err != nil {
		return nil, err
	}
	if len(out.RecoveryCodes) == 0 {
		return nil, fmt.Errorf("the broker at %s confirmed the enrolment without recovery codes", c.Base)
	}
	return out.RecoveryCodes, nil
}
