// Package cli is the fleetgate command line: flags, environment, output and
// exit codes over the fleetgate library. It reaches the database only
// through the library.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fleetgate/fleetgate"
)

const usage = `usage: fleetgate <command> [flags]

commands:
  up        apply pending migrations (waits for another runner instead of failing)
            --if-ahead fail|rollback|continue: when the database has migrations this build lacks
  down      roll back the newest migration; --steps N, --to V (0: all), --version V (exactly V,
            once however many instances run it), or --unknown (every applied migration this
            build does not contain), using stored down scripts
  wait      block until the migrations this build needs are applied; never writes
            [--to V] [--timeout D] [--poll D]
  run       up (or with --wait-only, wait), then run CMD with signals forwarded
            [--wait-only] [--timeout D] [--to V] -- CMD [ARGS]
  adopt     take over the history of golang-migrate, goose, dbmate or flyway:
            --from TOOL [--from-table NAME]; then up applies only what that tool had not
  resolve VERSION  settle a partly applied no-transaction migration, under the lock:
            --done (finished by hand), --retry-from K (run from statement K), or
            --abandon (forget what ran; the next up starts it from statement 1)
  status    show applied, pending, missing and modified migrations, and the lock holder
  history   show the audit log, newest first
  validate  check files and checksums against the database; never writes
  check [FILES]  lint migrations (default: all in --dir) for changes that break old code,
            block traffic or cannot run; file:line:col RULE message, or --json; exit 5 on an error;
            --dialect postgres|mysql: the files' SQL when no database URL says it
  plan      print what up would run (or --down, what down would) without writing or locking; --json
  new NAME  create the next migration file (create NAME: the same)
  redo      roll back the newest migration and apply it again
  goto V    migrate up or down to version V
  fix       renumber timestamp versions not yet applied to sequential ones
  completion bash|zsh|fish  print a shell completion script
  version   print the version
  help [COMMAND]  print this, or a command's flags and examples (also COMMAND --help)

common flags (also accepted before the command):
  -d, --database URL   database URL (env FLEETGATE_DATABASE_URL, then DATABASE_URL)
  --dir PATH           migrations directory (env FLEETGATE_DIR; default ./migrations)
  --table NAME         history table, may be schema.name (env FLEETGATE_TABLE; default fleetgate_migrations)
  --deploy-id ID       deploy id recorded with every change (env FLEETGATE_DEPLOY_ID; default detected)
  --log-format F       text or json (env FLEETGATE_LOG_FORMAT; default text);
                       env FLEETGATE_LOG_LEVEL=debug adds the steps of a wait and a run, timestamped
  --lease D            lock lease: how long a silent holder keeps the lock (1s to 1h; default 10s)
  --instance-ttl D     how long a registered instance counts as live after its last heartbeat
                       (3s to 1h; env FLEETGATE_INSTANCE_TTL; default 30s; use one value fleet-wide)
  --allow-empty        accept a migrations directory without migration files (otherwise exit 2)
  --format F           migration files: fleetgate, golang-migrate, goose, dbmate or auto
                       (env FLEETGATE_FORMAT; default auto: detected from the files)
  --checks MODE        what up does with check findings: enforce, warn, off, or auto: enforce,
                       but only warn on a database with nothing applied yet (env FLEETGATE_CHECKS; default auto)
  --legacy-table MODE  auto: keep golang-migrate's, goose's or dbmate's own history table in step when
                       the files are in its format; off: leave it alone (env FLEETGATE_LEGACY_TABLE; default auto)

many databases (up, down, status, validate, wait; see docs/fanout.md):
  --targets FILE       one database URL per line (# comments, ${VAR} expanded); or -d more than once
  --schemas PATTERN    PostgreSQL: every schema matching PATTERN (* ?), each with its own history
  --schemas-from SQL   PostgreSQL: the schemas the query returns
  --canary N, --parallel P (default 4), --keep-going

exit status: 0 ok, 1 migration failed, 2 usage or configuration error,
3 timed out, 4 validation failed, 5 check refused a migration, 130/143 interrupted
`

