// Package fleetgate applies SQL migrations from every instance of a fleet at
// once, safely: instances serialise on a lease lock kept in the database,
// each migration commits together with its history row (so it is applied
// exactly once), and instances that must not start before the schema is
// ready wait for it without writing.
//
// A program opens a Migrator on a database URL (postgres://... or
// sqlite:path) and a file system of migrations, then calls Up to apply what
// is pending, Wait or ReadinessHandler to gate on the schema, Down to roll
// back, Check to lint pending changes, Status and History to report, and
// Adopt to take over the history of golang-migrate, goose, dbmate or flyway.
//
// Errors are typed and compared with errors.Is and errors.As: ErrTimeout,
// ErrLockLost and ErrDatabaseAhead are sentinels; *ConfigError names the
// Config or option field at fault; *SourceError a malformed file;
// *MigrationError a failed migration, wrapping the database's
// *StatementError (or a *BlockedError naming the sessions a statement
// waited for); *ValidationError an edited or missing applied migration;
// *WaitTimeoutError a wait (or Up's wait for the lock) that ran out;
// *CheckError migrations the checks refused. ExitCode maps them to the
// command line's exit statuses.
//
// The command line (cmd/fleetgate) is a thin layer over this package; the
// layers underneath are described in docs/architecture.md.
package fleetgate
