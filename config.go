package fleetgate

import (
	"fmt"
	"github.com/fleetgate/fleetgate/internal/fleet"
	"log/slog"
	"os"
	"os/user"
	"path"
	"runtime/debug"
	"strings"
	"time"

	"github.com/fleetgate/fleetgate/internal/history"
)

// Version is fleetgate's version, recorded with every change. Release
// builds set it with -ldflags "-X github.com/fleetgate/fleetgate.Version=v1.2.3".
var Version = ""

func toolVersion() string {
	if Version != "" {
		return Version
	}
	b := ReadBuild()
	switch {
	case b.Module != "" && b.Module != "(devel)":
		return b.Module
	case b.Commit != "":
		// A build from a checkout: the commit says which code it is.
		v := "devel+" + b.Commit[:min(12, len(b.Commit))]
		if b.Modified {
			v += "-dirty"
		}
		return v
	}
	return "dev"
}

// Build is what the Go toolchain recorded about this binary.
type Build struct {
	Module     string // module version: v1.2.3 from go install @version, "(devel)" from a checkout
	Commit     string // vcs.revision, when built inside a git checkout
	CommitTime string // vcs.time
	Modified   bool   // vcs.modified: the checkout had uncommitted changes
	Go         string // toolchain version
}

// ReadBuild reads the build information embedded in the binary.
func ReadBuild() Build {
	var b Build
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.Module, b.Go = bi.Main.Version, bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.time":
			b.CommitTime = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// Config configures a Migrator. The zero value is usable.
type Config struct {
	// Dir is the directory of migrations inside the fs.FS. Defaults to ".".
	Dir string
	// Label prefixes file names in messages, typically the directory as
	// the operator typed it. Defaults to Dir.
	Label string
	// Table is the history table, "name" or "schema.name"; the events and
	// lock tables are named after it. Defaults to "fleetgate_migrations".
	Table string
	// DeployID is recorded with every change. Defaults to DetectDeployID.
	DeployID string
	// Logger receives progress. Defaults to discarding.
	Logger *slog.Logger
	// LeaseTTL is how long the lock outlives its holder's last heartbeat
	// when the holder's death cannot be seen directly. Defaults to 10s.
	LeaseTTL time.Duration
	// PollInterval is the mean pause between lock attempts where the
	// release cannot be listened for (MySQL, SQLite, a pooler); it grows
	// to 4 times this while the same holder keeps the lock. Defaults to
	// 150ms.
	PollInterval time.Duration
	// LockTimeout bounds each wait for a table lock in a PostgreSQL
	// migration; the migration is then retried. Defaults to 2s; negative
	// disables it.
	LockTimeout time.Duration
	// LockRetries is how often a migration that hit LockTimeout is
	// retried, with exponential backoff and jitter. Defaults to 10;
	// negative: no retry.
	LockRetries int
	// Checks is what Up does with check findings in the migrations it is
	// about to apply (PostgreSQL). Defaults to ChecksAuto: enforced, except
	// on a database with nothing applied yet.
	Checks CheckMode
	// Format is the format of the migration files. Defaults to
	// FormatAuto: detected from the files.
	Format Format
	// Dialect is the SQL of the migration files where no database says
	// which it is: CheckFiles splits and checks them as this dialect's.
	// A Migrator always uses its database's dialect. Defaults to Postgres.
	Dialect Dialect
	// LegacyTable says whether the history table of the tool whose format
	// the directory is in (golang-migrate's or dbmate's schema_migrations,
	// goose's goose_db_version) is kept in step with fleetgate's, in the
	// same transaction: LegacyAuto (the default) keeps it, creating it with
	// the tool's own columns when missing; LegacyOff leaves it alone. A
	// directory in fleetgate's own format has no such table.
	LegacyTable LegacyMode
	// InstanceTTL is how long a registered instance (Register, and the CLI's
	// run and wait) counts as live after its last heartbeat; heartbeats go
	// every InstanceTTL/3. Defaults to 30s; 3s to 1h.
	InstanceTTL time.Duration
	// AllowEmpty accepts a source with no migration files. Without it an
	// empty source is a ConfigError naming the directory: a wrong --dir, or
	// an embed.FS without the right Dir, would otherwise report "up to
	// date" and open the fleet's gate on a database with no schema.
	AllowEmpty bool
	// Init lets Up create the history tables in a database where they look
	// like a mistake: one that already has applied migrations in another
	// fleetgate history table, or user tables but no history; and lets it
	// create the history table's schema. Without it Up refuses with a
	// ConfigError that suggests adopt or the right table.
	Init bool
}

// Ranges of the durations a Config accepts, documented in the README: a
// lease shorter than a second is lost to an ordinary pause (and reported as
// "another runner took over"); one longer than an hour keeps a dead
// holder's lock that long.
const (
	MinLeaseTTL     = time.Second
	MaxLeaseTTL     = time.Hour
	MinPollInterval = 10 * time.Millisecond
	MaxPollInterval = time.Minute
	MinLockTimeout  = 10 * time.Millisecond
	MinInstanceTTL  = 3 * time.Second
	MaxLockTimeout  = time.Hour
)

// validate checks the check mode and the durations against their ranges;
// zero means the default and a negative LockTimeout means none, as
// documented above.
func (c *Config) validate() error {
	if c == nil {
		return nil
	}
	check := func(setting string, d, lo, hi time.Duration) error {
		if d != 0 && (d < lo || d > hi) {
			return configErr(setting, "%s is out of range: want %s to %s", d, fmtRange(lo), fmtRange(hi))
		}
		return nil
	}
	if err := c.Checks.valid(); err != nil {
		return err
	}
	if err := check("Config.LeaseTTL", c.LeaseTTL, MinLeaseTTL, MaxLeaseTTL); err != nil {
		return err
	}
	if err := check("Config.PollInterval", c.PollInterval, MinPollInterval, MaxPollInterval); err != nil {
		return err
	}
	if err := check("Config.InstanceTTL", c.InstanceTTL, MinInstanceTTL, MaxLeaseTTL); err != nil {
		return err
	}
	if c.LockTimeout > 0 {
		if err := check("Config.LockTimeout", c.LockTimeout, MinLockTimeout, MaxLockTimeout); err != nil {
			return err
		}
	}
	return nil
}

func fmtRange(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}

func (c *Config) withDefaults() Config {
	out := Config{}
	if c != nil {
		out = *c
	}
	if out.Dir == "" {
		out.Dir = "."
	}
	if out.Label == "" {
		out.Label = out.Dir
	}
	if out.Dialect == "" {
		out.Dialect = Postgres
	}
	if out.Table == "" {
		out.Table = "fleetgate_migrations"
	}
	if out.DeployID == "" {
		out.DeployID = DetectDeployID(os.Getenv)
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	if out.LeaseTTL <= 0 {
		out.LeaseTTL = 10 * time.Second
	}
	if out.PollInterval <= 0 {
		out.PollInterval = 150 * time.Millisecond
	}
	if out.LockTimeout == 0 {
		out.LockTimeout = 2 * time.Second
	}
	if out.LockTimeout < 0 {
		out.LockTimeout = 0
	}
	if out.LockRetries == 0 {
		out.LockRetries = 10
	}
	if out.Checks == "" {
		out.Checks = ChecksAuto
	}
	if out.InstanceTTL <= 0 {
		out.InstanceTTL = fleet.DefaultTTL
	}
	return out
}

// DetectDeployID finds a deploy identifier in the platform's environment:
// FLEETGATE_DEPLOY_ID, then CodeDeploy, ECS, Kubernetes, GitHub Actions and
// GitLab CI. getenv is os.Getenv outside tests.
func DetectDeployID(getenv func(string) string) string {
	if v := getenv("FLEETGATE_DEPLOY_ID"); v != "" {
		return v
	}
	if v := getenv("DEPLOYMENT_ID"); v != "" {
		return "codedeploy:" + v
	}
	if v := getenv("ECS_CONTAINER_METADATA_URI_V4"); v != "" {
		// The task ARN would need a request to the metadata endpoint; the
		// URI's last segment already names the task's container uniquely.
		return "ecs:" + path.Base(strings.TrimRight(v, "/"))
	}
	if v := getenv("POD_NAME"); v != "" {
		return "k8s:" + v
	}
	if getenv("KUBERNETES_SERVICE_HOST") != "" && getenv("HOSTNAME") != "" {
		return "k8s:" + getenv("HOSTNAME")
	}
	if v := getenv("GITHUB_RUN_ID"); v != "" {
		return "github:" + v
	}
	if v := getenv("CI_PIPELINE_ID"); v != "" {
		return "gitlab:" + v
	}
	return ""
}

func newActor(deployID string) history.Actor {
	host, _ := os.Hostname()
	osUser := os.Getenv("USER")
	if u, err := user.Current(); err == nil {
		osUser = u.Username
	}
	return history.Actor{OSUser: osUser, Host: host, PID: os.Getpid(), DeployID: deployID, ToolVersion: toolVersion()}
}

// ToolVersion is the version recorded in history rows and events.
func ToolVersion() string { return toolVersion() }

// LegacyMode is Config.LegacyTable.
type LegacyMode string

const (
	LegacyAuto LegacyMode = "auto"
	LegacyOff  LegacyMode = "off"
)
