package mysqllint

import (
	"fmt"
	"strings"
	"testing"

	"github.com/fleetgate/fleetgate/internal/dialect"
	"github.com/fleetgate/fleetgate/internal/source"
)

// corpusStatements are the statements of the corpus the parser was chosen
// on (docs/checks.md, "MySQL and MariaDB"): 1,000 files of 5 statements
// each, taken in turn from this list (without the START TRANSACTION and
// COMMIT the measured corpus also had, which here would be blocks split
// across files).
var corpusStatements = []string{
	`CREATE TABLE users (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT, email VARCHAR(255) NOT NULL, name VARCHAR(100) DEFAULT NULL, created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), PRIMARY KEY (id), UNIQUE KEY uq_email (email)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
	"CREATE TABLE `orders` (`id` bigint NOT NULL AUTO_INCREMENT, `user_id` bigint unsigned NOT NULL, `total` decimal(12,2) NOT NULL DEFAULT '0.00', `status` enum('new','paid','shipped') NOT NULL DEFAULT 'new', `meta` json DEFAULT NULL, PRIMARY KEY (`id`), KEY `idx_user` (`user_id`), CONSTRAINT `fk_orders_user` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE) ENGINE=InnoDB",
	`ALTER TABLE users ADD COLUMN last_login DATETIME NULL, ALGORITHM=INSTANT`,
	`ALTER TABLE users ADD INDEX idx_name (name), ALGORITHM=INPLACE, LOCK=NONE`,
	`ALTER TABLE orders MODIFY COLUMN total DECIMAL(14,2) NOT NULL`,
	`ALTER TABLE orders CHANGE COLUMN status state VARCHAR(20) NOT NULL DEFAULT 'new'`,
	`ALTER TABLE orders DROP COLUMN meta`,
	`ALTER TABLE orders RENAME COLUMN state TO order_state`,
	`ALTER TABLE orders ADD CONSTRAINT fk_x FOREIGN KEY (user_id) REFERENCES users (id)`,
	`RENAME TABLE orders TO orders_old, users TO users_old`,
	`CREATE INDEX idx_created ON users (created_at) ALGORITHM=INPLACE LOCK=NONE`,
	`CREATE UNIQUE INDEX uq_x ON orders (user_id, id)`,
	`DROP INDEX idx_created ON users`,
	`INSERT INTO users (email, name) VALUES ('a@example.com', 'A'), ('b@example.com', 'B')`,
	`INSERT INTO settings (k, v) VALUES ('x', '1') ON DUPLICATE KEY UPDATE v = VALUES(v)`,
	`UPDATE users SET name = CONCAT(name, ' (old)') WHERE id BETWEEN 1 AND 1000`,
	`UPDATE orders o JOIN users u ON u.id = o.user_id SET o.total = o.total * 1.1 WHERE u.email LIKE '%@example.com'`,
	`DELETE FROM orders WHERE created_at < NOW() - INTERVAL 30 DAY LIMIT 1000`,
	`SET @x = 1`,
	`SET NAMES utf8mb4`,
	`OPTIMIZE TABLE orders`,
	`CREATE OR REPLACE VIEW active_users AS SELECT id, email FROM users WHERE last_login > NOW() - INTERVAL 90 DAY`,
	`DROP TABLE IF EXISTS tmp_import`,
	`TRUNCATE TABLE tmp_import`,
	`SELECT COUNT(*) FROM users WHERE email = 'x''y\'z'`,
}

// BenchmarkCheck1000 checks 1,000 MySQL migration files of 5 statements,
// the cost target of the checks; the files are split beforehand, as Load
// has done by the time the checks run.
func BenchmarkCheck1000(b *testing.B) {
	ms := make([]*source.Migration, 1000)
	for i := range ms {
		var sb strings.Builder
		sb.WriteString("-- fleetgate:up\n")
		for j := range 5 {
			sb.WriteString(corpusStatements[(i*5+j)%len(corpusStatements)])
			sb.WriteString(";\n")
		}
		m, err := source.ParseDialect(fmt.Sprintf("%04d_m.sql", i+1), []byte(sb.String()), dialect.MySQL)
		if err != nil {
			b.Fatal(err)
		}
		ms[i] = m
	}
	b.ResetTimer()
	for b.Loop() {
		for _, m := range ms {
			if _, err := Check(m); err != nil {
				b.Fatal(err)
			}
		}
	}
}
