package sts

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"
)

const (
	apiVersion   = "2011-06-15"
	xmlNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"
	// MaxBodyBytes caps a Query API request body: room for a 100,000-character
	// SAMLAssertion after form encoding (THREATS SAML-43).
	MaxBodyBytes = 256 << 10
	// maxListMembers bounds X.member.N lists.
	maxListMembers = 1000
)

// ActionFunc implements a Query API action registered with RegisterAction.
// The result is XML-marshalled inside <{Op}Result> (and JSON-marshalled for
// Accept: application/json); nil gives an empty result. Return an *Error for
// an AWS error; any other error becomes 500 InternalFailure (logged, not
// shown). ActionFuncs do their own authentication (Service.Authenticate with
// req.HTTP and req.Body()) and their own auditing (Service.Audit).
type ActionFunc func(ctx context.Context, req *Request) (result any, err error)

// Request is a parsed Query API request.
type Request struct {
	// Action is the Action parameter.
	Action string
	// RequestID is the AWS request id of the response.
	RequestID string
	// SourceIP is the client address (the connection's remote address).
	SourceIP string
	// SecureTransport says whether the client's request came over TLS
	// (aws:SecureTransport): see SecureTransport.
	SecureTransport bool
	// HTTP is the raw request; its body has been consumed (see Body).
	HTTP   *http.Request
	params url.Values
	body   []byte
}

// Body is the raw request body (for SigV4 payload hashing).
func (r *Request) Body() []byte { return r.body }

// Get returns the first value of the parameter name, "" when absent.
func (r *Request) Get(name string) string { return r.params.Get(name) }

// Lookup returns the parameter and whether it was present.
func (r *Request) Lookup(name string) (string, bool) {
	v, ok := r.params[name]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// List returns a list parameter sent as Name.member.1, Name.member.2, …
// in index order. "Name=" (explicitly empty list) gives an empty list.
func (r *Request) List(name string) ([]string, error) {
	items, err := r.members(name)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it[""]
	}
	return out, nil
}

// StructList returns a list of structures sent as Name.member.N.Field=value
// (for example Tags.member.1.Key / .Value, PolicyArns.member.1.arn), each
// as a map from field name to value, in index order. Unknown fields are
// ignored.
func (r *Request) StructList(name string, fields ...string) ([]map[string]string, error) {
	if len(fields) == 0 {
		return nil, errors.New("sts: StructList needs at least one field")
	}
	return r.members(name, fields...)
}

