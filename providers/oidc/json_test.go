package oidc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// refDecodeObject is a strict decoder built on json.Decoder's tokens; the
// parser must agree with it on every input (accept/refuse and the decoded
// value).
func refDecodeObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("JSON value is not an object")
	}
	obj, err := refMembers(dec, 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after JSON object")
	}
	return obj, nil
}

func refValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("JSON nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return refMembers(dec, depth+1)
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := refValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return arr, nil
		}
		return nil, errors.New("unexpected JSON delimiter")
	default:
		return t, nil
	}
}

func refMembers(dec *json.Decoder, depth int) (map[string]any, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("JSON nested too deeply")
	}
	obj := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errors.New("member name is not a string")
		}
		if _, dup := obj[name]; dup {
			return nil, fmt.Errorf("duplicate JSON member %q", name)
		}
		v, err := refValue(dec, depth)
		if err != nil {
			return nil, err
		}
		obj[name] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return obj, nil
}

var jsonCases = []struct {
	name, in string
	ok       bool
}{
	{"empty object", `{}`, true},
	{"claims", `{"iss":"https://x","aud":["a","b"],"exp":1700000000,"n":null,"t":true,"f":false,"o":{"k":[1,2.5,-3e2]}}`, true},
	{"whitespace", " \t\r\n{ \"a\" : [ ] , \"b\" : { } } \n", true},
	{"escapes", `{"a":"\u00e9\n\"\\\/\b\f\r\t","\u0041":"\ud83d\ude00"}`, true},
	{"lone surrogate", `{"a":"\ud800"}`, true},
	{"invalid utf8", "{\"a\":\"\xff\xfe\"}", true},
	{"utf8 name", `{"é":1}`, true},
	{"duplicate", `{"a":1,"a":2}`, false},
	{"duplicate nested", `{"o":{"x":1,"x":1}}`, false},
	{"duplicate escaped", `{"a":1,"\u0061":2}`, false},
	{"case differs", `{"a":1,"A":2}`, true},
	{"trailing comma", `{"a":1,}`, false},
	{"trailing comma array", `{"a":[1,]}`, false},
	{"trailing data", `{}{}`, false},
	{"trailing garbage", `{} x`, false},
	{"not object", `[1]`, false},
	{"string top", `"a"`, false},
	{"empty", ``, false},
	{"leading zero", `{"a":01}`, false},
	{"bare minus", `{"a":-}`, false},
	{"dot no digits", `{"a":1.}`, false},
	{"exp no digits", `{"a":1e}`, false},
	{"plus sign", `{"a":+1}`, false},
	{"control char", "{\"a\":\"\x01\"}", false},
	{"bad escape", `{"a":"\x"}`, false},
	{"short unicode", `{"a":"\u12"}`, false},
	{"unterminated", `{"a":"b`, false},
	{"unterminated escape", `{"a":"\`, false},
	{"single quotes", `{'a':1}`, false},
	{"bare word", `{"a":tru}`, false},
	{"nan", `{"a":NaN}`, false},
	{"missing colon", `{"a" 1}`, false},
	{"number name", `{1:1}`, false},
	{"deep ok", `{"a":` + strings.Repeat("[", maxJSONDepth-1) + strings.Repeat("]", maxJSONDepth-1) + `}`, true},
	{"too deep", `{"a":` + strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1) + `}`, false},
	{"too deep objects", strings.Repeat(`{"a":`, maxJSONDepth+1) + `1` + strings.Repeat("}", maxJSONDepth+1), false},
}

func TestDecodeObjectAgreesWithReference(t *testing.T) {
	for _, tc := range jsonCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeObject([]byte(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("decodeObject(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
			}
			compareWithReference(t, []byte(tc.in), got, err)
		})
	}
}

func compareWithReference(t *testing.T, in []byte, got map[string]any, err error) {
	t.Helper()
	want, refErr := refDecodeObject(in)
	if (err == nil) != (refErr == nil) {
		t.Fatalf("decodeObject(%q): err=%v, reference err=%v", in, err, refErr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeObject(%q) = %#v, reference %#v", in, got, want)
	}
}

// FuzzDecodeObject: the hand-written parser accepts exactly what the
// json.Decoder-based reference accepts, with the same result.
func FuzzDecodeObject(f *testing.F) {
	for _, tc := range jsonCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := decodeObject(in)
		compareWithReference(t, in, got, err)
	})
}

func BenchmarkDecodeObject(b *testing.B) {
	in := []byte(`{"iss":"https://issuer.example.com","sub":"248289761001","aud":"broker-client","exp":1700003600,"iat":1700000000,"amr":["pwd","mfa"],"email":"alice@example.com","groups":["developers","admins"]}`)
	b.Run("parser", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeObject(in); err != nil {
				b.Fatal(err)
			}
		}
	})
	// What IDToken.Claims does: encoding/json into a map (no duplicate
	// check, numbers as float64).
	b.Run("json.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]any
			if err := json.Unmarshal(in, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Decoder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := refDecodeObject(in); err != nil {
				b.Fatal(err)
			}
		}
	})
}
