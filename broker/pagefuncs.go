package broker

import (
	"fmt"
	"html/template"
	"time"
)

// pageFuncs are the helpers the page templates use.
var pageFuncs = template.FuncMap{
	"duration": humanDuration,
	"utc":      func(t time.Time) string { return t.UTC().Format("Mon 2 Jan 2006, 15:04 UTC") },
	"rfc3339":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}

// humanDuration writes d in words: "45 minutes", "1 hour", "1 hour 30
// minutes", "12 hours" (to the minute).
func humanDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case h == 0:
		return plural(m, "minute")
	case m == 0:
		return plural(h, "hour")
	}
	return plural(h, "hour") + " " + plural(m, "minute")
}
