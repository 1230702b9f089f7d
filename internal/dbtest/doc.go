// Package dbtest gives tests real databases: a fresh PostgreSQL database
// (Postgres), the same behind PgBouncer in transaction pooling mode
// (PgBouncer), a fresh MariaDB database (MariaDB) and a SQLite file (SQLite).
//
// Servers start lazily, the first time a test in the binary asks for one,
// and are shared by every test in that binary; each test gets its own
// database, dropped in t.Cleanup. When TEST_POSTGRES_URL or TEST_MYSQL_URL
// is set, that server is used instead of a throwaway one. A missing server
// binary is a test failure with a hint, never a skip: scripts/setup.sh
// installs them.
//
// Every process the package starts is its own child, in its own process
// group (so a terminal's Ctrl-C reaches the test binary, which then stops
// them in order), with a parent-death signal so that it dies with the test
// binary even when that is killed or panics on a test goroutine (as go
// test -timeout does). Files live in os.TempDir()/fleetgate-dbtest-<pid>;
// the first server start of a binary removes such directories, and stops
// any process still running from them, when their pid no longer exists.
//
// For fault tests, FaultProxyFor puts a TCP proxy (Shopify/toxiproxy's
// toxics, on 127.0.0.1) between the clients and a server and breaks one
// proxied connection at a time, found by its server-side client_port:
// blackhole, reset, latency, bandwidth starvation. PGServer.Restart
// restarts the throwaway PostgreSQL server as pg_ctl restart -m fast or
// immediate would.
//
// Use Main as the package's TestMain so that Stop runs when the tests end:
//
//	func TestMain(m *testing.M) { dbtest.Main(m) }
//
// This package keeps process-wide state (the servers it started), the one
// exception to the house rule against package-level mutable state: a test
// binary has one set of throwaway servers, and Stop must find them all.
package dbtest
