package mysql

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"database/sql/driver"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestParseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                   string
		url                    string
		net, addr, user, pass  string
		db                     string
		mariadb                bool
		tls                    string // "", "verify" (ServerName checked), "skip"
		serverName             string
		params                 map[string]string
		custom                 map[string]string
		parseTime, multiStatem bool
	}{
		{name: "URL", url: "mysql://app:pw@db.internal:3307/orders", net: "tcp", addr: "db.internal:3307", user: "app", pass: "pw", db: "orders"},
		{name: "DefaultPort", url: "mysql://app@db/orders", net: "tcp", addr: "db:3306", user: "app", db: "orders"},
		{name: "IPv6", url: "mysql://app@[::1]:3306/orders", net: "tcp", addr: "[::1]:3306", user: "app", db: "orders"},
		{name: "MariaDB", url: "mariadb://app:pw@db/orders", net: "tcp", addr: "db:3306", user: "app", pass: "pw", db: "orders", mariadb: true},
		{name: "EscapedPassword", url: "mysql://app:p%40ss%2Fw%3Ard%3F@db/orders", net: "tcp", addr: "db:3306", user: "app", pass: "p@ss/w:rd?", db: "orders"},
		{name: "NoDatabase", url: "mysql://root@127.0.0.1:3306/", net: "tcp", addr: "127.0.0.1:3306", user: "root"},
		{name: "Socket", url: "mysql://app@/orders?socket=/run/mysqld/mysqld.sock", net: "unix", addr: "/run/mysqld/mysqld.sock", user: "app", db: "orders"},
		{name: "DriverParamsAndVariables", url: "mysql://app@db/orders?parseTime=true&sql_mode=%27ANSI_QUOTES%27", net: "tcp", addr: "db:3306", user: "app", db: "orders",
			parseTime: true, params: map[string]string{"sql_mode": "'ANSI_QUOTES'"}},
		{name: "TLSTrue", url: "mysql://app@db.example.com/orders?tls=true", net: "tcp", addr: "db.example.com:3306", user: "app", db: "orders", tls: "verify", serverName: "db.example.com"},
		{name: "TLSSkipVerify", url: "mariadb://app@db/orders?tls=skip-verify", net: "tcp", addr: "db:3306", user: "app", db: "orders", mariadb: true, tls: "skip"},
		{name: "GolangMigrate", url: "mysql://app:pw@tcp(db:3306)/orders?multiStatements=true&x-migrations-table=schema_migrations", net: "tcp", addr: "db:3306", user: "app", pass: "pw", db: "orders",
			multiStatem: true, custom: map[string]string{"x-migrations-table": "schema_migrations"}},
		{name: "GolangMigrateEscapedPassword", url: "mysql://app:p%40ss%3Fw@tcp(db:3306)/orders", net: "tcp", addr: "db:3306", user: "app", pass: "p@ss?w", db: "orders"},
		{name: "GolangMigrateRawPassword", url: "mysql://app:p@ss/w:rd@tcp(db:3306)/orders?tls=true", net: "tcp", addr: "db:3306", user: "app", pass: "p@ss/w:rd", db: "orders", tls: "verify", serverName: "db"},
		{name: "GolangMigrateNoUser", url: "mysql://tcp(127.0.0.1:3306)/orders", net: "tcp", addr: "127.0.0.1:3306", db: "orders"},
		{name: "GolangMigrateUnix", url: "mysql://app@unix(/tmp/my.sock)/orders", net: "unix", addr: "/tmp/my.sock", user: "app", db: "orders"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseURL(tt.url)
			require.NoError(t, err)
			c := got.Config
			require.Equal(t, tt.net, c.Net)
			require.Equal(t, tt.addr, c.Addr)
			require.Equal(t, tt.user, c.User)
			require.Equal(t, tt.pass, c.Passwd)
			require.Equal(t, tt.db, c.DBName)
			require.Equal(t, tt.mariadb, got.MariaDB)
			require.Equal(t, tt.parseTime, c.ParseTime)
			require.Equal(t, tt.multiStatem, c.MultiStatements)
			switch tt.tls {
			case "":
				require.Nil(t, c.TLS)
			case "verify":
				require.NotNil(t, c.TLS)
				require.False(t, c.TLS.InsecureSkipVerify)
				require.Equal(t, tt.serverName, c.TLS.ServerName)
			case "skip":
				require.NotNil(t, c.TLS)
				require.True(t, c.TLS.InsecureSkipVerify)
			}
			if tt.params == nil {
				require.Empty(t, c.Params)
			} else {
				require.Equal(t, tt.params, c.Params)
			}
			if tt.custom == nil {
				require.Empty(t, got.Custom)
			} else {
				require.Equal(t, tt.custom, got.Custom)
			}
		})
	}
}

