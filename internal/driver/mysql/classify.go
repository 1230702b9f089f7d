package mysql

import (
	"errors"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/fleetgate/fleetgate/internal/driver"
)

// Server error numbers fleetgate branches on (MySQL's and MariaDB's
// share them).
const (
	erNoSuchThread          = 1094
	erUnknownSystemVariable = 1193
	erParse                 = 1064
	erLockWaitTimeout       = 1205
	erDeadlock              = 1213
	erNotSupported          = 1235
)

// class maps a server error number onto driver's error classes.
func class(n uint16) error {
	switch n {
	case 1146, // ER_NO_SUCH_TABLE
		1049, // ER_BAD_DB_ERROR: unknown database
		1051: // ER_BAD_TABLE_ERROR: unknown table (DROP)
		return driver.ErrNotExist
	case 1062, // ER_DUP_ENTRY
		1586: // ER_DUP_ENTRY_WITH_KEY_NAME
		// A duplicate row only. ER_TABLE_EXISTS_ERROR (1050) from a
		// migration's own CREATE TABLE is a failed migration, not a row
		// another runner recorded: the executor treats ErrExists as
		// "applied by someone else" and would skip the migration.
		return driver.ErrExists
	case 1044, // ER_DBACCESS_DENIED_ERROR
		1045, // ER_ACCESS_DENIED_ERROR
		1142, // ER_TABLEACCESS_DENIED_ERROR
		1143, // ER_COLUMNACCESS_DENIED_ERROR
		1227, // ER_SPECIFIC_ACCESS_DENIED_ERROR
		1370, // ER_PROCACCESS_DENIED_ERROR
		1290: // ER_OPTION_PREVENTS_STATEMENT (read_only)
		return driver.ErrPermission
	case 1205, // ER_LOCK_WAIT_TIMEOUT: row lock, or metadata lock past lock_wait_timeout
		3572: // ER_LOCK_NOWAIT (MySQL 8: NOWAIT)
		return driver.ErrLockTimeout
	case 1213, // ER_LOCK_DEADLOCK: the transaction was rolled back; running it again may succeed
		1053, // ER_SERVER_SHUTDOWN
		1927, // ER_CONNECTION_KILLED (MariaDB)
		4031, // ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8.0.24+): disconnected for inactivity
		2006, // CR_SERVER_GONE_ERROR
		2013: // CR_SERVER_LOST
		return driver.ErrTransient
	case 1040, // ER_CON_COUNT_ERROR: too many connections
		1203, // ER_TOO_MANY_USER_CONNECTIONS
		1226, // ER_USER_LIMIT_REACHED
		1041, // ER_OUT_OF_RESOURCES
		1021: // ER_DISK_FULL
		return driver.ErrBusy
	}
	return nil
}

// Classify maps what translate did not see: a raw go-sql-driver error, or
// a connection the client found broken, which it reports without a server
// error number.
func (d *Driver) Classify(err error) error {
	if err == nil {
		return nil
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return class(me.Number)
	}
	if errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, mysql.ErrPktSync) || errors.Is(err, mysql.ErrPktSyncMul) {
		return driver.ErrTransient
	}
	msg := err.Error()
	for _, s := range []string{"invalid connection", "bad connection", "connection refused", "connection reset",
		"broken pipe", "unexpected EOF", "busy buffer"} {
		if strings.Contains(msg, s) {
			return driver.ErrTransient
		}
	}
	return nil
}

// translate turns go-sql-driver's server errors into driver.StatementError
// so that no caller needs go-sql-driver to inspect one. The message keeps
// the server's error number, which is what MySQL's documentation and
// operators go by (the SQLSTATE is HY000 for most errors).
func translate(err error) error {
	var se *driver.StatementError
	if err == nil || errors.As(err, &se) {
		return err // nil, or translated already (by the Tx)
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		state := string(me.SQLState[:])
		if me.SQLState == [5]byte{} {
			state = ""
		}
		return &driver.StatementError{SQLState: state, Message: "Error " + strconv.Itoa(int(me.Number)) + ": " + me.Message,
			Class: class(me.Number), Err: err}
	}
	return err
}
