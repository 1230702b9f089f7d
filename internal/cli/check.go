package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fleetgate/fleetgate"
	"github.com/fleetgate/fleetgate/internal/source"
)

// check lints migrations: the FILES given, or every migration in --dir.
// It needs no database; with one configured (and no FILES) it also reads
// the history to find pre-phase migrations that depend on pending
// post-phase ones. Findings go to stdout, one per line as
// "file:line:col RULE message", or as one JSON document with --json.
//
// The files are checked as the SQL of --dialect, else of the database
// URL's scheme (nothing is opened for FILES), else as PostgreSQL's.
func (e *env) check(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	dialectFlag := fs.String("dialect", e.getenv("FLEETGATE_DIALECT"), "SQL `DIALECT` of the files without a database: postgres, mysql (mariadb) or sqlite; default: the database URL's, else postgres")
	files, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	d, err := e.checkDialect(*dialectFlag)
	if err != nil {
		return err
	}
	start := time.Now()
	var rep *fleetgate.CheckReport
	var cerr error
	switch {
	case len(files) > 0:
		rep, cerr = e.checkFiles(ctx, files, d)
	case e.c.database != "":
		m, err := e.open(ctx)
		if err != nil {
			return err
		}
		defer m.Close()
		rep, cerr = m.Check(ctx, nil)
	default:
		if e.c.dir == "" {
			return &fleetgate.ConfigError{Setting: "--dir", Msg: "empty directory"}
		}
		if _, err := os.Stat(e.c.dir); err != nil {
			return &fleetgate.ConfigError{Setting: "--dir", Msg: fmt.Sprintf("migrations directory %s: %v", e.c.dir, source.PathCause(err))}
		}
		cfg := &fleetgate.Config{Label: strings.TrimSuffix(e.c.dir, "/"), AllowEmpty: e.c.allowEmpty, Dialect: d}
		if err := e.sourceConfig(cfg); err != nil {
			return err
		}
		rep, cerr = fleetgate.CheckFiles(ctx, os.DirFS(e.c.dir), nil, cfg)
	}
	var ce *fleetgate.CheckError
	if cerr != nil && !errors.As(cerr, &ce) {
		return cerr
	}
	if *asJSON {
		if err := e.printJSON(rep); err != nil {
			return err
		}
	} else {
		for _, f := range rep.Findings {
			fmt.Fprintln(e.stdout, f.String())
		}
	}
	attrs := []any{"files", rep.Files, "errors", rep.Errors, "warnings", rep.Warnings, "elapsed", time.Since(start).Round(time.Millisecond)}
	if rep.ParserLoad > 0 {
		attrs = append(attrs, "parser_load", rep.ParserLoad.Round(time.Millisecond), "parser", rep.Parser)
	}
	e.log.Info("checked", attrs...)
	if ce != nil {
		return &checkFailed{ce: ce, msg: fmt.Sprintf("%d blocking finding(s) in %d file(s); see docs/checks.md for the safe alternatives, or accept one with \"-- fleetgate:allow RULE reason\"",
			len(ce.Findings), countFiles(ce.Findings))}
	}
	return nil
}

// checkDialect is the dialect check reads files as: --dialect (or
// FLEETGATE_DIALECT), else the database URL's, else PostgreSQL. A
// --dialect that contradicts the database URL is a mistake worth a word,
// not a silent choice of one of them.
func (e *env) checkDialect(flagValue string) (fleetgate.Dialect, error) {
	fromURL, urlOK := fleetgate.URLDialect(e.c.database)
	if flagValue == "" {
		if urlOK {
			return fromURL, nil
		}
		return fleetgate.Postgres, nil
	}
	d, err := fleetgate.ParseDialect(flagValue)
	if err != nil {
		return "", &fleetgate.ConfigError{Setting: "--dialect", Msg: fmt.Sprintf("unknown dialect %q (want postgres, mysql or sqlite)", flagValue)}
	}
	if urlOK && d != fromURL {
		return "", &fleetgate.ConfigError{Setting: "--dialect", Msg: fmt.Sprintf("%s, but the database URL is %s (%s)", d, fromURL, fleetgate.RedactURL(e.c.database))}
	}
	return d, nil
}

// checkFailed carries the exit status of a check refusal (5) without
// repeating on stderr the findings already printed on stdout.
type checkFailed struct {
	ce  *fleetgate.CheckError
	msg string
}

func (c *checkFailed) Error() string { return c.msg }
func (c *checkFailed) Unwrap() error { return c.ce }

func countFiles(fs []fleetgate.Finding) int {
	seen := map[string]bool{}
	for _, f := range fs {
		seen[f.File] = true
	}
	return len(seen)
}

// checkFiles lints files named on the command line, wherever they are;
// findings name them as they were typed.
func (e *env) checkFiles(ctx context.Context, files []string, d fleetgate.Dialect) (*fleetgate.CheckReport, error) {
	names := make([]string, len(files))
	typed := map[string]string{}
	for i, f := range files {
		if _, err := os.Stat(f); err != nil {
			return nil, &fleetgate.ConfigError{Setting: "check", Msg: fmt.Sprintf("%s: %v", f, source.PathCause(err))}
		}
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, &fleetgate.ConfigError{Setting: "check", Msg: fmt.Sprintf("%s: %v", f, err)}
		}
		names[i] = strings.TrimPrefix(filepath.ToSlash(abs), "/")
		typed[names[i]] = f
	}
	rep, err := fleetgate.CheckFiles(ctx, os.DirFS("/"), names, &fleetgate.Config{Dialect: d})
	var se *fleetgate.SourceError
	if errors.As(err, &se) {
		if t, ok := typed[se.File]; ok {
			c := *se
			c.File = t
			return nil, &c
		}
	}
	if rep != nil {
		for i := range rep.Findings {
			if t, ok := typed[rep.Findings[i].File]; ok {
				rep.Findings[i].File = t
			}
		}
	}
	var ce *fleetgate.CheckError
	if errors.As(err, &ce) {
		for i := range ce.Findings {
			if t, ok := typed[ce.Findings[i].File]; ok {
				ce.Findings[i].File = t
			}
		}
	}
	return rep, err
}
