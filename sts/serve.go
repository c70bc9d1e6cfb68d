package sts

import (
	"context"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"
)

const (
	apiVersion   = "2011-06-15"
	xmlNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"
	// MaxBodyBytes caps a Query API request body: room for a 100,000-character
	// SAMLAssertion after form encoding (THREATS SAML-43).
	MaxBodyBytes = 256 << 10
)

// ActionFunc implements a Query API action registered with RegisterAction.
// The result is XML-marshalled inside <{Op}Result> (and JSON-marshalled for
// Accept: application/json); nil gives an empty result. Return an *Error for
// an AWS error; any other error becomes 500 InternalFailure (logged, not
// shown). ActionFuncs do their own authentication (Service.Authenticate with
// req.HTTP and req.Body()) and their own auditing (Service.Audit).
type ActionFunc func(ctx context.Context, req *Request) (result any, err error)

// RegisterAction adds a Query API action (for example the broker's
// AssumeRoleWithLDAPIdentity). Registering a built-in action name or the
// same name twice panics: it is a wiring error.
func (s *Service) RegisterAction(name string, fn ActionFunc) {
	if name == "" || fn == nil {
		panic("sts: RegisterAction: empty name or nil function")
	}
	if s.builtin(name) != nil {
		panic("sts: RegisterAction: " + name + " is a built-in action")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.actions[name]; dup {
		panic("sts: RegisterAction: " + name + " registered twice")
	}
	s.actions[name] = fn
}

// builtin returns the handler of a built-in action.
func (s *Service) builtin(name string) ActionFunc {
	switch name {
	case "AssumeRoleWithWebIdentity":
		return s.handleAssumeRoleWithWebIdentity
	case "GetCallerIdentity":
		return s.handleGetCallerIdentity
	case actionSAML:
		return s.handleAssumeRoleWithSAML
	case actionAssumeRole:
		return s.handleAssumeRole
	case "GetAccessKeyInfo":
		return s.handleGetAccessKeyInfo
	case "GetSessionToken":
		return s.handleGetSessionToken
	case "GetFederationToken":
		return s.handleGetFederationToken
	case "DecodeAuthorizationMessage":
		return s.handleDecodeAuthorizationMessage
	}
	return nil
}

func (s *Service) action(name string) ActionFunc {
	if fn := s.builtin(name); fn != nil {
		return fn
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.actions[name]
}

// ServeHTTP serves the STS Query API: POST / with a form body, or GET with
// the parameters in the query string (both are merged).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := uuid.NewString()
	st := &reqState{requestID: reqID, sourceIP: remoteIP(r)}
	ctx := withReqState(r.Context(), st)
	wantJSON := prefersJSON(r.Header.Values("Accept"))

	req, err := s.parse(w, r, reqID, st.sourceIP)
	var result any
	if err == nil {
		fn := s.action(req.Action)
		if fn == nil {
			err = newError(http.StatusBadRequest, "InvalidAction", "Could not find operation %s for version %s", req.Action, apiVersion)
		} else {
			st.action = req.Action
			result, err = fn(ctx, req)
		}
	}
	if err != nil {
		var ae *Error
		if !errors.As(err, &ae) {
			s.log.ErrorContext(ctx, "sts: internal error", "request_id", reqID, "err", err)
			ae = errInternal()
		}
		defer s.observeRequest(st.action, ae.Code, start)
		// A throttled request is audited once per burst by whoever
		// throttled it (limits.go, the broker), never per request.
		if !st.audited && ae.Code != codeThrottling {
			action := ""
			if req != nil {
				action = req.Action
			}
			s.emit(ctx, AuditEvent{Action: action, Outcome: "denied", Code: ae.Code, Reason: ae.Message})
		}
		writeError(w, ae, reqID, wantJSON)
		return
	}
	writeResult(w, req.Action, result, reqID, wantJSON, &s.resultBufs)
	s.observeRequest(st.action, "", start)
}

// parse reads and merges the parameters and checks Action and Version.
// MalformedQueryString is HTTP 404, as in AWS's common errors (STS-SPEC §3).
func (s *Service) parse(w http.ResponseWriter, r *http.Request, reqID, ip string) (*Request, error) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, POST")
		return nil, newError(http.StatusMethodNotAllowed, "MethodNotAllowed", "The HTTP method %s is not allowed; use POST or GET", r.Method)
	}
	var body []byte
	if r.Body != nil {
		var err error
		body, err = readBody(w, r)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, newError(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "Request body must not exceed %d bytes", MaxBodyBytes)
			}
			return nil, newError(http.StatusNotFound, "MalformedQueryString", "Could not read the request body")
		}
	}
	params, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, newError(http.StatusNotFound, "MalformedQueryString", "The query string is malformed")
	}
	if len(body) > 0 {
		if r.Method != http.MethodPost {
			return nil, newError(http.StatusNotFound, "MalformedQueryString", "A %s request must not have a body", r.Method)
		}
		if !isFormContentType(r.Header.Get("Content-Type")) {
			return nil, newError(http.StatusUnsupportedMediaType, "UnsupportedMediaType", "Content-Type must be application/x-www-form-urlencoded")
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, newError(http.StatusNotFound, "MalformedQueryString", "The request body is not a valid form")
		}
		if len(params) == 0 {
			params = form // the usual POST: nothing to merge
		} else {
			for k, vs := range form {
				params[k] = append(params[k], vs...)
			}
		}
	}
	// A parameter given twice with different values (query and body, or
	// repeated) is ambiguous: refuse rather than pick one.
	for k, vs := range params {
		for _, v := range vs[1:] {
			if v != vs[0] {
				if k == "Action" {
					return nil, newError(http.StatusBadRequest, "InvalidParameterCombination", "Action is given more than once with different values")
				}
				return nil, newError(http.StatusBadRequest, "InvalidParameterCombination", "Parameter %s is given more than once with different values", k)
			}
		}
	}
	req := &Request{RequestID: reqID, SourceIP: ip, SecureTransport: SecureTransport(r), HTTP: r, params: params, body: body}
	action, ok := req.Lookup("Action")
	if !ok || action == "" {
		return nil, newError(http.StatusBadRequest, "MissingAction", "Missing Action")
	}
	req.Action = action
	version, ok := req.Lookup("Version")
	if !ok || version == "" {
		return req, newError(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter Version")
	}
	if version != apiVersion {
		return req, newError(http.StatusBadRequest, "InvalidAction", "Could not find operation %s for version %s", action, version)
	}
	return req, nil
}

// readBody reads the request body, at most MaxBodyBytes (a larger body
// fails with *http.MaxBytesError). A declared Content-Length within the
// limit is read into one buffer of that size instead of a growing one.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	rd := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if n := r.ContentLength; n > 0 && n <= MaxBodyBytes {
		// One byte more than declared, so that a body longer than its
		// Content-Length (possible with a hand-built Request) is still read
		// to the end as io.ReadAll would.
		buf := make([]byte, 0, n+1)
		for {
			m, err := rd.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+m]
			if err == io.EOF {
				return buf, nil
			}
			if err != nil {
				return buf, err
			}
			if len(buf) == cap(buf) {
				rest, err := io.ReadAll(rd)
				return append(buf, rest...), err
			}
		}
	}
	return io.ReadAll(rd)
}

// isFormContentType reports whether a Content-Type header is
// application/x-www-form-urlencoded (parameters allowed), as
// mime.ParseMediaType would decide, without its allocations for the two
// forms SDKs send.
func isFormContentType(ct string) bool {
	switch ct {
	case "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=utf-8":
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
