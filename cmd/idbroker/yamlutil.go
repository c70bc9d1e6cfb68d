package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/idbroker/idbroker/sts/policy"
)

// policyDoc is an IAM policy document written either as a JSON string or as
// the same structure in YAML; it is kept as JSON bytes.
type policyDoc struct {
	JSON []byte
	Line int
}

// UnmarshalYAML converts the node to JSON (see yamlToJSON). A scalar is
// taken as the policy's JSON text.
func (p *policyDoc) UnmarshalYAML(n *yaml.Node) error {
	p.Line = n.Line
	if n.Kind == yaml.ScalarNode {
		p.JSON = []byte(n.Value)
		return nil
	}
	b, err := yamlToJSON(n)
	if err != nil {
		return fmt.Errorf("line %d: policy cannot be expressed as JSON: %w", n.Line, err)
	}
	p.JSON = b
	return nil
}

// maxPolicyJSON bounds the JSON a YAML policy expands to (aliases can
// multiply the size of a document); policy.Parse refuses far less anyway.
const maxPolicyJSON = 4 * policy.MaxPolicyDocumentChars

// jsonNumber is the JSON number grammar (RFC 8259, section 6).
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// yamlToJSON converts a YAML policy to JSON without reinterpreting it:
// mappings become objects with their keys in document order (duplicates
// kept, so the strict policy parser can refuse them), sequences arrays,
// aliases what they point at, and scalars strings of their exact text.
// Only plain booleans, nulls, and integers or floats already written in
// JSON number syntax keep their type: 2012-10-17, 012345678901, 0x1F and
// 0o17 stay the strings they were written as.
func yamlToJSON(n *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	if err := writeJSON(&b, n, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeJSON(b *bytes.Buffer, n *yaml.Node, depth int) error {
	if depth > 64 {
		return errors.New("nested too deeply")
	}
	if b.Len() > maxPolicyJSON {
		return fmt.Errorf("larger than %d bytes", maxPolicyJSON)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return errors.New("empty document")
		}
		return writeJSON(b, n.Content[0], depth+1)
	case yaml.AliasNode:
		if n.Alias == nil {
			return fmt.Errorf("line %d: unresolved alias", n.Line)
		}
		return writeJSON(b, n.Alias, depth+1)
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			for k.Kind == yaml.AliasNode && k.Alias != nil {
				k = k.Alias
			}
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: a key must be a string", k.Line)
			}
			if k.ShortTag() == "!!merge" {
				return fmt.Errorf("line %d: merge keys (<<) are not supported in policies", k.Line)
			}
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, k.Value)
			b.WriteByte(':')
			if err := writeJSON(b, n.Content[i+1], depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, c, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		writeJSONScalar(b, n)
	default:
		return fmt.Errorf("line %d: unexpected YAML node", n.Line)
	}
	return nil
}

// writeJSONScalar writes a scalar as a JSON string of its text, except plain
// booleans, nulls and JSON-syntax numbers.
func writeJSONScalar(b *bytes.Buffer, n *yaml.Node) {
	plain := n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0
	if plain {
		switch n.ShortTag() {
		case "!!null":
			b.WriteString("null")
			return
		case "!!bool":
			switch strings.ToLower(n.Value) {
			case "true":
				b.WriteString("true")
				return
			case "false":
				b.WriteString("false")
				return
			}
		case "!!int", "!!float":
			if jsonNumber.MatchString(n.Value) {
				b.WriteString(n.Value)
				return
			}
		}
	}
	writeJSONString(b, n.Value)
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always marshals
	b.Write(enc)
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${VAR} in every scalar value of the tree with the
// variable's value. Expansion happens after parsing, so a value can never
// change the YAML structure. An unset variable is an error naming the key.
func expandEnv(n *yaml.Node, path string, lookup func(string) (string, bool), errs *[]error) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for i, c := range n.Content {
			p := path
			if n.Kind == yaml.SequenceNode {
				p = fmt.Sprintf("%s[%d]", path, i)
			}
			expandEnv(c, p, lookup, errs)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			expandEnv(n.Content[i+1], joinPath(path, n.Content[i].Value), lookup, errs)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(m string) string {
			name := m[2 : len(m)-1]
			v, ok := lookup(name)
			if !ok {
				*errs = append(*errs, fmt.Errorf("%s: environment variable %s is not set", path, name))
			}
			return v
		})
		// A value that came from the environment is a string, whatever it looks like.
		n.Tag = "!!str"
		n.Style = yaml.DoubleQuotedStyle
	}
}