// common are the flags every command accepts.
type common struct {
	database, dir, table, deployID, logFormat string
	databases                                 []string // every -d given, for a fan-out
	lease, instanceTTL                        time.Duration
	format, checks, legacyTable               string
	allowEmpty                                bool
}

func (c *common) register(fs *flag.FlagSet) {
	fs.Var(dbList{c}, "database", "database `URL`: postgres://... or sqlite:path; more than once: each (up, down, status, validate, wait)")
	fs.Var(dbList{c}, "d", "database `URL` (shorthand)")
	fs.StringVar(&c.dir, "dir", c.dir, "migrations directory `PATH`")
	fs.StringVar(&c.table, "table", c.table, "history `TABLE`, may be schema.name")
	fs.StringVar(&c.deployID, "deploy-id", c.deployID, "deploy `ID` recorded with every change")
	fs.StringVar(&c.logFormat, "log-format", c.logFormat, "log `FORMAT`: text or json")
	fs.DurationVar(&c.lease, "lease", c.lease, "lock lease: how long a silent holder keeps the lock, 1s to 1h")
	fs.DurationVar(&c.instanceTTL, "instance-ttl", c.instanceTTL, "how long a registered instance counts as live after its last heartbeat, 3s to 1h")
	fs.StringVar(&c.format, "format", c.format, "migration file `FORMAT`: fleetgate, golang-migrate, goose, dbmate or auto")
	fs.StringVar(&c.checks, "checks", c.checks, "what up does with check findings, `MODE`: enforce, warn, off or auto")
	fs.BoolVar(&c.allowEmpty, "allow-empty", c.allowEmpty, "accept a migrations directory without migration files")
	fs.StringVar(&c.legacyTable, "legacy-table", c.legacyTable, "keep the legacy tool's history table in step, `MODE`: auto or off")
}

func fromEnv(getenv func(string) string) common {
	c := common{dir: "./migrations", logFormat: "text"}
	c.database = getenv("FLEETGATE_DATABASE_URL")
	if c.database == "" {
		c.database = getenv("DATABASE_URL")
	}
	if v := getenv("FLEETGATE_DIR"); v != "" {
		c.dir = v
	}
	c.table = getenv("FLEETGATE_TABLE")
	c.deployID = getenv("FLEETGATE_DEPLOY_ID")
	if v := getenv("FLEETGATE_LOG_FORMAT"); v != "" {
		c.logFormat = v
	}
	c.format = getenv("FLEETGATE_FORMAT")
	c.checks = getenv("FLEETGATE_CHECKS")
	c.legacyTable = getenv("FLEETGATE_LEGACY_TABLE")
	if v := getenv("FLEETGATE_INSTANCE_TTL"); v != "" {
		// An unparsable value is reported by the flag's own parse below
		// only when given as a flag; from the environment it is kept as
		// an invalid duration so that open reports it.
		if d, err := time.ParseDuration(v); err == nil {
			c.instanceTTL = d
		} else {
			c.instanceTTL = -1
		}
	}
	return c
}

// env is the process environment, swappable in tests.
type env struct {
	stdout, stderr *scrubWriter
	getenv         func(string) string
	log            *slog.Logger
	level          slog.Level // FLEETGATE_LOG_LEVEL
	c              common
	// onHelp, when set, receives a command's FlagSet instead of its help
	// being printed (completion reads the flags this way).
	onHelp func(*flag.FlagSet)
	// tune applies a command's own settings (up's --lock-timeout) to the
	// library configuration open builds.
	tune func(*fleetgate.Config)
}

