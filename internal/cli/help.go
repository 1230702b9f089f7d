package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// command is one entry of the command table: what `fleetgate help` and
// `fleetgate COMMAND --help` print, and what completion offers.
type command struct {
	name     string
	args     string // positional arguments after the flags, for the usage line
	summary  string // one line
	detail   string // a paragraph, may be empty
	examples []string
	alias    string // the command this one is another name for
}

// commands is in the order `fleetgate help` lists them.
var commands = []command{
	{name: "up", summary: "apply pending migrations (waits for another runner instead of failing)",
		detail: "Safe to run on every instance at once: each pending migration is applied exactly once, under a lock kept in the database. An instance whose schema is current exits at once without taking the lock. --dry-run prints the plan instead (see fleetgate help plan).",
		examples: []string{`fleetgate up -d "$DATABASE_URL"`, `fleetgate up --to 20240101120000 --timeout 5m`,
			`fleetgate up --phase post   # contract migrations, once no old code runs`}},
	{name: "down", summary: "roll back the newest migration, or --steps N, --to V (0: all), or --unknown",
		detail:   "Uses the down scripts stored in the database when this build lacks the file, so an older build can revert migrations it never shipped.",
		examples: []string{`fleetgate down`, `fleetgate down --to 3`, `fleetgate down --unknown --dry-run`}},
	{name: "plan", summary: "print what up would run, without writing anything or taking the lock",
		detail:   "Each migration in order with its phase, transaction mode, statements, check findings and the timeouts that will apply. --down plans a rollback (same selectors as down). --json for CI.",
		examples: []string{`fleetgate plan -d "$DATABASE_URL"`, `fleetgate plan --json > plan.json`, `fleetgate plan --down --steps 2`}},
	{name: "wait", summary: "block until the migrations this build needs are applied; never writes",
		examples: []string{`fleetgate wait --timeout 10m`, `fleetgate wait --to 42 && exec ./server`}},
	{name: "run", args: "-- CMD [ARGS]", summary: "up (or with --wait-only, wait), then run CMD with signals forwarded",
		examples: []string{`fleetgate run -- ./server --port 8080`, `fleetgate run --wait-only --timeout 10m -- ./server`}},
	{name: "adopt", summary: "take over the history of golang-migrate, goose, dbmate or flyway",
		detail:   "Records what that tool applied as applied, so up continues where it stopped.",
		examples: []string{`fleetgate adopt --from goose`, `fleetgate adopt --from golang-migrate --from-table app.schema_migrations`}},
	{name: "resolve", args: "VERSION", summary: "settle a partly applied no-transaction migration, under the lock: --done, --retry-from K or --abandon",
		detail:   "For a state no rule can settle: --done records it applied (finished by hand), --retry-from K makes the next up run it from statement K, --abandon forgets what ran so the next up starts at statement 1. Recorded as a resolve event.",
		examples: []string{`fleetgate resolve 20240101120000 --retry-from 3`, `fleetgate resolve 42 --done`}},
	{name: "status", summary: "show applied, pending, missing and modified migrations, and the lock holder",
		examples: []string{`fleetgate status`, `fleetgate status --json`}},
	{name: "history", summary: "show the audit log, newest first (needs no migrations directory)",
		examples: []string{`fleetgate history --since 24h`, `fleetgate history --version 42 --json`}},
	{name: "validate", summary: "check files and checksums against the database; never writes",
		examples: []string{`fleetgate validate -d "$DATABASE_URL"`, `fleetgate validate --dir build/migrations && fleetgate up --dir build/migrations`}},
	{name: "check", args: "[FILES]", summary: "lint migrations for changes that break old code, block traffic or cannot run; no database needed",
		detail:   "Prints file:line:col RULE message (or --json); exit 5 when a finding is an error. The files are read as the SQL of --dialect (env FLEETGATE_DIALECT), else of the database URL's scheme, else PostgreSQL's; with a database and no FILES, its own.",
		examples: []string{`fleetgate check`, `fleetgate check migrations/0042_add_index.sql --json`, `fleetgate check --dialect mysql`}},
	{name: "new", args: "NAME", summary: "create the next migration file (in the directory's format)",
		examples: []string{`fleetgate new add_users`, `fleetgate new drop_legacy_column --phase post`}},
	{name: "create", args: "NAME", alias: "new", summary: "another name for new"},
	{name: "redo", summary: "roll back the newest migration and apply it again (for development)",
		examples: []string{`fleetgate redo -d sqlite:dev.db`, `fleetgate redo --dry-run`}},
	{name: "goto", args: "V", summary: "migrate up or down to version V (0: roll back everything)",
		examples: []string{`fleetgate goto 20240101120000`, `fleetgate goto 3 --dry-run`}},
	{name: "fix", summary: "renumber timestamp-versioned files not yet applied to sequential versions, as goose fix does",
		detail:   "Reads the database (when one is given) so that an applied file is never renamed; --dry-run prints the renames only.",
		examples: []string{`fleetgate fix -d "$DATABASE_URL"`, `fleetgate fix --dry-run`}},
	{name: "completion", args: "bash|zsh|fish", summary: "print a shell completion script",
		examples: []string{`source <(fleetgate completion bash)`, `fleetgate completion zsh > "${fpath[1]}/_fleetgate"`,
			`fleetgate completion fish > ~/.config/fish/completions/fleetgate.fish`}},
	{name: "version", summary: "print the version, module version and commit",
		examples: []string{`fleetgate version`, `fleetgate --version`}},
	{name: "help", args: "[COMMAND]", summary: "print this help, or a command's",
		examples: []string{`fleetgate help`, `fleetgate help up`}},
}