// members collects Name.member.N[.Field]; with no fields, the scalar form.
func (r *Request) members(name string, fields ...string) ([]map[string]string, error) {
	prefix := name + ".member."
	byIndex := map[int]map[string]string{}
	for key, vals := range r.params {
		if !strings.HasPrefix(key, prefix) || len(vals) == 0 {
			continue
		}
		rest := key[len(prefix):]
		idx, field, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(idx)
		if err != nil || n < 1 || n > maxListMembers || strconv.Itoa(n) != idx {
			return nil, errValidation(fmt.Sprintf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must be a valid list index", key, lowerFirst(name)))
		}
		if len(fields) == 0 {
			if field != "" {
				continue
			}
		} else if !contains(fields, field) {
			continue
		}
		m := byIndex[n]
		if m == nil {
			m = map[string]string{}
			byIndex[n] = m
		}
		m[field] = vals[0]
	}
	idxs := make([]int, 0, len(byIndex))
	for n := range byIndex {
		idxs = append(idxs, n)
	}
	sort.Ints(idxs)
	out := make([]map[string]string, 0, len(idxs))
	for _, n := range idxs {
		out = append(out, byIndex[n])
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

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
			result, err = fn(ctx, req)
		}
	}
	if err != nil {
		var ae *Error
		if !errors.As(err, &ae) {
			s.log.ErrorContext(ctx, "sts: internal error", "request_id", reqID, "err", err)
			ae = errInternal()
		}
		if !st.audited {
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

// prefersJSON reports whether Accept explicitly prefers application/json
// over XML (STS-SPEC §1.6). SDKs never send it; wildcards mean XML.
func prefersJSON(accept []string) bool {
	jsonQ, xmlQ := -1.0, -1.0
	for _, line := range accept {
		for _, part := range strings.Split(line, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if qs, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(qs, 64); err == nil {
					q = f
				}
			}
			switch mt {
			case "application/json":
				jsonQ = max(jsonQ, q)
			case "text/xml", "application/xml":
				xmlQ = max(xmlQ, q)
			}
		}
	}
	return jsonQ > 0 && jsonQ > xmlQ
}

type responseMetadata struct {
	RequestID string `xml:"RequestId" json:"RequestId"`
}

// writeResult writes a successful result. bufs (may be nil) recycles the
// buffers of templated XML results: ResponseWriter.Write has copied or sent
// the bytes when it returns, and every use overwrites from the start.
func writeResult(w http.ResponseWriter, op string, result any, reqID string, asJSON bool, bufs *sync.Pool) {
	var buf bytes.Buffer
	if asJSON {
		inner := map[string]any{op + "Result": result, "ResponseMetadata": responseMetadata{reqID}}
		if result == nil {
			inner[op+"Result"] = struct{}{}
		}
		if err := json.NewEncoder(&buf).Encode(map[string]any{op + "Response": inner}); err != nil {
			writeError(w, errInternal(), reqID, asJSON)
			return
		}
		writeBody(w, http.StatusOK, "application/json", reqID, bytes.TrimRight(buf.Bytes(), "\n"))
		return
	}
	hint := resultSizeHint(result)
	var bp *[]byte
	if bufs != nil {
		bp, _ = bufs.Get().(*[]byte)
	}
	var start []byte
	if bp != nil && cap(*bp) >= hint {
		start = (*bp)[:0]
	} else {
		start = make([]byte, 0, hint)
	}
	b, ok := appendResultXML(start, op, result, reqID)
	if ok {
		writeBody(w, http.StatusOK, "text/xml", reqID, b)
		if bufs != nil && cap(b) <= maxPooledResult {
			if bp == nil {
				bp = new([]byte)
			}
			*bp = b[:0]
			bufs.Put(bp)
		}
		return
	}
	b, err := encodeResultXML(op, result, reqID)
	if err != nil {
		writeError(w, errInternal(), reqID, asJSON)
		return
	}
	writeBody(w, http.StatusOK, "text/xml", reqID, b)
}

// encodeResultXML renders any result with encoding/xml inside
// <{op}Response xmlns=…><{op}Result>…</{op}Result><ResponseMetadata>….
func encodeResultXML(op string, result any, reqID string) ([]byte, error) {
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	start := xml.StartElement{Name: xml.Name{Local: op + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: xmlNamespace}}}
	resultStart := xml.StartElement{Name: xml.Name{Local: op + "Result"}}
	err := enc.EncodeToken(start)
	if err == nil {
		if result == nil {
			err = enc.EncodeElement(struct{}{}, resultStart)
		} else {
			err = enc.EncodeElement(result, resultStart)
		}
	}
	if err == nil {
		err = enc.EncodeElement(responseMetadata{reqID}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}})
	}
	if err == nil {
		err = enc.EncodeToken(start.End())
	}
	if err == nil {
		err = enc.Flush()
	}
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type errorBody struct {
	Type    string `xml:"Type" json:"Type"`
	Code    string `xml:"Code" json:"Code"`
	Message string `xml:"Message" json:"Message"`
}

type errorResponse struct {
	XMLName   xml.Name  `xml:"https://sts.amazonaws.com/doc/2011-06-15/ ErrorResponse" json:"-"`
	Error     errorBody `xml:"Error" json:"Error"`
	RequestID string    `xml:"RequestId" json:"RequestId"`
}

// maxPooledResult bounds the buffers kept for reuse.
const maxPooledResult = 16 << 10

func writeError(w http.ResponseWriter, e *Error, reqID string, asJSON bool) {
	resp := errorResponse{Error: errorBody{Type: e.Type(), Code: e.Code, Message: e.Message}, RequestID: reqID}
	var (
		b   []byte
		err error
		ct  = "text/xml"
	)
	if asJSON {
		ct = "application/json"
		b, err = json.Marshal(resp)
	} else {
		b, err = xml.Marshal(resp)
	}
	if err != nil {
		b, ct = []byte("InternalFailure"), "text/plain"
	}
	writeBody(w, e.Status, ct, reqID, b)
}

func writeBody(w http.ResponseWriter, status int, contentType, reqID string, body []byte) {
	// Keys in canonical form (what Header.Set would store), set directly.
	h := w.Header()
	h["Content-Type"] = []string{contentType}
	h["X-Amzn-Requestid"] = []string{reqID}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	h["Cache-Control"] = []string{"no-store"}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