// Run executes one command line and returns the exit status.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, args, stdout, stderr, os.Getenv)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) (code int) {
	// Secrets are collected before anything is parsed, so that even an
	// error about a malformed flag cannot echo one.
	var secrets []string
	for _, a := range args {
		secrets = append(secrets, fleetgate.URLSecrets(a)...)
	}
	for _, k := range []string{"FLEETGATE_DATABASE_URL", "DATABASE_URL"} {
		secrets = append(secrets, fleetgate.URLSecrets(getenv(k))...)
	}
	if p := getenv("PGPASSWORD"); len(p) >= 3 {
		secrets = append(secrets, p)
	}
	e := &env{stdout: newScrubWriter(stdout, secrets), stderr: newScrubWriter(stderr, secrets), getenv: getenv}
	e.c = fromEnv(getenv)
	e.log = slog.New(newTextHandler(e.stderr, slog.LevelInfo))
	if v := getenv("FLEETGATE_LOG_LEVEL"); v != "" {
		// Debug shows the steps of a wait and a run (woken by a
		// notification, registered, command started) with their times:
		// where a fleet's wake-up goes (scripts/bench-wake.sh).
		if err := e.level.UnmarshalText([]byte(v)); err != nil {
			e.fail(&fleetgate.ConfigError{Setting: "FLEETGATE_LOG_LEVEL", Msg: fmt.Sprintf("unknown level %q (want debug, info, warn or error)", v)})
			return 2
		}
		e.log = slog.New(newTextHandler(e.stderr, e.level))
	}
	defer func() {
		if r := recover(); r != nil {
			e.fail(fmt.Errorf("internal error: %v", r))
			code = 1
		}
	}()

	global := flag.NewFlagSet("fleetgate", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	e.c.register(global)
	var showVersion bool
	global.BoolVar(&showVersion, "version", false, "print the version")
	global.BoolVar(&showVersion, "v", false, "print the version")
	if err := global.Parse(args); err != nil {
		return e.usageErr(err)
	}
	rest := global.Args()
	if showVersion {
		return e.dispatch(ctx, "version", nil)
	}
	if len(rest) == 0 {
		fmt.Fprint(e.stderr, usage)
		return 2
	}
	return e.dispatch(ctx, rest[0], rest[1:])
}

// dispatch runs one command and returns the exit status.
func (e *env) dispatch(ctx context.Context, cmd string, rest []string) int {
	var err error
	switch cmd {
	case "up":
		err = e.up(ctx, rest)
	case "down":
		err = e.down(ctx, rest)
	case "plan":
		err = e.planCmd(ctx, rest)
	case "check":
		err = e.check(ctx, rest)
	case "wait":
		err = e.wait(ctx, rest)
	case "run":
		return e.runCmd(ctx, rest)
	case "adopt":
		err = e.adopt(ctx, rest)
	case "resolve":
		err = e.resolve(ctx, rest)
	case "status":
		err = e.status(ctx, rest)
	case "history":
		err = e.history(ctx, rest)
	case "validate":
		err = e.validate(ctx, rest)
	case "new", "create":
		err = e.newCmd(cmd, rest)
	case "redo":
		err = e.redo(ctx, rest)
	case "goto":
		err = e.gotoCmd(ctx, rest)
	case "fix":
		err = e.fix(ctx, rest)
	case "completion":
		err = e.completion(rest)
	case "version":
		err = e.version(rest)
	case "help", "-h", "--help":
		return e.helpCmd(ctx, rest)
	default:
		err = unknownCommand(cmd)
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0 // parse printed the help
	}
	if err != nil {
		return e.failInterrupted(ctx, err)
	}
	return 0
}

func configErrf(setting, format string, args ...any) error {
	return &fleetgate.ConfigError{Setting: setting, Msg: fmt.Sprintf(format, args...)}
}

func (e *env) usageErr(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(e.stdout, usage)
		return 0
	}
	e.fail(&fleetgate.ConfigError{Setting: "flags", Msg: err.Error()})
	return 2
}

// fail prints err as one line on stderr.
func (e *env) fail(err error) {
	e.failCode(err, fleetgate.ExitCode(err))
}

// failCode prints err like fail but with an exit status of our choosing:
// one line, or one JSON object with --log-format json.
func (e *env) failCode(err error, code int) int {
	msg := errText(err)
	if e.c.logFormat == "json" {
		b, _ := json.Marshal(map[string]any{"time": time.Now().UTC(), "level": "ERROR", "msg": msg, "exit_code": code})
		fmt.Fprintf(e.stderr, "%s\n", b)
		return code
	}
	fmt.Fprintf(e.stderr, "%s", oneLine([]byte("fleetgate: "+msg+"\n")))
	return code
}

