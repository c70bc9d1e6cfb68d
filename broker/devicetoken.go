package broker

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/idbroker/idbroker/providers"
)

// redeemDeviceCode is the device-code grant (RFC 8628 §3.4, §3.5): while
// the person has not answered, authorization_pending, or slow_down for a
// poll that comes before the interval (which then grows by 5 seconds);
// access_denied after Deny; expired_token once the request has expired;
// after Approve, the token answer exactly once (the delivery is claimed in
// the store).
func (s *Server) redeemDeviceCode(w http.ResponseWriter, r *http.Request, form url.Values) {
	ctx := r.Context()
	client, e, ok := clientOf(r, form)
	if !ok {
		writeTokenError(w, e)
		return
	}
	dc := form.Get("device_code")
	if dc == "" {
		writeTokenError(w, oauthErr(http.StatusBadRequest, "invalid_request", "device_code is required"))
		return
	}
	const unknown = "the device code is invalid or has expired: run the login command again"
	rid, secret, ok := parseSessionToken(dc)
	if !ok {
		writeTokenError(w, oauthErr(http.StatusBadRequest, "invalid_grant", unknown))
		return
	}
	var req deviceRequest
	if err := s.getGrant(ctx, deviceID(rid), &req); err != nil {
		if errors.Is(err, errNoOAuthRecord) {
			writeTokenError(w, oauthErr(http.StatusBadRequest, "invalid_grant", unknown))
			return
		}
		writeTokenError(w, oauthRefusal(s.sessionRefused(ctx, err), false))
		return
	}
	if subtle.ConstantTimeCompare(req.SecretHash, secretHash(secret)) != 1 || client != req.ClientID {
		writeTokenError(w, oauthErr(http.StatusBadRequest, "invalid_grant", unknown))
		return
	}
	if !s.now().Before(req.Expires) {
		writeTokenError(w, oauthErr(http.StatusBadRequest, "expired_token", "the device code has expired: run the login command again"))
		return
	}
	switch req.Decision {
	case deviceDenied:
		writeTokenError(w, oauthErr(http.StatusBadRequest, "access_denied", "the request was denied in the browser"))
		return
	case deviceApproved:
		s.deliverDevice(w, r, rid, req)
		return
	}
	slow, err := s.devicePoll(ctx, rid, req)
	switch {
	case err != nil:
		writeTokenError(w, oauthRefusal(s.sessionRefused(ctx, err), false))
	case slow:
		writeTokenError(w, oauthErr(http.StatusBadRequest, "slow_down", "polled faster than the interval: wait 5 seconds longer between polls"))
	default:
		writeTokenError(w, oauthErr(http.StatusBadRequest, "authorization_pending", "waiting for the person to approve the request in the browser"))
	}
}

// devicePoll records a poll of a pending request and reports whether it
// came too soon: a poll answered authorization_pending claims the request
// until the interval has passed (less a second of leeway); a poll that
// finds the claim held is too soon and adds deviceSlowDown to the interval
// the next claim holds for. (The interval is counted from the last poll
// answered authorization_pending: a client that waits the grown interval
// after slow_down is never early.)
func (s *Server) devicePoll(ctx context.Context, rid string, req deviceRequest) (bool, error) {
	keep := req.Expires.Add(deviceRecordGrace)
	sctx, cancel := context.WithTimeout(ctx, oauth2StoreTimeout)
	defer cancel()
	slowKey := oauth2GrantPrefix + "device-slow:" + rid
	n, err := s.cfg.Store.Get(sctx, slowKey)
	if err != nil {
		return false, errors.Join(errSessionStore, err)
	}
	interval := deviceInterval + time.Duration(n)*deviceSlowDown
	fresh, err := s.cfg.Store.Claim(sctx, oauth2GrantPrefix+"device-poll:"+rid, s.now().Add(interval-devicePollLeeway))
	if err != nil {
		return false, errors.Join(errSessionStore, err)
	}
	if fresh {
		return false, nil
	}
	if _, err := s.cfg.Store.Incr(sctx, slowKey, keep.Sub(s.now())); err != nil {
		return false, errors.Join(errSessionStore, err)
	}
	return true, nil
}

// deliverDevice answers the first poll after Approve with the CLI's new
// session; any later one is invalid_grant.
func (s *Server) deliverDevice(w http.ResponseWriter, r *http.Request, rid string, req deviceRequest) {
	ctx := r.Context()
	fresh, err := s.claim(ctx, oauth2GrantPrefix+"device-delivered:"+rid, req.Expires.Add(deviceRecordGrace))
	if err != nil {
		writeTokenError(w, oauthRefusal(s.sessionRefused(ctx, err), false))
		return
	}
	if !fresh {
		s.audit(ctx, "oauth2.device_refused", providers.Identity{}, slog.String("device_request", rid), slog.String("client_ip", clientIP(r)), slog.String("reason", "delivered already"))
		writeTokenError(w, oauthErr(http.StatusBadRequest, "invalid_grant", "the device code was used already: run the login command again"))
		return
	}
	se, token, b, err := s.cliSession(ctx, req.Session)
	if err != nil {
		s.audit(ctx, "oauth2.device_refused", providers.Identity{}, slog.String("device_request", rid), slog.String("from_session", req.Session),
			slog.String("client_ip", clientIP(r)), slog.Any("reason", err))
		writeTokenError(w, oauthRefusal(err, false))
		return
	}
	s.audit(ctx, "oauth2.device_redeemed", se.Identity, slog.String("session_id", se.ID), slog.String("from_session", b.ID),
		slog.String("device_request", rid), slog.String("device_name", req.DeviceName), slog.String("client_ip", clientIP(r)), slog.Time("expires", se.Expires))
	s.writeCLIToken(w, se, token)
}
