package sts

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

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
