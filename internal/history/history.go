// Package history holds the shapes of fleetgate's audit records: one row per
// applied migration, and an append-only log of events. The SQL that stores
// them lives in the drivers; this package only defines what is stored.
package history

import (
	"strconv"
	"strings"
	"time"

	"github.com/fleetgate/fleetgate/internal/source"
)

// Actor is who and where a change came from. It is written into every
// history row and event so an operator can trace a change to a deploy.
type Actor struct {
	OSUser      string
	Host        string
	PID         int
	DeployID    string
	ToolVersion string
}

// Applied is one migration recorded as applied (or, for a no-transaction
// migration, partly applied: Complete false and StatementsDone statements run).
type Applied struct {
	Version        int64
	Name           string
	Checksum       string
	Phase          string
	UpSQL          string
	DownSQL        string
	HasDown        bool // false: the migration shipped no down section (irreversible)
	DownChecksum   string
	AppliedAt      time.Time
	DurationMS     int64
	DBUser         string
	Actor          Actor
	LockGeneration int64
	Complete       bool
	StatementsDone int
	Adopted        bool
	// StatementChecksums are the checksums (source.Checksum) of the up
	// section's statements, in order, so that a partly applied migration
	// whose later statements were fixed can resume. Written with every
	// row of a no-transaction migration (NewApplied's sums), which is how
	// a driver tells that row, which moves from partial to complete, from
	// one that is written once (driver.ReplacesPartial); read back only by
	// ReadProgress (rows of older releases have none).
	StatementChecksums []string
	// Running asks the driver to record, with this row, the database
	// session that writes it as the one about to run statement
	// StatementsDone outside any transaction (see driver.Progress).
	Running bool
}

// Event kinds. The log is append-only: nothing is updated or deleted.
const (
	KindApply    = "apply"
	KindRollback = "rollback"
	KindFailure  = "failure"
	KindLockWait = "lock_wait"
	KindLockLost = "lock_lost"
	// KindAdopt: a version another tool had applied was recorded as
	// applied by `fleetgate adopt`, without running it.
	KindAdopt = "adopt"
	// KindResolve: an operator settled a partly applied no-transaction
	// migration with `fleetgate resolve` (the error field says how).
	KindResolve = "resolve"
)

// Event is one entry of the append-only audit log.
type Event struct {
	ID             int64
	At             time.Time
	Kind           string
	Version        int64
	Name           string
	Direction      string // "up" or "down"; empty for lock events
	Error          string
	Statement      string
	StatementLine  int
	File           string
	DurationMS     int64
	LockWaitMS     int64
	DBUser         string
	Actor          Actor
	LockGeneration int64
}

// VersionList writes versions for messages: "3, 4, 7".
func VersionList(vs []int64) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.FormatInt(v, 10)
	}
	return strings.Join(s, ", ")
}

// NewApplied is the history row that records migration m as applied by
// actor: complete, or with its first done statements run. sums adds the
// checksums of its up statements, which a resumed no-transaction migration
// compares with its file.
func NewApplied(m *source.Migration, actor Actor, dur time.Duration, complete bool, done int, sums bool) *Applied {
	a := &Applied{Version: m.Version, Name: m.Name, Checksum: m.Checksum, Phase: string(m.Phase),
		UpSQL: m.Up.SQL, HasDown: m.Down != nil, DurationMS: dur.Milliseconds(), Actor: actor,
		Complete: complete, StatementsDone: done}
	if sums {
		a.StatementChecksums = make([]string, len(m.Up.Statements))
		for i, s := range m.Up.Statements {
			a.StatementChecksums[i] = source.Checksum([]byte(s.SQL))
		}
	}
	if m.Down != nil {
		a.DownSQL, a.DownChecksum = m.Down.SQL, m.DownChecksum
	}
	return a
}