func lookupCommand(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// envOf names the environment variables a common flag falls back to.
var envOf = map[string]string{
	"database":     "FLEETGATE_DATABASE_URL, then DATABASE_URL",
	"dir":          "FLEETGATE_DIR",
	"table":        "FLEETGATE_TABLE",
	"deploy-id":    "FLEETGATE_DEPLOY_ID",
	"log-format":   "FLEETGATE_LOG_FORMAT",
	"format":       "FLEETGATE_FORMAT",
	"checks":       "FLEETGATE_CHECKS",
	"legacy-table": "FLEETGATE_LEGACY_TABLE",
	"instance-ttl": "FLEETGATE_INSTANCE_TTL",
}

// commonDefault are the defaults of common flags that the FlagSet cannot
// show, because they are applied later (by the library, or from the
// environment).
var commonDefault = map[string]string{
	"table":        "fleetgate_migrations",
	"deploy-id":    "detected from the platform",
	"lease":        "10s",
	"format":       "auto",
	"checks":       "auto",
	"legacy-table": "auto",
	"instance-ttl": "30s",
}

// isCommon says whether a flag is one every command accepts.
func isCommon(name string) bool {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	var c common
	c.register(fs)
	return fs.Lookup(name) != nil
}

// showHelp prints a command's help: usage, description, its own flags with
// their defaults, the common flags with their environment variables, and
// examples.
func (e *env) showHelp(fs *flag.FlagSet) {
	if fs.Lookup("dir") == nil {
		e.c.register(fs) // run asks before parse has added them
	}
	if e.onHelp != nil {
		e.onHelp(fs)
		return
	}
	w := e.stdout
	c := lookupCommand(fs.Name())
	if c == nil {
		c = &command{name: fs.Name()}
	}
	args := c.args
	if args != "" {
		args = " " + args
	}
	fmt.Fprintf(w, "usage: fleetgate %s [flags]%s\n\n%s\n", c.name, args, c.summary)
	if c.detail != "" {
		fmt.Fprintf(w, "\n%s\n", wrap(c.detail, 78))
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	own := false
	fs.VisitAll(func(f *flag.Flag) {
		if isCommon(f.Name) {
			return
		}
		if !own {
			fmt.Fprintln(tw, "\nflags:")
			own = true
		}
		_, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(tw, "  %s\t%s%s\n", flagSpelling(f), usage, defaultNote(f))
	})
	fmt.Fprintln(tw, "\ncommon flags (also accepted before the command):")
	fs.VisitAll(func(f *flag.Flag) {
		if !isCommon(f.Name) || f.Name == "d" {
			return
		}
		spell := flagSpelling(f)
		if f.Name == "database" {
			spell = "-d, " + spell
		}
		var notes []string
		if env := envOf[f.Name]; env != "" {
			notes = append(notes, "env "+env)
		}
		if d := commonDefault[f.Name]; d != "" {
			notes = append(notes, "default "+d)
		} else if d := defaultNote(f); d != "" {
			notes = append(notes, strings.TrimSuffix(strings.TrimPrefix(d, " ("), ")"))
		}
		note := ""
		if len(notes) > 0 {
			note = " (" + strings.Join(notes, "; ") + ")"
		}
		_, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(tw, "  %s\t%s%s\n", spell, usage, note)
	})
	tw.Flush()
	examples := c.examples
	if t := lookupCommand(c.alias); t != nil && examples == nil {
		for _, ex := range t.examples {
			examples = append(examples, strings.Replace(ex, "fleetgate "+t.name, "fleetgate "+c.name, 1))
		}
	}
	if len(examples) > 0 {
		fmt.Fprintln(w, "\nexamples:")
		for _, ex := range examples {
			fmt.Fprintf(w, "  %s\n", ex)
		}
	}
	fmt.Fprintln(w, "\nexit status: 0 ok, 1 migration failed, 2 usage or configuration error, 3 timed out,\n4 validation failed, 5 check refused a migration, 130/143 interrupted")
}

func flagSpelling(f *flag.Flag) string {
	name, _ := flag.UnquoteUsage(f)
	if len(f.Name) == 1 {
		return "-" + f.Name + " " + name
	}
	if name == "" {
		return "--" + f.Name
	}
	return "--" + f.Name + " " + name
}

func defaultNote(f *flag.Flag) string {
	switch f.DefValue {
	case "", "0", "false", "0s":
		return ""
	}
	return " (default " + f.DefValue + ")"
}

func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for _, word := range strings.Fields(s) {
		if n > 0 && n+1+len(word) > width {
			b.WriteByte('\n')
			n = 0
		} else if n > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}

// helpCmd is `fleetgate help [COMMAND]`.
func (e *env) helpCmd(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" || args[0] == "help" {
		fmt.Fprint(e.stdout, usage)
		return 0
	}
	if lookupCommand(args[0]) == nil {
		e.fail(unknownCommand(args[0]))
		return 2
	}
	return e.dispatch(ctx, args[0], []string{"--help"})
}

// flagsOf returns the flags a command accepts, read from its own FlagSet by
// asking it for help with the output captured.
func flagsOf(name string) []*flag.Flag {
	var got []*flag.Flag
	e := &env{stdout: newScrubWriter(io.Discard, nil), stderr: newScrubWriter(io.Discard, nil),
		getenv: func(string) string { return "" }}
	e.c = fromEnv(e.getenv)
	e.onHelp = func(fs *flag.FlagSet) {
		fs.VisitAll(func(f *flag.Flag) { got = append(got, f) })
	}
	e.dispatch(context.Background(), name, []string{"--help"})
	sort.Slice(got, func(i, j int) bool { return got[i].Name < got[j].Name })
	return got
}

// unknownCommand is the error for a command that does not exist, with the
// nearest one when it is close enough to be a typo.
func unknownCommand(name string) error {
	msg := fmt.Sprintf("unknown command %q", name)
	best, bestD := "", 3
	for _, c := range commands {
		if d := editDistance(name, c.name); d < bestD {
			best, bestD = c.name, d
		}
	}
	if best != "" {
		msg += fmt.Sprintf("; did you mean %q?", best)
	}
	return configErrf("command", "%s (see fleetgate help)", msg)
}

// editDistance is the Levenshtein distance of two short ASCII words.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
