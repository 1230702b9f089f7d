package fleetgate

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

var envRefRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\$\{([^}]*)\}`) })

// ReadTargets reads a targets file: one database URL per line, blank
// lines and lines starting with # ignored, ${VAR} replaced by the
// variable's value from getenv (so a password need not be in the file).
// name labels errors, which are ConfigErrors naming name:line and never
// print a secret. Nothing is connected to.
func ReadTargets(r io.Reader, name string, getenv func(string) string) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		at := name + ":" + strconv.Itoa(n)
		var missing []string
		expanded := envRefRE().ReplaceAllStringFunc(line, func(ref string) string {
			v := ref[2 : len(ref)-1]
			if !envNameRE().MatchString(v) {
				missing = append(missing, fmt.Sprintf("%q is not a variable name", v))
				return ""
			}
			val := getenv(v)
			if val == "" {
				missing = append(missing, "${"+v+"} is not set")
			}
			return val
		})
		if len(missing) > 0 {
			return nil, configErr(at, "%s", strings.Join(missing, "; "))
		}
		if _, err := parseURL(expanded); err != nil {
			msg := err.Error()
			if ce, ok := err.(*ConfigError); ok {
				msg = ce.Msg
			}
			return nil, configErr(at, "%s", redactAll(msg, expanded))
		}
		out = append(out, expanded)
	}
	if err := sc.Err(); err != nil {
		return nil, configErr(name, "read: %v", err)
	}
	if len(out) == 0 {
		return nil, configErr(name, "no database URL in the file (one per line; # starts a comment)")
	}
	return out, nil
}

var envNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

// redactAll scrubs the secrets of url from msg, for messages that quote
// a part of it.
func redactAll(msg, url string) string {
	return SecretScrubber(URLSecrets(url))(msg)
}

// OpenDB opens a database URL the way Open does (driver and connection
// settings), for New or for FanOut targets that share one pool. The
// caller closes it.
func OpenDB(url string) (*sql.DB, Dialect, error) {
	return openURL(url)
}

// Schemas lists the schemas of a PostgreSQL database for a schema fan-out:
// those whose name matches pattern (a glob: * any run of characters, ?
// one character), or the first column of the rows query returns. System
// schemas never match a pattern. Names come back sorted for a pattern and
// in the query's order for a query. It uses one connection of db, which a
// fan-out over the same pool then reuses.
func Schemas(ctx context.Context, db *sql.DB, pattern, query string) ([]string, error) {
	if (pattern == "") == (query == "") {
		return nil, configErr("Schemas(pattern)", "give exactly one of Schemas(pattern) and Schemas(query)")
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	q, args := query, []any{}
	if pattern != "" {
		q = `SELECT nspname::text FROM pg_namespace
			WHERE nspname LIKE $1 ESCAPE '\' AND nspname NOT LIKE 'pg\_%' ESCAPE '\' AND nspname <> 'information_schema'
			ORDER BY nspname`
		args = append(args, globToLike(pattern))
	}
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		setting := "Schemas(pattern)"
		if query != "" {
			setting = "Schemas(query)"
		}
		return nil, &ConfigError{Setting: setting, Msg: fmt.Sprintf("list the schemas: %v", err)}
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, configErr("Schemas(query)", "the query must return schema names in its first and only column: %v", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the schemas: %w", err)
	}
	if len(out) == 0 {
		return nil, configErr("Schemas(pattern)", "no schema matched; nothing to do")
	}
	return out, nil
}

// globToLike turns a glob into a LIKE pattern with \ as its escape.
func globToLike(glob string) string {
	var b strings.Builder
	for _, r := range glob {
		switch r {
		case '*':
			b.WriteByte('%')
		case '?':
			b.WriteByte('_')
		case '%', '_', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
