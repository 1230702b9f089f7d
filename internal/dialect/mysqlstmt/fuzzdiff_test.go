package mysqlstmt

import "testing"

// FuzzMatchesVitess is TestMatchesVitess on what the fuzzer makes of the
// corpus, where both read a statement: they read the same. Where only one
// does, the fuzzer's statements are nearly all invalid SQL, which vitess
// sometimes accepts (trailing garbage) and this package sometimes does
// (it does not check type names or column attributes); the server refuses
// those anyway, so only TestMatchesVitess's corpus of real statements
// holds that direction. Run it with `go test -fuzz FuzzMatchesVitess`; in
// the normal run it checks the seeds.
func FuzzMatchesVitess(f *testing.F) {
	for _, s := range edge {
		f.Add(s)
	}
	for _, s := range specs {
		f.Add("ALTER TABLE t " + s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		if _, ok := known[sql]; ok {
			return
		}
		want, verr := fromVitess(sql, true)
		got, err := Parse(sql)
		if verr == nil && err == nil && summary(got) != summary(want) {
			t.Fatalf("%q\n vitess: %s\n    got: %s", sql, summary(want), summary(got))
		}
	})
}