// flagOf names the flag that sets each library setting a
// *fleetgate.ConfigError may name: the library speaks of its Config and
// option fields, the command line of its flags.
var flagOf = map[string]string{
	"url": "--database", "Dialect": "--database",
	"Config.Table": "--table", "Config.Dir": "--dir", "dir": "--dir", "Config.Format": "--format",
	"Config.Checks": "--checks", "Config.LeaseTTL": "--lease", "Config.PollInterval": "--poll",
	"Config.LockTimeout": "--lock-timeout", "Config.LegacyTable": "--legacy-table", "Config.InstanceTTL": "--instance-ttl",
	"UpOpts.Phase": "--phase", "phase": "--phase", "UpOpts.To": "--to", "UpOpts.IfAhead": "--if-ahead",
	"DownOpts": "down", "DownOpts.Steps": "--steps", "DownOpts.To": "--to", "DownOpts.Version": "--version",
	"WaitOpts.To": "--to", "WaitOpts.Timeout": "--timeout", "WaitOpts.PollInterval": "--poll",
	"AdoptOpts.From": "--from", "AdoptOpts.Table": "--from-table",
	"ResolveOpts": "resolve", "ResolveOpts.RetryFrom": "--retry-from",
	"Check": "check", "Fix": "fix", "name": "NAME",
}

// asFlags rewrites the setting a *fleetgate.ConfigError in err names to
// the flag that sets it.
func asFlags(err error) error {
	var ce *fleetgate.ConfigError
	if errors.As(err, &ce) {
		if f, ok := flagOf[ce.Setting]; ok {
			ce.Setting = f
		}
	}
	return err
}

// fieldFlags are the Go names the library's messages use for settings
// (any error's text, not only a ConfigError's setting) and the flag or
// command that does the same on the command line.
var fieldFlags = [][2]string{
	{"Config.Table", "--table"}, {"Config.Dir", "--dir"}, {"Config.Format", "--format"}, {"Config.Checks", "--checks"},
	{"Config.LeaseTTL", "--lease"}, {"Config.PollInterval", "--poll"}, {"Config.LockTimeout", "--lock-timeout"},
	{"Config.LockRetries", "--lock-retries"}, {"Config.LegacyTable", "--legacy-table"}, {"Config.InstanceTTL", "--instance-ttl"},
	{"Config.AllowEmpty", "--allow-empty"}, {"Config.Init", "--init"}, {"Config.DeployID", "--deploy-id"},
	{"UpOpts.Phase", "--phase"}, {"UpOpts.To", "--to"}, {"UpOpts.IfAhead", "--if-ahead"}, {"UpOpts.Timeout", "--timeout"},
	{"UpOpts.AllowOutOfOrder", "--allow-out-of-order"}, {"UpOpts.IgnoreFleet", "--ignore-fleet"},
	{"DownOpts.Steps", "--steps"}, {"DownOpts.To", "--to"}, {"DownOpts.Version", "--version"}, {"DownOpts.Unknown", "--unknown"},
	{"DownOpts.IgnoreFleet", "--ignore-fleet"}, {"DownOpts.Timeout", "--timeout"},
	{"WaitOpts.To", "--to"}, {"WaitOpts.Timeout", "--timeout"}, {"WaitOpts.PollInterval", "--poll"},
	{"AdoptOpts.From", "--from"}, {"AdoptOpts.Table", "--from-table"},
	{"ResolveOpts.Done", "--done"}, {"ResolveOpts.RetryFrom", "--retry-from"}, {"ResolveOpts.Abandon", "--abandon"},
	{"FanOutOpts.Parallel", "--parallel"}, {"FanOutOpts.Canary", "--canary"},
	{"Target.Schema", "--schemas"}, {"Schemas(pattern)", "--schemas"}, {"Schemas(query)", "--schemas-from"},
	{"Migrator.Adopt with AdoptOpts.From", "fleetgate adopt --from"},
	{"Migrator.Down with DownOpts.Unknown", "fleetgate down --unknown"},
}

