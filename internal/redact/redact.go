// Package redact keeps secrets out of every line fleetgate prints. It works
// by allow-list: a URL is shown only through the parts known to be safe, and
// the secret values found in it are scrubbed from any other text, so a
// driver error that echoes the DSN cannot leak the password either.
package redact

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// secretKeys are query or key=value parameters whose values are secrets.
var secretKeys = map[string]bool{"password": true, "sslpassword": true, "pass": true, "pwd": true,
	"sslkey": true, "sslcert": false, "secret": true, "token": true, "auth_token": true, "access_token": true}

// kvRE is compiled on first use: every start of every instance scrubs
// its arguments, and a URL without any of the key names below (the
// common case, hasKV) never needs it.
var kvRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)\b(password|sslpassword|pass|pwd|secret|token|auth_token|access_token)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&]+)`)
})

// hasKV reports whether s may hold a match of kvRE: every key it names
// contains one of these, in any case, and a value needs an '='. Text
// that is not all ASCII goes to the expression, whose case folding also
// matches letters such as the long s (U+017F).
func hasKV(s string) bool {
	if !strings.Contains(s, "=") {
		return false
	}
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return true
		}
	}
	l := strings.ToLower(s)
	return strings.Contains(l, "pass") || strings.Contains(l, "pwd") || strings.Contains(l, "secret") || strings.Contains(l, "token")
}

// Secrets returns the secret values contained in a database URL or DSN,
// longest first, with their URL-escaped forms.
func Secrets(dsn string) []string {
	var out []string
	add := func(s string) {
		if len(s) < 3 { // too short to scrub without mangling ordinary text
			return
		}
		out = append(out, s, url.QueryEscape(s), url.PathEscape(s))
	}
	if u, err := url.Parse(dsn); err == nil {
		if p, ok := u.User.Password(); ok {
			add(p)
		}
		for k, vs := range u.Query() {
			if secretKeys[strings.ToLower(k)] {
				for _, v := range vs {
					add(v)
				}
			}
		}
	}
	if hasKV(dsn) {
		for _, m := range kvRE().FindAllStringSubmatch(dsn, -1) {
			add(strings.Trim(m[2], "'"))
		}
	}
	// userinfo that url.Parse could not read (a malformed URL).
	if i := strings.Index(dsn, "://"); i >= 0 {
		rest := dsn[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if c := strings.Index(rest[:at], ":"); c >= 0 {
				add(rest[c+1 : at])
				// golang-migrate's MySQL form percent-decodes it.
				if p, err := url.QueryUnescape(rest[c+1 : at]); err == nil {
					add(p)
				}
			}
		}
	}
	return out
}

// URL renders a database URL from its allow-listed parts: scheme, user,
// host, port, path and the names (not values) of secret parameters.
func URL(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		if i := strings.Index(dsn, "://"); i >= 0 {
			// Show what was typed, so its mistake can be seen, with the
			// password masked the way url.Parse would have found it. This
			// is also golang-migrate's MySQL form, user:pass@tcp(host)/db,
			// which url.Parse cannot read, parameters or not.
			rest := dsn[i+3:]
			if at := strings.LastIndex(rest, "@"); at >= 0 {
				if c := strings.Index(rest[:at], ":"); c >= 0 {
					rest = rest[:c+1] + "xxxxx" + rest[at:]
				}
			}
			return replaceKV(dsn[:i+3] + rest)
		}
		if strings.Contains(dsn, "=") {
			return replaceKV(dsn)
		}
		return "(unparsable URL)"
	}
	safe := &url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, Opaque: u.Opaque}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			safe.User = url.UserPassword(u.User.Username(), "xxxxx")
		} else {
			safe.User = url.User(u.User.Username())
		}
	}
	q := u.Query()
	for k := range q {
		if secretKeys[strings.ToLower(k)] {
			q.Set(k, "xxxxx")
		}
	}
	safe.RawQuery = q.Encode()
	return strings.Replace(safe.String(), "xxxxx@", "xxxxx@", 1)
}

// Scrubber replaces secret values in text.
type Scrubber struct{ r *strings.Replacer }

// NewScrubber scrubs the given secrets (as returned by Secrets).
func NewScrubber(secrets ...string) *Scrubber {
	secrets = slices.Clone(secrets)
	// Longest first, so a secret that contains another is replaced whole.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	var pairs []string
	seen := map[string]bool{}
	for _, s := range secrets {
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		pairs = append(pairs, s, "xxxxx")
	}
	if len(pairs) == 0 {
		return &Scrubber{}
	}
	return &Scrubber{r: strings.NewReplacer(pairs...)}
}

// String scrubs s.
func (s *Scrubber) String(text string) string {
	if s == nil || s.r == nil {
		return text
	}
	return s.r.Replace(text)
}

// replaceKV masks the value of every key=value secret in s.
func replaceKV(s string) string {
	if !hasKV(s) {
		return s
	}
	return kvRE().ReplaceAllString(s, "$1=xxxxx")
}
