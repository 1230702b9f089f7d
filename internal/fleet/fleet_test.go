package fleet

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestEncodeRoundTrip(t *testing.T) {
	for _, vs := range [][]int64{
		nil,
		{1},
		{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44},
		{3, 5, 6, 7, 100},
		{20230101000000, 20230101000001, 20230215120000, 20240218233822},
	} {
		enc := Encode(vs)
		got, err := Decode(enc)
		require.NoError(t, err, enc)
		require.Equal(t, vs, got, enc)
	}
	require.Equal(t, "1+17", Encode([]int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44}))
	require.Equal(t, Encode([]int64{3, 1, 2, 2}), Encode([]int64{1, 2, 3}), "order and duplicates do not matter")
	for _, bad := range []string{"x!", "1+", "1,0", "1+zzzzzz"} {
		_, err := Decode(bad)
		require.Error(t, err, bad)
	}
}

func TestGates(t *testing.T) {
	now := time.Now()
	v1 := Instance{ID: "a", Build: "b1", Host: "old", Versions: []int64{1, 2}, MaxVersion: 2, LastSeen: now}
	v2 := Instance{ID: "b", Build: "b2", Host: "new", Versions: []int64{1, 2, 3}, MaxVersion: 3, LastSeen: now.Add(-5 * time.Second)}
	gone := Instance{ID: "c", Host: "gone", Versions: []int64{1}, MaxVersion: 1, LastSeen: now.Add(-time.Minute)}
	live, stale := Live([]Instance{v1, v2, gone}, now, 30*time.Second)
	require.Len(t, live, 2)
	require.Equal(t, []Instance{gone}, stale)
	require.Equal(t, []Instance{v1}, Lacking(live, []int64{3}), "the old build holds back a contract of 3")
	require.Empty(t, Lacking(live, []int64{2}))
	require.Equal(t, []Instance{v2}, Shipping(live, []int64{3}), "the new build holds back a rollback of 3")
	g := Groups(live)
	require.Len(t, g, 2)
	require.Equal(t, int64(3), g[0].MaxVersion)
	require.Contains(t, Describe(live, now, 1), "and 1 more")
}

func TestLongDead(t *testing.T) {
	now := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
	ttl := 30 * time.Second
	at := func(ago time.Duration) Instance { return Instance{LastSeen: now.Add(-ago)} }
	before, any := LongDead([]Instance{at(time.Second), at(2 * ttl), at(ReapTTLs * ttl)}, now, ttl)
	require.Equal(t, now.Add(-ReapTTLs*ttl), before)
	require.False(t, any, "stale, but not for more than ReapTTLs TTLs")
	_, any = LongDead([]Instance{at(time.Second), at(ReapTTLs*ttl + time.Millisecond)}, now, ttl)
	require.True(t, any)
	_, any = LongDead(nil, now, ttl)
	require.False(t, any)
}
