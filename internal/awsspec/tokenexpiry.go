package awsspec

import "time"

// TokenExpiredError is an ErrTokenExpired that says when the token
// expired: AWS quotes the expiry in its ExpiredTokenException ("Token
// expired: current date/time <now> must be before the expiration
// date/time<exp>"), so a verifier that knows it reports it this way.
type TokenExpiredError struct {
	Expiry time.Time
}

func (e *TokenExpiredError) Error() string {
	return ErrTokenExpired.Error() + " at " + e.Expiry.UTC().Format(time.RFC3339)
}

// Unwrap makes the error an ErrTokenExpired for errors.Is.
func (e *TokenExpiredError) Unwrap() error { return ErrTokenExpired }
