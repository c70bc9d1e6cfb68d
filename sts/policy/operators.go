package policy

import "strings"

// The condition operators of §7.3: each base operator (without its
// ForAllValues:/ForAnyValue: prefix or IfExists suffix) is a family of
// values, a comparison, and whether it negates, folds case or takes
// wildcards.

type family uint8

const (
	famString family = iota + 1
	famNumeric
	famDate
	famBool
	famBinary
	famIP
	famARN
	famNull
)

type cmpOp uint8

const (
	cmpEq cmpOp = iota
	cmpLT
	cmpLE
	cmpGT
	cmpGE
)

type setMode uint8

const (
	setNone setMode = iota
	setForAll
	setForAny
)

// opInfo describes a base condition operator (without prefix or IfExists).
type opInfo struct {
	fam  family
	cmp  cmpOp
	neg  bool // the operator is the negation of its positive form
	fold bool // case-insensitive strings
	like bool // '*' and '?' are wildcards
}

// lookupOperator finds a base operator of §7.3 by its lower-cased name.
func lookupOperator(name string) (opInfo, bool) {
	// Numeric and Date operators share their comparisons.
	for _, f := range [...]struct {
		prefix string
		fam    family
	}{{"numeric", famNumeric}, {"date", famDate}} {
		if cmp, ok := strings.CutPrefix(name, f.prefix); ok {
			switch cmp {
			case "equals":
				return opInfo{fam: f.fam, cmp: cmpEq}, true
			case "notequals":
				return opInfo{fam: f.fam, cmp: cmpEq, neg: true}, true
			case "lessthan":
				return opInfo{fam: f.fam, cmp: cmpLT}, true
			case "lessthanequals":
				return opInfo{fam: f.fam, cmp: cmpLE}, true
			case "greaterthan":
				return opInfo{fam: f.fam, cmp: cmpGT}, true
			case "greaterthanequals":
				return opInfo{fam: f.fam, cmp: cmpGE}, true
			}
			return opInfo{}, false
		}
	}
	switch name {
	case "stringequals":
		return opInfo{fam: famString}, true
	case "stringnotequals":
		return opInfo{fam: famString, neg: true}, true
	case "stringequalsignorecase":
		return opInfo{fam: famString, fold: true}, true
	case "stringnotequalsignorecase":
		return opInfo{fam: famString, fold: true, neg: true}, true
	case "stringlike":
		return opInfo{fam: famString, like: true}, true
	case "stringnotlike":
		return opInfo{fam: famString, like: true, neg: true}, true
	case "bool":
		return opInfo{fam: famBool}, true
	case "binaryequals":
		return opInfo{fam: famBinary}, true
	case "ipaddress":
		return opInfo{fam: famIP}, true
	case "notipaddress":
		return opInfo{fam: famIP, neg: true}, true
	case "arnequals", "arnlike":
		return opInfo{fam: famARN, like: true}, true
	case "arnnotequals", "arnnotlike":
		return opInfo{fam: famARN, like: true, neg: true}, true
	case "null":
		return opInfo{fam: famNull}, true
	}
	return opInfo{}, false
}

// compare applies a comparison to the result of a three-way comparison.
func compare(c int, op cmpOp) bool {
	switch op {
	case cmpEq:
		return c == 0
	case cmpLT:
		return c < 0
	case cmpLE:
		return c <= 0
	case cmpGT:
		return c > 0
	case cmpGE:
		return c >= 0
	}
	return false
}

// cmp3 is the three-way comparison of two numbers.
func cmp3(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