// flagText rewrites the library's Go names in a message to flags: "set
// Config.Table to x" reads "pass --table x", "set Config.Init" "pass
// --init", any other mention of a field its flag. Built on the first
// error, not at every start.
var flagText = sync.OnceValue(func() *strings.Replacer {
	var pairs [][2]string
	for _, f := range fieldFlags {
		pairs = append(pairs, [2]string{"set " + f[0] + " to ", "pass " + f[1] + " "}, [2]string{"set " + f[0], "pass " + f[1]}, f)
	}
	// The longest first: a replacer tries its pairs in order.
	sort.SliceStable(pairs, func(i, j int) bool { return len(pairs[i][0]) > len(pairs[j][0]) })
	var args []string
	for _, p := range pairs {
		args = append(args, p[0], p[1])
	}
	return strings.NewReplacer(args...)
})

// errText is err's message as the command line says it.
func errText(err error) string { return flagText().Replace(asFlags(err).Error()) }

// parse parses a command's flags, allowing flags after positional
// arguments ("fleetgate new add_users --phase post").
func (e *env) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	e.c.register(fs)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				e.showHelp(fs)
				return nil, err
			}
			return nil, &fleetgate.ConfigError{Setting: "flags", Msg: fmt.Sprintf("%s (see fleetgate %s --help)", err, fs.Name())}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	switch e.c.logFormat {
	case "text":
	case "json":
		e.log = slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: e.level}))
	default:
		return nil, &fleetgate.ConfigError{Setting: "--log-format", Msg: fmt.Sprintf("unknown format %q (want text or json)", e.c.logFormat)}
	}
	// Flags may have named a URL the pre-scan saw only as part of args.
	e.stdout.setSecrets(append(fleetgate.URLSecrets(e.c.database), secretsOf(e)...))
	e.stderr.setSecrets(append(fleetgate.URLSecrets(e.c.database), secretsOf(e)...))
	return pos, nil
}

func secretsOf(e *env) []string {
	var out []string
	for _, k := range []string{"FLEETGATE_DATABASE_URL", "DATABASE_URL"} {
		out = append(out, fleetgate.URLSecrets(e.getenv(k))...)
	}
	return out
}

// open opens the migrator; needDB says whether a database URL is required.
func (e *env) open(ctx context.Context) (*fleetgate.Migrator, error) {
	if e.c.database == "" {
		return nil, &fleetgate.ConfigError{Setting: "--database",
			Msg: "no database given: pass --database URL or set FLEETGATE_DATABASE_URL (fleetgate never picks a default database)"}
	}
	if len(e.c.databases) > 1 {
		return nil, &fleetgate.ConfigError{Setting: "--database", Msg: "given more than once: only up, down, status, validate and wait run over many databases"}
	}
	if e.c.dir == "" {
		return nil, &fleetgate.ConfigError{Setting: "--dir", Msg: "empty directory"}
	}
	cfg := &fleetgate.Config{Label: strings.TrimSuffix(e.c.dir, "/"), Table: e.c.table, DeployID: e.c.deployID,
		Logger: e.log, LeaseTTL: e.c.lease, InstanceTTL: e.c.instanceTTL, AllowEmpty: e.c.allowEmpty}
	if e.c.lease < 0 {
		return nil, &fleetgate.ConfigError{Setting: "--lease", Msg: fmt.Sprintf("%s is out of range: want %s to %s (default 10s)",
			e.c.lease, fleetgate.MinLeaseTTL, fleetgate.MaxLeaseTTL)}
	}
	if err := e.sourceConfig(cfg); err != nil {
		return nil, err
	}
	if e.tune != nil {
		e.tune(cfg)
	}
	return fleetgate.Open(ctx, e.c.database, os.DirFS(e.c.dir), cfg)
}

func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
