package policy

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// condition is one (operator, key) pair with its compiled values.
type condition struct {
	op       string // as written, for diagnostics
	key      string // lower-cased context key
	info     opInfo
	set      setMode
	ifExists bool

	strs  []pattern
	arns  []arnPattern
	nums  []float64
	dates []time.Time
	bools []bool
	bins  []string // decoded bytes (and the base64 text, see eval)
	b64   []string
	nets  []netip.Prefix
	null  bool
}

func parseConditions(v *jval, vars bool) ([]condition, error) {
	if v.kind != jObject {
		return nil, errors.New("Condition must be an object")
	}
	var out []condition
	seenOps := make(map[string]bool, len(v.obj))
	for _, of := range v.obj {
		lop := strings.ToLower(of.key)
		if seenOps[lop] {
			return nil, fmt.Errorf("duplicate condition operator %s", quote(of.key))
		}
		seenOps[lop] = true
		set := setNone
		base := lop
		switch {
		case strings.HasPrefix(base, "forallvalues:"):
			set, base = setForAll, base[len("forallvalues:"):]
		case strings.HasPrefix(base, "foranyvalue:"):
			set, base = setForAny, base[len("foranyvalue:"):]
		}
		ifExists := false
		if strings.HasSuffix(base, "ifexists") {
			ifExists, base = true, strings.TrimSuffix(base, "ifexists")
		}
		info, ok := lookupOperator(base)
		if !ok {
			return nil, fmt.Errorf("unknown condition operator %s", quote(of.key))
		}
		if info.fam == famNull && (ifExists || set != setNone) {
			return nil, fmt.Errorf("condition operator %s: Null takes no IfExists or set prefix", quote(of.key))
		}
		if of.val.kind != jObject || len(of.val.obj) == 0 {
			return nil, fmt.Errorf("condition operator %s must map keys to values", quote(of.key))
		}
		seenKeys := make(map[string]bool, len(of.val.obj))
		for _, kf := range of.val.obj {
			lk := strings.ToLower(kf.key)
			if lk == "" {
				return nil, fmt.Errorf("empty condition key under %s", quote(of.key))
			}
			if seenKeys[lk] {
				return nil, fmt.Errorf("duplicate condition key %s under %s", quote(kf.key), quote(of.key))
			}
			seenKeys[lk] = true
			c := condition{op: of.key, key: lk, info: info, set: set, ifExists: ifExists}
			vals, err := conditionValues(&kf.val)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", of.key, quote(kf.key), err)
			}
			if err := c.compileValues(vals, vars); err != nil {
				return nil, fmt.Errorf("%s %s: %w", of.key, quote(kf.key), err)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// conditionValues accepts a string, number or boolean, or a non-empty list
// of them, and returns their text.
func conditionValues(v *jval) ([]string, error) {
	scalar := func(e *jval) (string, bool) {
		switch e.kind {
		case jString, jNumber:
			return e.s, true
		case jBool:
			return strconv.FormatBool(e.b), true
		}
		return "", false
	}
	if s, ok := scalar(v); ok {
		return []string{s}, nil
	}
	if v.kind != jArray || len(v.arr) == 0 {
		return nil, fmt.Errorf("value must be a string, number, boolean or a non-empty list of them, not %s", v.kind)
	}
	out := make([]string, 0, len(v.arr))
	for i := range v.arr {
		s, ok := scalar(&v.arr[i])
		if !ok {
			return nil, fmt.Errorf("list value must be a string, number or boolean, not %s", v.arr[i].kind)
		}
		out = append(out, s)
	}
	return out, nil
}

func (c *condition) compileValues(vals []string, vars bool) error {
	switch c.info.fam {
	case famString:
		for _, s := range vals {
			c.strs = append(c.strs, compilePattern(s, compileOpts{wild: c.info.like, vars: vars}))
		}
	case famARN:
		for _, s := range vals {
			c.arns = append(c.arns, compileARN(s, vars))
		}
	case famNumeric:
		for _, s := range vals {
			f, err := parseNumber(s)
			if err != nil {
				return err
			}
			c.nums = append(c.nums, f)
		}
	case famDate:
		for _, s := range vals {
			t, err := parseDate(s)
			if err != nil {
				return err
			}
			c.dates = append(c.dates, t)
		}
	case famBool:
		for _, s := range vals {
			b, err := parseBool(s)
			if err != nil {
				return err
			}
			c.bools = append(c.bools, b)
		}
	case famBinary:
		for _, s := range vals {
			d, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return fmt.Errorf("invalid base64 value: %w", err)
			}
			c.bins = append(c.bins, string(d))
			c.b64 = append(c.b64, s)
		}
	case famIP:
		for _, s := range vals {
			p, err := parseCIDR(s)
			if err != nil {
				return err
			}
			c.nets = append(c.nets, p)
		}
	case famNull:
		if len(vals) != 1 {
			return errors.New("Null takes exactly one value")
		}
		b, err := parseBool(vals[0])
		if err != nil {
			return err
		}
		c.null = b
	}
	return nil
}

// eval evaluates the condition against ctx (§7.3):
//   - values for one key are OR-ed; a negated operator is the negation of
//     its positive form, so its values behave as AND ("matches none");
//   - key absent: positive false, negated true, IfExists true, Null tests
//     presence; ForAllValues true and ForAnyValue false for an absent key or
//     an empty/null value set.
func (c *condition) eval(ctx *Context) bool {
	vals, present := ctx.lookup(c.key)
	if c.info.fam == famNull {
		return isNullValue(vals, present) == c.null
	}
	if !present || len(vals) == 0 {
		if c.ifExists {
			return true
		}
		switch c.set {
		case setForAll:
			return true
		case setForAny:
			return false
		}
		return c.info.neg
	}
	switch c.set {
	case setForAll:
		if isNullValue(vals, present) {
			return true
		}
		for _, v := range vals {
			if c.anyMatch(v, ctx) == c.info.neg {
				return false
			}
		}
		return true
	case setForAny:
		if isNullValue(vals, present) {
			return false
		}
		for _, v := range vals {
			if c.anyMatch(v, ctx) != c.info.neg {
				return true
			}
		}
		return false
	}
	for _, v := range vals {
		if c.anyMatch(v, ctx) {
			return !c.info.neg
		}
	}
	return c.info.neg
}

// isNullValue: absent, no values, or only empty strings.
func isNullValue(vals []string, present bool) bool {
	if !present {
		return true
	}
	for _, v := range vals {
		if v != "" {
			return false
		}
	}
	return true
}

// anyMatch reports whether request value v matches at least one policy value
// under the positive form of the operator. A policy value holding an
// unresolvable variable matches nothing.
func (c *condition) anyMatch(v string, ctx *Context) bool {
	switch c.info.fam {
	case famString:
		for i := range c.strs {
			if ok, _ := c.strs[i].match(v, c.info.fold, ctx); ok {
				return true
			}
		}
	case famARN:
		for i := range c.arns {
			if ok, _ := c.arns[i].match(v, ctx); ok {
				return true
			}
		}
	case famNumeric:
		if !isNumeric(v) {
			return false
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) {
			return false
		}
		for _, n := range c.nums {
			if compare(cmp3(f, n), c.info.cmp) {
				return true
			}
		}
	case famDate:
		t, err := parseDate(v)
		if err != nil {
			return false
		}
		for _, d := range c.dates {
			if compare(t.Compare(d), c.info.cmp) {
				return true
			}
		}
	case famBool:
		b, err := parseBool(v)
		if err != nil {
			return false
		}
		for _, x := range c.bools {
			if x == b {
				return true
			}
		}
	case famBinary:
		for i := range c.bins {
			if v == c.bins[i] || v == c.b64[i] {
				return true
			}
		}
	case famIP:
		a, err := netip.ParseAddr(v)
		if err != nil {
			return false
		}
		a = a.Unmap().WithZone("")
		for _, n := range c.nets {
			if n.Contains(a) {
				return true
			}
		}
	}
	return false
}