var linePrefix = regexp.MustCompile(`^line \d+: `)

// stripLine drops yaml's "line N: " prefix when the key path says more.
func stripLine(msg string) string { return linePrefix.ReplaceAllString(msg, "") }

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// keyChecker reports keys that no field of the target type accepts.
type keyChecker struct {
	// lines maps the line of each key to its path, so yaml's own type
	// errors ("line 8: cannot unmarshal …") can name the key.
	lines map[int]string
	// special lets a type decide its schema from the node (providers pick
	// their fields by their "type" key).
	special map[reflect.Type]func(n *yaml.Node) []reflect.Type
}

var (
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	nodeType        = reflect.TypeOf(yaml.Node{})
)

func (kc keyChecker) check(n *yaml.Node, t reflect.Type, path string, errs *[]error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			kc.check(c, t, path, errs)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		return
	}
	if f, ok := kc.special[t]; ok {
		if n.Kind == yaml.MappingNode {
			kc.checkMapping(n, f(n), path, errs)
		}
		return
	}
	if t == nodeType {
		return
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		// Run the type's own decoder first: its error names the key here,
		// and the node is blanked so the real decode carries on and reports
		// the other problems too.
		u := reflect.New(t).Interface().(yaml.Unmarshaler)
		if err := u.UnmarshalYAML(n); err != nil {
			*errs = append(*errs, fmt.Errorf("%s: %s", path, stripLine(err.Error())))
			*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind == yaml.MappingNode {
			kc.checkMapping(n, []reflect.Type{t}, path, errs)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind == yaml.SequenceNode {
			for i, c := range n.Content {
				kc.check(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				kc.check(n.Content[i+1], t.Elem(), joinPath(path, n.Content[i].Value), errs)
			}
		}
	}
}

// checkMapping checks the keys of n against the union of the fields of types.
func (kc keyChecker) checkMapping(n *yaml.Node, types []reflect.Type, path string, errs *[]error) {
	fields := map[string]reflect.Type{}
	for _, t := range types {
		collectFields(t, fields)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if kc.lines != nil {
			if _, seen := kc.lines[n.Content[i].Line]; !seen {
				kc.lines[n.Content[i].Line] = joinPath(path, k)
			}
		}
		ft, ok := fields[k]
		if !ok {
			*errs = append(*errs, fmt.Errorf("%s: unknown key (line %d)", joinPath(path, k), n.Content[i].Line))
			continue
		}
		kc.check(n.Content[i+1], ft, joinPath(path, k), errs)
	}
}

func collectFields(t reflect.Type, out map[string]reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") || (f.Anonymous && name == "") {
			collectFields(f.Type, out)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
}

var lineNum = regexp.MustCompile(`^line (\d+): `)

// yamlTypeErrors splits a yaml.TypeError into one error per problem, naming
// the key instead of the line where it can.
func yamlTypeErrors(err error, lines map[int]string) []error {
	var te *yaml.TypeError
	if ok := asTypeError(err, &te); ok {
		out := make([]error, 0, len(te.Errors))
		for _, e := range te.Errors {
			if m := lineNum.FindStringSubmatch(e); m != nil {
				var n int
				fmt.Sscan(m[1], &n)
				if path, ok := lines[n]; ok {
					e = fmt.Sprintf("%s: %s (line %d)", path, e[len(m[0]):], n)
				}
			}
			out = append(out, errors.New(e))
		}
		return out
	}
	return []error{err}
}

func asTypeError(err error, target **yaml.TypeError) bool {
	te, ok := err.(*yaml.TypeError)
	if ok {
		*target = te
	}
	return ok
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
