package fleetgate

import (
	"errors"
	"fmt"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/executor"
	"github.com/fleetgate/fleetgate/internal/lock"
	"github.com/fleetgate/fleetgate/internal/plan"
	"github.com/fleetgate/fleetgate/internal/source"
)

var (
	// ErrLockLost: this runner's lease was taken over (it paused or lost
	// its session past the lease). Nothing it did after that was committed.
	ErrLockLost = driver.ErrLockLost
	// ErrTimeout: the wait for the lock or for the schema reached its
	// deadline.
	ErrTimeout = lock.ErrTimeout
	// ErrDatabaseAhead: the database has migrations newer than this build
	// and the IfAhead policy says to fail.
	ErrDatabaseAhead = errors.New("database is ahead of this build")
)

// ConfigError is a usage or configuration mistake: a bad URL, table name,
// directory or option. Nothing was changed in the database.
type ConfigError struct {
	Setting string // the setting at fault, e.g. "Config.Table"; the CLI names its flag instead
	Msg     string
}

func (e *ConfigError) Error() string { return e.Setting + ": " + e.Msg }

func configErr(setting, format string, args ...any) error {
	return &ConfigError{Setting: setting, Msg: fmt.Sprintf(format, args...)}
}

// SourceError is a malformed migration file; it names the file and line.
type SourceError = source.Error

// MigrationError is a migration that failed: it names the file, the line of
// the failing statement and the database error. Its transaction (if any)
// was rolled back.
type MigrationError = executor.StepError

// StatementError is the database's own error for a statement: its code
// (a PostgreSQL SQLSTATE, a SQLite result code), message and position. A
// MigrationError wraps one; reach it with errors.As.
type StatementError = driver.StatementError

// BlockedError is a statement that gave up waiting for a lock
// (Config.LockTimeout), naming the sessions it waited for. A
// MigrationError wraps one; reach it with errors.As.
type BlockedError = executor.BlockedError

// Blocker is a session a blocked statement waited for.
type Blocker = driver.Blocker

// ValidationError lists applied migrations that were edited or are missing,
// and pending ones older than applied ones.
type ValidationError = plan.ValidationError

// ExitCode maps an error to the command line's exit status: 0 done, 1
// failed, 2 bad input, 3 timed out, 4 history refused, 5 checks refused.
func ExitCode(err error) int {
	var (
		ke *CheckError
		ce *ConfigError
		se *SourceError
		ve *ValidationError
		me *MigrationError
	)
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ce), errors.As(err, &se):
		return 2
	case errors.Is(err, ErrTimeout):
		return 3
	case errors.As(err, &ve), errors.Is(err, ErrDatabaseAhead):
		return 4
	case errors.As(err, &ke):
		return 5
	case errors.As(err, &me), errors.Is(err, ErrLockLost):
		return 1
	}
	return 1
}
