package app

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/services/gateway/internal/identity/domain"
)

// storeOf is the in-memory state behind a's stores.
func storeOf(a Accounts) *testkit.MemState {
	return a.Users.(daprx.Store[domain.User]).Client.(*testkit.MemState)
}

// TestUnknownUsernamesWriteNothing: 1,000 sign-ins with made-up usernames
// wrote 2,000 records, those answered 503 too (issue 28, finding 5). Now
// they write none, and the memory they take is bounded.
func TestUnknownUsernamesWriteNothing(t *testing.T) {
	h := &slowHasher{}
	a, _ := signInAccounts(h)
	accountMem := withAccountLock(&a, 20)
	addUser(t, a, "alice", "the right password")
	ctx := context.Background()
	mem := storeOf(a)
	before, accountBefore := mem.Len(), accountMem.Len()
	for i := range 1000 {
		_, err := a.SignIn(ctx, SignInInput{Username: fmt.Sprint("nobody", i), Password: "a guess", Client: fmt.Sprint("198.51.100.", i%50)})
		require.Equal(t, errs.Unauthorized, errs.KindOf(err), "%v", err)
	}
	assert.Equal(t, before, mem.Len(), "records written for unknown usernames")
	assert.Equal(t, accountBefore, accountMem.Len(), "account-wide records written for unknown usernames")
	assert.Equal(t, 1000, int(h.verified.Load()), "each unknown username costs the hash a known one's would")
	assert.LessOrEqual(t, a.UnknownNames.Len(), a.UnknownNames.Max, "records held in memory")

	// With every hashing slot taken, the 503s write nothing either.
	h.gate = make(chan struct{})
	a.Hashing = NewSlots(1, 0)
	done := make(chan error)
	go func() {
		_, err := a.SignIn(ctx, SignInInput{Username: "nobody-first", Password: "a guess", Client: "c"})
		done <- err
	}()
	require.Eventually(t, func() bool { return h.verified.Load() == 1001 }, 5*time.Second, time.Millisecond)
	for i := range 20 {
		_, err := a.SignIn(ctx, SignInInput{Username: fmt.Sprint("nobody-busy", i), Password: "a guess", Client: "c2"})
		require.Equal(t, errs.Unavailable, errs.KindOf(err), "%v", err)
	}
	close(h.gate)
	require.Equal(t, errs.Unauthorized, errs.KindOf(<-done))
	assert.Equal(t, before, mem.Len(), "records written for unknown usernames answered 503")
	assert.Equal(t, accountBefore, accountMem.Len(), "account-wide records written for 503s")
}

// TestAnUnknownUsernameIsAnsweredLikeAKnownOne, lock and Retry-After included.
func TestAnUnknownUsernameIsAnsweredLikeAKnownOne(t *testing.T) {
	answers := func(name string, known bool) []string {
		a, clk := signInAccounts(&slowHasher{})
		withAccountLock(&a, 8)
		if known {
			addUser(t, a, name, "the right password")
		}
		ctx := context.Background()
		var out []string
		try := func(client string) {
			_, err := a.SignIn(ctx, SignInInput{Username: name, Password: "a guess", Client: client})
			out = append(out, fmt.Sprintf("%v %s %q", errs.KindOf(err), errs.RetryAfterOf(err), err))
		}
		for range 7 { // one client: the lock, then tries while it holds
			try("198.51.100.1")
		}
		clk.add(2 * time.Minute)
		for i := range 6 { // many clients: the account-wide lock
			try(fmt.Sprint("203.0.113.", i))
		}
		return out
	}
	known, unknown := answers("olga", true), answers("olga", false)
	assert.Equal(t, known, unknown)
	assert.Contains(t, known[5], "locked for 1m0s", "the lock from one client")
	assert.Contains(t, known[len(known)-1], "account locked", "the account-wide lock")
}

// TestMemStrikesStayWithinTheirBound: records past Max push others out;
// idle ones go first.
func TestMemStrikesStayWithinTheirBound(t *testing.T) {
	clk := &signinClock{t: time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)}
	m := NewMemStrikes(100, time.Hour, clk.now)
	l := Limits{Store: m, Now: clk.now}
	l.MaxFailures, l.Lock, l.MaxLock = 5, time.Minute, time.Hour
	ctx := context.Background()
	for i := range 1000 {
		_ = l.Fail(ctx, fmt.Sprint("k", i), nil)
	}
	assert.LessOrEqual(t, m.Len(), 100)
	clk.add(time.Hour + time.Second)
	for i := range 90 {
		_ = l.Fail(ctx, fmt.Sprint("fresh", i), nil)
	}
	for i := range 90 {
		_, found, _ := m.Get(ctx, limitKey(fmt.Sprint("fresh", i)))
		require.True(t, found, "fresh%d was pushed out while idle records were held", i)
	}
	n := m.Len()
	try, err := l.Reserve(ctx, "abandoned")
	require.NoError(t, err)
	try.Abandon(ctx)
	assert.Equal(t, n, m.Len(), "a try that counted neither way is forgotten")
}

// TestPaceWaitsAsLongAsTheStoreTook: an unknown name's step waits one of
// the durations the same step took in the store for a known name.
func TestPaceWaitsAsLongAsTheStoreTook(t *testing.T) {
	p := NewPace()
	start := time.Now()
	p.Wait(context.Background(), "failed", start)
	assert.Less(t, time.Since(start), 20*time.Millisecond, "no duration known yet")
	p.Took("failed", 40*time.Millisecond)
	start = time.Now()
	p.Wait(context.Background(), "failed", start)
	assert.GreaterOrEqual(t, time.Since(start), 40*time.Millisecond)
	start = time.Now()
	p.Wait(context.Background(), "reserve", start)
	assert.Less(t, time.Since(start), 20*time.Millisecond, "another step's duration")
}
