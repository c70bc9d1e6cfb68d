package policy

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// The grammars of condition values (§7.3): booleans, numbers, dates and
// addresses, as policies write them and as request contexts carry them.

func parseBool(s string) (bool, error) {
	switch {
	case strings.EqualFold(s, "true"):
		return true, nil
	case strings.EqualFold(s, "false"):
		return false, nil
	}
	return false, fmt.Errorf("invalid boolean %s", quote(s))
}

// parseNumber accepts integers and decimals (no hex, no exponent-only
// oddities beyond what strconv allows, no NaN/Inf).
func parseNumber(s string) (float64, error) {
	if s == "" || !isNumeric(s) {
		return 0, fmt.Errorf("invalid number %s", quote(s))
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("invalid number %s", quote(s))
	}
	return f, nil
}

// isNumeric is a cheap pre-check (digits, sign, point, exponent) so that
// request values that are not numbers fail without strconv allocating an
// error.
func isNumeric(s string) bool {
	digit := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			digit = true
		case c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E':
		default:
			return false
		}
	}
	return digit
}

// parseDate accepts ISO 8601 (with zone, or UTC when none) or epoch seconds.
func parseDate(s string) (time.Time, error) {
	if s != "" && isEpoch(s) {
		f, err := strconv.ParseFloat(s, 64)
		if err == nil && !math.IsInf(f, 0) && math.Abs(f) < 1e15 {
			sec, frac := math.Modf(f)
			return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
		}
		return time.Time{}, fmt.Errorf("invalid date %s", quote(s))
	}
	// ISO 8601 forms IAM takes; no zone means UTC.
	layouts := [...]string{
		time.RFC3339Nano,
		"2006-01-02T15:04:05Z0700",
		"2006-01-02T15:04Z07:00",
		"2006-01-02T15:04:05.999999999",
		"2006-01-02T15:04",
		"2006-01-02",
	}
	if len(s) >= 10 && s[4] == '-' {
		for _, l := range layouts {
			if t, err := time.Parse(l, s); err == nil {
				return t, nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("invalid date %s", quote(s))
}

func isEpoch(s string) bool {
	digit := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			digit = true
		case c == '.' || (c == '-' && i == 0):
		default:
			return false
		}
	}
	return digit
}

// parseCIDR accepts a CIDR or a bare address (/32 or /128).
func parseCIDR(s string) (netip.Prefix, error) {
	if strings.IndexByte(s, '/') >= 0 {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %s", quote(s))
		}
		if p.Addr().Is4In6() {
			bits := p.Bits() - 96
			if bits < 0 {
				return netip.Prefix{}, fmt.Errorf("invalid CIDR %s", quote(s))
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), bits)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid IP address %s", quote(s))
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