func TestParseURLCustomTLS(t *testing.T) {
	t.Parallel()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, testCA(t), 0o600))
	for _, u := range []string{
		"mysql://app:pw@tcp(db.example.com:3306)/orders?tls=custom&x-tls-ca=" + url.QueryEscape(ca),
		"mysql://app:pw@db.example.com/orders?tls=custom&x-tls-ca=" + url.QueryEscape(ca),
	} {
		got, err := ParseURL(u)
		require.NoError(t, err, u)
		require.NotNil(t, got.Config.TLS)
		require.NotNil(t, got.Config.TLS.RootCAs)
		require.Equal(t, "db.example.com", got.Config.TLS.ServerName)
		require.False(t, got.Config.TLS.InsecureSkipVerify)
		require.Empty(t, got.Custom)
	}
	got, err := ParseURL("mysql://app@db/orders?tls=custom&x-tls-ca=" + url.QueryEscape(ca) + "&x-tls-insecure-skip-verify=true")
	require.NoError(t, err)
	require.True(t, got.Config.TLS.InsecureSkipVerify)
}

// Every parse error is one line naming what is wrong, with the URL shown
// and the password never.
func TestParseURLErrors(t *testing.T) {
	t.Parallel()
	const pw = "Zq7-sentinel_PW"
	tests := []struct{ name, url, want string }{
		{"NotAURL", "mysql:" + pw, "not a URL"},
		{"Scheme", "mysqlx://app:" + pw + "@db/x", `scheme "mysqlx" is not mysql or mariadb`},
		{"BadPort", "mysql://app:" + pw + "@db:33o6/x", "port 33o6 is not a number"},
		{"NoHost", "mysql://app:" + pw + "@/x", "no host"},
		{"BadBoolParam", "mysql://app:" + pw + "@db/x?parseTime=yes", "parameter parseTime: "},
		{"BadDuration", "mysql://app:" + pw + "@tcp(db:3306)/x?timeout=forever", `parameter timeout: time: invalid duration "forever"`},
		{"UnknownTLSName", "mysql://app:" + pw + "@db/x?tls=custom", "tls=custom names a custom TLS configuration, which needs x-tls-ca"},
		{"MissingCA", "mysql://app:" + pw + "@tcp(db:3306)/x?tls=custom&x-tls-ca=/nonexistent/ca.pem", "x-tls-ca: open /nonexistent/ca.pem"},
		{"TLSFilesWithoutName", "mysql://app:" + pw + "@db/x?x-tls-ca=/ca.pem", "x-tls-* parameters need tls=<name>"},
		{"DriverFormUnterminated", "mysql://app:" + pw + "@tcp(db:3306/x", "the address part cannot be parsed"},
		{"SlashInDatabase", "mysql://app:" + pw + "@db/a/b", `database name "a/b" contains '/'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseURL(tt.url)
			require.Error(t, err)
			msg := err.Error()
			require.Contains(t, msg, tt.want)
			require.NotContains(t, msg, "Zq7-sentinel", "the password leaked")
			require.NotContains(t, msg, "\n")
			require.True(t, strings.HasPrefix(msg, "database URL"), msg)
		})
	}
}

// Each form of URL reaches a real MariaDB as the user it names, with a
// password full of characters that need escaping, and lands in the
// database it names.
func TestParseURLConnectsToMariaDB(t *testing.T) {
	t.Parallel()
	root := dbtest.MariaDB(t)
	ru, err := url.Parse(root)
	require.NoError(t, err)
	dbName := strings.TrimPrefix(ru.Path, "/")
	rootCfg, err := ParseURL(root)
	require.NoError(t, err)
	admin := sql.OpenDB(mustConnector(t, rootCfg.Config))
	t.Cleanup(func() { _ = admin.Close() })

	const pw = "p@ss/w:rd?#%"
	user := "u" + strings.TrimPrefix(dbName, "fleetgate_test_")
	user = user[:min(len(user), 32)]
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, err = admin.ExecContext(ctx, fmt.Sprintf("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY '%s'", user, pw))
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = admin.ExecContext(context.Background(), fmt.Sprintf("DROP USER '%s'@'127.0.0.1'", user))
	})
	_, err = admin.ExecContext(ctx, fmt.Sprintf("GRANT ALL ON `%s`.* TO '%s'@'127.0.0.1'", dbName, user))
	require.NoError(t, err)

	hostPort := ru.Host
	esc := url.QueryEscape(pw)
	for _, u := range []string{
		"mysql://" + user + ":" + esc + "@" + hostPort + "/" + dbName + "?parseTime=true",
		"mariadb://" + user + ":" + esc + "@" + hostPort + "/" + dbName + "?timeout=5s",
		"mysql://" + user + ":" + esc + "@tcp(" + hostPort + ")/" + dbName + "?multiStatements=true&x-migrations-table=schema_migrations",
	} {
		target, err := ParseURL(u)
		require.NoError(t, err, u)
		db := sql.OpenDB(mustConnector(t, target.Config))
		var gotUser, gotDB string
		err = db.QueryRowContext(ctx, "SELECT CURRENT_USER(), DATABASE()").Scan(&gotUser, &gotDB)
		_ = db.Close()
		require.NoError(t, err, u)
		require.Equal(t, user+"@127.0.0.1", gotUser)
		require.Equal(t, dbName, gotDB)
	}
}

func mustConnector(t *testing.T, c *gomysql.Config) driver.Connector {
	t.Helper()
	conn, err := gomysql.NewConnector(c)
	require.NoError(t, err)
	return conn
}

// testCA is a PEM self-signed CA certificate made for the test.
func testCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
