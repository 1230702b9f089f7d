// Package fleet is the pure logic of the instance registry: which builds
// the running instances of an application are, and whether a contract
// (post-phase) migration or a rollback may go ahead while they run.
//
// Every instance that starts through fleetgate (run, wait, or the
// library's Register) records its build: the set of migration versions
// it ships. A post-phase migration removes what old code still uses, so it
// may only be applied once every live instance ships it; a rollback
// removes what new code uses, so it may only run once no live instance
// ships what it reverts.
package fleet

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultTTL is how long an instance that stopped sending heartbeats
// still counts as live. Heartbeats go every TTL/3, so two may be lost.
const DefaultTTL = 30 * time.Second

// Instance is one row of the registry.
type Instance struct {
	ID       string `json:"id"`
	Host     string `json:"host"`
	PID      int    `json:"pid"`
	DeployID string `json:"deploy_id"`
	// Build is a short fingerprint of Versions: instances with the same
	// fingerprint run the same set of migrations.
	Build      string    `json:"build"`
	Versions   []int64   `json:"-"` // ascending
	MaxVersion int64     `json:"max_version"`
	StartedAt  time.Time `json:"started_at"`
	LastSeen   time.Time `json:"last_seen"`
}

// Ships reports whether the instance's build has migration v.
func (in *Instance) Ships(v int64) bool {
	_, ok := slices.BinarySearch(in.Versions, v)
	return ok
}

// Fingerprint names a set of versions: the first 12 hex digits of the
// SHA-256 of its encoding.
func Fingerprint(versions []int64) string {
	sum := sha256.Sum256([]byte(Encode(versions)))
	return hex.EncodeToString(sum[:6])
}

// Encode stores a set of versions compactly: ascending, as base-36 deltas
// separated by commas, with runs of consecutive versions as "+n" (the
// count after the first). 1..44 is "1+43"; timestamps cost a few
// characters each.
func Encode(versions []int64) string {
	v := slices.Clone(versions)
	slices.Sort(v)
	v = slices.Compact(v)
	var b strings.Builder
	var prev int64
	for i := 0; i < len(v); {
		j := i
		for j+1 < len(v) && v[j+1] == v[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(v[i]-prev, 36))
		if j > i {
			b.WriteByte('+')
			b.WriteString(strconv.FormatInt(int64(j-i), 36))
		}
		prev = v[j]
		i = j + 1
	}
	return b.String()
}

// Decode reverses Encode.
func Decode(s string) ([]int64, error) {
	if s == "" {
		return nil, nil
	}
	var out []int64
	var prev int64
	for _, part := range strings.Split(s, ",") {
		first, run, hasRun := strings.Cut(part, "+")
		d, err := strconv.ParseInt(first, 36, 64)
		if err != nil || d <= 0 && len(out) > 0 {
			return nil, fmt.Errorf("version set %q: bad element %q", s, part)
		}
		n := int64(0)
		if hasRun {
			if n, err = strconv.ParseInt(run, 36, 64); err != nil || n < 1 || n > 1<<20 {
				return nil, fmt.Errorf("version set %q: bad run %q", s, part)
			}
		}
		v := prev + d
		for k := int64(0); k <= n; k++ {
			out = append(out, v+k)
		}
		prev = v + n
	}
	return out, nil
}

// ReapTTLs is how many TTLs after its last heartbeat a stale entry is
// deleted: until then status shows it (what the last deploys killed);
// after that it is only clutter, since a stale entry holds nothing back.
// An instance paused longer than that registers again at its next
// heartbeat.
const ReapTTLs = 10

// LongDead reports the cut-off for entries stale for more than
// ReapTTLs × ttl at now, and whether any of all is older than it.
func LongDead(all []Instance, now time.Time, ttl time.Duration) (before time.Time, any bool) {
	before = now.Add(-ReapTTLs * ttl)
	for _, in := range all {
		if in.LastSeen.Before(before) {
			return before, true
		}
	}
	return before, false
}

// Live splits instances into those seen within ttl of now and the stale
// rest (stopped without deregistering: killed, or their host is gone).
func Live(all []Instance, now time.Time, ttl time.Duration) (live, stale []Instance) {
	for _, in := range all {
		if now.Sub(in.LastSeen) <= ttl {
			live = append(live, in)
		} else {
			stale = append(stale, in)
		}
	}
	return live, stale
}

// Lacking returns the live instances whose build lacks any of versions:
// those that hold back a contract migration.
func Lacking(live []Instance, versions []int64) []Instance {
	var out []Instance
	for _, in := range live {
		for _, v := range versions {
			if !in.Ships(v) {
				out = append(out, in)
				break
			}
		}
	}
	return out
}

// Shipping returns the live instances whose build ships any of versions:
// those that hold back a rollback of them.
func Shipping(live []Instance, versions []int64) []Instance {
	var out []Instance
	for _, in := range live {
		for _, v := range versions {
			if in.Ships(v) {
				out = append(out, in)
				break
			}
		}
	}
	return out
}

// Group is the instances that run one build.
type Group struct {
	Build      string
	MaxVersion int64
	Instances  []Instance
}

// Groups gathers instances by build, the build with the highest version
// first.
func Groups(ins []Instance) []Group {
	idx := map[string]int{}
	var out []Group
	for _, in := range ins {
		i, ok := idx[in.Build]
		if !ok {
			i = len(out)
			idx[in.Build] = i
			out = append(out, Group{Build: in.Build, MaxVersion: in.MaxVersion})
		}
		out[i].Instances = append(out[i].Instances, in)
	}
	slices.SortStableFunc(out, func(a, b Group) int {
		switch {
		case a.MaxVersion != b.MaxVersion:
			if a.MaxVersion > b.MaxVersion {
				return -1
			}
			return 1
		default:
			return strings.Compare(a.Build, b.Build)
		}
	})
	return out
}

// Describe names instances for a message: "web-3 (pid 17, build 1a2b3c4d5e6f
// up to 42, seen 4s ago)", at most max of them and a count of the rest.
func Describe(ins []Instance, now time.Time, max int) string {
	var parts []string
	for i, in := range ins {
		if i == max {
			parts = append(parts, fmt.Sprintf("and %d more", len(ins)-max))
			break
		}
		parts = append(parts, fmt.Sprintf("%s (pid %d, build %s up to %d, seen %s ago)",
			in.Host, in.PID, in.Build, in.MaxVersion, now.Sub(in.LastSeen).Round(time.Second)))
	}
	return strings.Join(parts, ", ")
}
