package main

import (
	"strings"
	"testing"
)

// The MariaDB speed targets are graded like PostgreSQL's when their
// scenarios ran, and leave no line when they did not.
func TestMariaDBHeadlines(t *testing.T) {
	timed := func(tool string, median float64) *toolResult {
		return &toolResult{Tool: tool, OK: true, Seconds: &stats{N: 3, Min: median, Median: median, Max: median}}
	}
	r := &report{Scenarios: []*scenarioResult{
		{ID: "mariadb-noop-1000", Kind: "timing", Tools: []*toolResult{timed("fleetgate", 0.12), timed("goose", 0.05), timed("migrate", 0.08)}},
		{ID: "mariadb-apply-100", Kind: "timing", Tools: []*toolResult{timed("fleetgate", 2.0), timed("goose", 2.2)}},
	}}
	r.evaluateHeadlines()
	got := map[string]headline{}
	for _, h := range r.Headlines {
		if strings.HasSuffix(h.Target, "(MariaDB)") {
			got[h.Target] = h
		}
	}
	noop := got["no-op `up` (1,000 applied) no slower than the fastest peer (MariaDB)"]
	if noop.Status != "missed" || !strings.Contains(noop.Detail, "goose") || !strings.Contains(noop.Detail, "2.40×") {
		t.Errorf("no-op headline = %+v, want missed against goose at 2.40×", noop)
	}
	apply := got["apply 100 migrations no slower than the fastest peer (MariaDB)"]
	if apply.Status != "met" {
		t.Errorf("apply headline = %+v, want met", apply)
	}

	r = &report{}
	r.evaluateHeadlines()
	for _, h := range r.Headlines {
		if strings.HasSuffix(h.Target, "(MariaDB)") {
			t.Errorf("a MariaDB headline without its scenarios: %+v", h)
		}
	}
}
