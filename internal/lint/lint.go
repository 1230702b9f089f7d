// Package lint checks PostgreSQL migrations for changes that would break
// the code still running during a rolling deploy, block the application's
// traffic, fail as written, or destroy data. Statements are parsed by
// PostgreSQL's own parser (libpg_query; see parse.go), never matched
// with regular expressions, so comments, strings, dollar-quoted bodies and
// DO blocks cannot fool a rule.
//
// Each rule has an ID, a severity and an entry in docs/checks.md with the
// safe alternative. An error finding makes `fleetgate check` exit 5 and
// `fleetgate up` refuse the migration, unless the migration carries
// "-- fleetgate:allow <RULE> <reason>".
package lint

import (
	"fmt"
	"sort"
	"strings"

	"github.com/fleetgate/fleetgate/internal/source"
)

// Severity says whether a finding blocks (error) or only informs (warning).
type Severity string

const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Rule describes one check.
type Rule struct {
	ID       string
	Severity Severity
	// PreOnly rules are about compatibility with the old code that still
	// runs during the pre phase; a post-phase migration may do these
	// things.
	PreOnly bool
	// Summary is one line for listings; docs/checks.md has the rest.
	Summary string
}

// Finding is one problem found in one statement.
type Finding struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Col      int      `json:"col"`
	Message  string   `json:"message"`
	Version  int64    `json:"version"`
	// Allowed is set when the migration accepts the finding with a
	// "-- fleetgate:allow" directive; Reason is the directive's reason.
	Allowed bool   `json:"allowed,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// Blocking reports whether the finding stops a migration: an error that no
// allow directive accepts.
func (f Finding) Blocking() bool { return f.Severity == SeverityError && !f.Allowed }

// String formats the finding as "file:line:col RULE message", the form
// editors and CI annotations recognise.
func (f Finding) String() string {
	s := fmt.Sprintf("%s:%d:%d %s %s", f.File, f.Line, f.Col, f.Rule, f.Message)
	if f.Severity == SeverityWarning {
		s = fmt.Sprintf("%s:%d:%d %s warning: %s", f.File, f.Line, f.Col, f.Rule, f.Message)
	}
	if f.Allowed {
		s += " (allowed: " + f.Reason + ")"
	}
	return s
}

// Rule IDs.
const (
	DropColumn               = "drop-column"
	DropTable                = "drop-table"
	RenameColumn             = "rename-column"
	RenameTable              = "rename-table"
	ChangeColumnType         = "change-column-type"
	SetNotNull               = "set-not-null"
	AddNotNullColumn         = "add-not-null-column"
	RequireConcurrentIndex   = "require-concurrent-index"
	AddForeignKey            = "add-foreign-key"
	AddCheckConstraint       = "add-check-constraint"
	AddUniqueConstraint      = "add-unique-constraint"
	RewriteColumnType        = "rewrite-column-type"
	VacuumFull               = "vacuum-full"
	Cluster                  = "cluster"
	RequireConcurrentReindex = "require-concurrent-reindex"
	LockTable                = "lock-table"
	NeedsNoTransaction       = "needs-no-transaction"
	EnumValueInTransaction   = "enum-value-used-in-transaction"
	UpdateWithoutWhere       = "update-without-where"
	DeleteWithoutWhere       = "delete-without-where"
	UnnamedConcurrentIndex   = "unnamed-concurrent-index"
	AtLeastOnce              = "at-least-once-statement"
	SyntaxError              = "syntax-error"
	UnknownAllow             = "unknown-allow"
	PreDependsOnPost         = "pre-depends-on-post"

	DropNotNull                = "drop-not-null"
	RequireConcurrentDropIndex = "require-concurrent-drop-index"
	AddColumnVolatileDefault   = "add-column-volatile-default"
	AddSerialColumn            = "add-serial-column"
	RequireConcurrentDetach    = "require-concurrent-detach-partition"
	TruncateCascade            = "truncate-cascade"
	InvalidatesCachedPlans     = "invalidates-cached-plans"
)

var rules = []Rule{
	{DropColumn, SeverityError, true, "dropping a column breaks old code that still reads or writes it"},
	{DropTable, SeverityError, true, "dropping a table breaks old code that still uses it"},
	{RenameColumn, SeverityError, true, "renaming a column breaks old code that uses the old name"},
	{RenameTable, SeverityError, true, "renaming a table breaks old code that uses the old name"},
	{ChangeColumnType, SeverityError, true, "changing a column's type can break old code that reads or writes it"},
	{SetNotNull, SeverityError, true, "SET NOT NULL breaks old code that writes NULL, and scans the table under an ACCESS EXCLUSIVE lock"},
	{DropNotNull, SeverityError, true, "DROP NOT NULL lets new code write NULLs that old code still reads without expecting them"},
	{AddNotNullColumn, SeverityError, false, "a NOT NULL column without a default fails on a non-empty table and breaks old code's inserts"},
	{InvalidatesCachedPlans, SeverityWarning, false, "adding, dropping or retyping a column of an existing table makes running code's prepared SELECT * statements on it fail once per connection"},
	{RequireConcurrentIndex, SeverityError, false, "CREATE INDEX without CONCURRENTLY blocks writes to the table while it builds"},
	{RequireConcurrentDropIndex, SeverityError, false, "DROP INDEX without CONCURRENTLY blocks reads and writes of the table until the migration commits"},
	{AddForeignKey, SeverityError, false, "adding a foreign key without NOT VALID scans the table while blocking writes on both tables"},
	{AddCheckConstraint, SeverityError, false, "adding a CHECK constraint without NOT VALID scans the table under an ACCESS EXCLUSIVE lock"},
	{AddUniqueConstraint, SeverityError, false, "adding a UNIQUE or PRIMARY KEY constraint builds its index under an ACCESS EXCLUSIVE lock"},
	{RewriteColumnType, SeverityError, false, "ALTER COLUMN ... TYPE rewrites the table and its indexes under an ACCESS EXCLUSIVE lock"},
	{AddColumnVolatileDefault, SeverityError, false, "ADD COLUMN with a volatile DEFAULT, or a stored generated column, rewrites the table under an ACCESS EXCLUSIVE lock"},
	{AddSerialColumn, SeverityError, false, "adding a serial or identity column rewrites the table under an ACCESS EXCLUSIVE lock"},
	{RequireConcurrentDetach, SeverityError, false, "DETACH PARTITION without CONCURRENTLY blocks reads and writes of the partitioned table until the migration commits"},
	{VacuumFull, SeverityError, false, "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock"},
	{Cluster, SeverityError, false, "CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock"},
	{RequireConcurrentReindex, SeverityError, false, "REINDEX without CONCURRENTLY blocks writes (and reads using the index) while it rebuilds"},
	{LockTable, SeverityError, false, "LOCK TABLE in a write-blocking mode stalls the application for as long as the migration runs"},
	{NeedsNoTransaction, SeverityError, false, "the statement cannot run inside a transaction block"},
	{EnumValueInTransaction, SeverityError, false, "an enum value added with ALTER TYPE ... ADD VALUE cannot be used before its transaction commits"},
	{UpdateWithoutWhere, SeverityWarning, false, "UPDATE without WHERE rewrites every row of the table in one transaction"},
	{DeleteWithoutWhere, SeverityError, false, "DELETE without WHERE empties the table"},
	{TruncateCascade, SeverityError, false, "TRUNCATE ... CASCADE also empties every table that references the ones named"},
	{UnnamedConcurrentIndex, SeverityWarning, false, "an interrupted CREATE INDEX CONCURRENTLY without a name cannot be cleaned up on resume"},
	{AtLeastOnce, SeverityWarning, false, "a statement that must run outside a transaction and is not safe to repeat runs again if its runner dies while it runs"},
	{SyntaxError, SeverityError, false, "PostgreSQL's parser rejects the statement"},
	{UnknownAllow, SeverityWarning, false, "an allow directive names a rule that does not exist"},
	{PreDependsOnPost, SeverityError, true, "a pre-phase migration uses what a pending, older post-phase migration changes"},
}

var byID = func() map[string]*Rule {
	m := make(map[string]*Rule, len(rules))
	for i := range rules {
		m[rules[i].ID] = &rules[i]
	}
	return m
}()

// Rules returns every rule, in documentation order.
func Rules() []Rule { return append([]Rule(nil), rules...) }

// Lookup returns the rule with the given ID.
func Lookup(id string) (Rule, bool) {
	r, ok := byID[id]
	if !ok {
		return Rule{}, false
	}
	return *r, true
}

// Check lints the up section of one migration. Findings are in statement
// order and carry the migration's file; findings the migration allows are
// marked Allowed. The error is only for a failure of the parser itself,
// never for a problem in the migration.
func Check(m *source.Migration) ([]Finding, error) { return new(Set).Check(m) }

// A Set checks migrations that are applied together (the pending ones of
// one `up`), in version order: what the earlier ones create is new to the
// later ones as far as running code is concerned, since no running code
// can hold a prepared statement on a table that does not exist yet. Only
// invalidates-cached-plans uses this; the lock and old-code rules keep to
// one migration, since each migration commits on its own and the table
// is in use from then on. The zero Set is ready to use.
type Set struct{ created tableSet }

// Check lints m as Check does, knowing the tables the set's earlier
// migrations created, and adds m's to them.
func (s *Set) Check(m *source.Migration) ([]Finding, error) {
	c, err := newChecker(m)
	if err != nil {
		return nil, err
	}
	if s.created == nil {
		s.created = tableSet{}
	}
	c.earlier = s.created
	c.run()
	for rel, schemas := range c.created {
		for schema := range schemas {
			s.created.add(schema, rel)
		}
	}
	return finish(m, c.findings), nil
}

// finish applies the migration's allow directives, reports directives
// naming unknown rules, and sorts the findings by position.
func finish(m *source.Migration, fs []Finding) []Finding {
	for _, a := range m.Allows {
		if _, ok := byID[a.Rule]; !ok {
			fs = append(fs, Finding{Rule: UnknownAllow, Severity: SeverityWarning, File: m.File, Line: a.Line, Col: 1,
				Version: m.Version, Message: fmt.Sprintf("-- fleetgate:allow names unknown rule %q (see docs/checks.md for the rule IDs)", a.Rule)})
		}
	}
	fs = applyAllows(m, fs)
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].Line != fs[j].Line {
			return fs[i].Line < fs[j].Line
		}
		return fs[i].Col < fs[j].Col
	})
	return fs
}

// applyAllows marks the findings that the migration's allow directives
// accept; the first directive for a rule gives the reason.
func applyAllows(m *source.Migration, fs []Finding) []Finding {
	allowed := map[string]string{}
	for _, a := range m.Allows {
		if _, dup := allowed[a.Rule]; !dup {
			allowed[a.Rule] = a.Reason
		}
	}
	for i := range fs {
		if reason, ok := allowed[fs[i].Rule]; ok {
			fs[i].Allowed, fs[i].Reason = true, reason
		}
	}
	return fs
}

// checker holds the state of one migration's check: what the migration has
// created so far, so that rules that are safe on a new table know it.
type checker struct {
	m       *source.Migration
	stmts   []stmt
	created tableSet
	// newIndexes are the indexes built by CREATE INDEX on tables of
	// created, so dropping them again locks nothing anyone else uses. (A
	// constraint's index is dropped with its constraint, not DROP INDEX.)
	newIndexes tableSet
	// domains are the domains created in the migration: no column uses
	// them yet, so adding a constraint to one scans nothing.
	domains tableSet
	// earlier are the tables created by the earlier migrations of a Set;
	// planWarned the tables invalidates-cached-plans reported already.
	earlier, planWarned tableSet
	findings            []Finding
	pre                 bool
	// Transaction scope: inTx is whether the current statement runs inside
	// a transaction (the migration's own, or an explicit block in a
	// no-transaction migration); enumVals are enum values added in it.
	inBlock  bool
	enumVals []enumValue
}

type enumValue struct {
	typ, val string
	line     int
}

func newChecker(m *source.Migration) (*checker, error) {
	stmts, err := parseStatements(m.Up.Statements)
	if err != nil {
		return nil, err
	}
	return &checker{m: m, stmts: stmts, created: tableSet{}, newIndexes: tableSet{}, domains: tableSet{}, earlier: tableSet{}, planWarned: tableSet{}, pre: m.Phase != source.PhasePost}, nil
}

// report records a finding for rule at loc (a parser location in s, or -1
// for the start of the statement).
func (c *checker) report(id string, s *stmt, loc int32, format string, args ...any) {
	r := byID[id]
	line, col := s.pos(loc)
	c.findings = append(c.findings, Finding{Rule: id, Severity: r.Severity, File: c.m.File, Line: line, Col: col,
		Version: c.m.Version, Message: fmt.Sprintf(format, args...)})
}

// inTransaction reports whether the current statement runs inside a
// transaction block.
func (c *checker) inTransaction() bool { return !c.m.NoTransaction || c.inBlock }

func (c *checker) run() {
	for i := range c.stmts {
		s := &c.stmts[i]
		if s.node == nil {
			msg := s.err.Error()
			c.report(SyntaxError, s, errorPos(s.src.SQL, s.err), "%s", strings.TrimSpace(msg))
			continue
		}
		c.checkStatement(s)
		c.record(s)
	}
}
