package app

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/api"
	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/services/gateway/internal/identity/adapters/openapi"
	"github.com/bankabc/vouchers/services/gateway/internal/identity/domain"
)

// slowHasher counts the passwords it checks and hashes; each takes a
// while, so that requests sent together overlap, as argon2id's do.
type slowHasher struct {
	verified, hashed atomic.Int32
	took             time.Duration
	gate             chan struct{} // if set, every hash and check waits on it
}

func (h *slowHasher) Hash(password string) (string, error) {
	h.hashed.Add(1)
	h.wait()
	return "hash:" + password, nil
}

func (h *slowHasher) Verify(hash, password string) bool {
	h.verified.Add(1)
	h.wait()
	return hash == "hash:"+password
}

func (h *slowHasher) wait() {
	if h.gate != nil {
		<-h.gate
	}
	time.Sleep(h.took)
}

// documentRules are the account rules of the OpenAPI document, as the
// wiring reads them.
var documentRules = func() domain.AccountRules {
	r, err := openapi.AccountRules(api.MustLoad())
	if err != nil {
		panic(err)
	}
	return r
}()

type plainTokens struct{}

func (plainTokens) Issue(sessionID, _ string, _ time.Time) (string, error) {
	return "t." + sessionID, nil
}
func (plainTokens) SessionID(token string, _ time.Time) (string, error) {
	return token[2:], nil
}

func signInAccounts(h Hasher) (Accounts, *signinClock) {
	mem := testkit.NewMemState()
	clk := &signinClock{t: time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)}
	var n atomic.Int64
	return Accounts{
		Users:       daprx.Store[domain.User]{Client: mem, Name: "gateway-store"},
		Phones:      daprx.Store[domain.PhoneClaim]{Client: mem, Name: "gateway-store"},
		Sessions:    daprx.Store[domain.Session]{Client: mem, Name: "gateway-store"},
		Hasher:      h,
		Tokens:      plainTokens{},
		Now:         clk.now,
		NewID:       func() string { return fmt.Sprint("id", n.Add(1)) },
		NewSecret:   func() string { return "whsec_x" },
		IdleTimeout: 10 * time.Minute,
		Limits: Limits{Store: daprx.Store[domain.Strikes]{Client: mem, Name: "gateway-store"}, Now: clk.now,
			LockRules: domain.LockRules{MaxFailures: 5, Lock: time.Minute, MaxLock: time.Hour}},
		UnknownNames: NewMemStrikes(1000, time.Hour, clk.now),
		Rules:        documentRules,
	}, clk
}

type signinClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *signinClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *signinClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func addUser(t *testing.T, a Accounts, name, password string) {
	t.Helper()
	require.NoError(t, a.Users.Insert(context.Background(), userKey(name), domain.User{ID: "u-" + name, Username: name,
		PhoneNumber: "+84909123456", PasswordHash: "hash:" + password}, nil))
}

// TestParallelSignInsCheckAtMostMaxFailuresPasswords: issue 17 found all 60
// parallel wrong passwords checked. All are wrong here, because a success
// would start a new lock window.
func TestParallelSignInsCheckAtMostMaxFailuresPasswords(t *testing.T) {
	h := &slowHasher{took: 20 * time.Millisecond}
	a, _ := signInAccounts(h)
	addUser(t, a, "alice", "the right password")
	var wg sync.WaitGroup
	var limited, other atomic.Int32
	for i := range 60 {
		wg.Go(func() {
			_, err := a.SignIn(context.Background(), SignInInput{Username: "alice", Password: fmt.Sprint("wrong password ", i), Client: "203.0.113.7"})
			switch {
			case errs.KindOf(err) == errs.TooManyRequests:
				limited.Add(1)
			case errs.KindOf(err) == errs.Unauthorized:
			default:
				other.Add(1)
				t.Errorf("sign-in: %v", err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 5, int(h.verified.Load()), "passwords checked")
	assert.GreaterOrEqual(t, int(limited.Load()), 55, "refused before any hash (the fifth failure answers the lock it set off)")
	assert.Zero(t, other.Load(), "other errors")
	_, err := a.SignIn(context.Background(), SignInInput{Username: "alice", Password: "the right password", Client: "203.0.113.7"})
	assert.Equal(t, errs.TooManyRequests, errs.KindOf(err), "the right password from the locked client: %v", err)
	assert.Equal(t, 5, int(h.verified.Load()), "checked while locked")
}

// TestFailuresLockAndTheLockGrows: five failures lock the username; tried
// again after the lock, the next five lock it twice as long.
func TestFailuresLockAndTheLockGrows(t *testing.T) {
	h := &slowHasher{}
	a, clk := signInAccounts(h)
	addUser(t, a, "bob", "the right password")
	ctx := context.Background()
	for range 5 {
		_, err := a.SignIn(ctx, SignInInput{Username: "bob", Password: "wrong password", Client: "c"})
		require.Error(t, err)
	}
	_, err := a.SignIn(ctx, SignInInput{Username: "bob", Password: "the right password", Client: "c"})
	require.Equal(t, errs.TooManyRequests, errs.KindOf(err), "locked: %v", err)
	assert.Equal(t, time.Minute, errs.RetryAfterOf(err))
	clk.add(time.Minute + time.Second)
	for range 5 {
		_, _ = a.SignIn(ctx, SignInInput{Username: "bob", Password: "wrong password", Client: "c"})
	}
	_, err = a.SignIn(ctx, SignInInput{Username: "bob", Password: "the right password", Client: "c"})
	assert.Equal(t, 2*time.Minute, errs.RetryAfterOf(err), "the second lock: %v", err)
	clk.add(2*time.Minute + time.Second)
	_, err = a.SignIn(ctx, SignInInput{Username: "bob", Password: "the right password", Client: "c"})
	assert.NoError(t, err, "after the lock")
}

// TestAReservedTryOfADeadProcessLapses: tries reserved and never settled
// (their process died) stop counting after reservationLife.
func TestAReservedTryOfADeadProcessLapses(t *testing.T) {
	a, clk := signInAccounts(&slowHasher{})
	addUser(t, a, "carol", "the right password")
	ctx := context.Background()
	for range 5 {
		_, err := a.Limits.Reserve(ctx, "signin|carol|c") // never settled
		require.NoError(t, err)
	}
	_, err := a.SignIn(ctx, SignInInput{Username: "carol", Password: "the right password", Client: "c"})
	require.Equal(t, errs.TooManyRequests, errs.KindOf(err), "five tries in progress: %v", err)
	clk.add(reservationLife + time.Second)
	_, err = a.SignIn(ctx, SignInInput{Username: "carol", Password: "the right password", Client: "c"})
	assert.NoError(t, err, "the dead tries lapsed")
}

// TestHashingBeyondTheBoundIsRefusedAtOnce: with every hashing slot taken,
// a sign-in and a sign-up are answered 503 with Retry-After at once, and
// the refused sign-in does not count as a failure.
func TestHashingBeyondTheBoundIsRefusedAtOnce(t *testing.T) {
	h := &slowHasher{gate: make(chan struct{})}
	a, _ := signInAccounts(h)
	a.Hashing = NewSlots(1, 0)
	addUser(t, a, "dave", "the right password")
	ctx := context.Background()
	done := make(chan error)
	go func() {
		_, err := a.SignIn(ctx, SignInInput{Username: "dave", Password: "wrong password", Client: "c"})
		done <- err
	}()
	require.Eventually(t, func() bool { return h.verified.Load() == 1 }, 5*time.Second, time.Millisecond, "the first sign-in holds the slot")

	_, err := a.SignIn(ctx, SignInInput{Username: "dave", Password: "the right password", Client: "c"})
	require.Equal(t, errs.Unavailable, errs.KindOf(err), "sign-in with no slot: %v", err)
	assert.Equal(t, time.Second, errs.RetryAfterOf(err))
	_, err = a.SignUp(ctx, SignUpInput{Username: "erin", PhoneNumber: "0909123457", Password: "long enough pw"})
	require.Equal(t, errs.Unavailable, errs.KindOf(err), "sign-up with no slot: %v", err)
	assert.Equal(t, int32(0), h.hashed.Load(), "hashes computed past the bound")

	close(h.gate)
	require.Equal(t, errs.Unauthorized, errs.KindOf(<-done))
	st, _, err := a.Limits.Store.Get(ctx, limitKey("signin|dave|c"))
	require.NoError(t, err)
	assert.Equal(t, 1, st.Failures, "the refused try counted as a failure")
	assert.Empty(t, st.Pending, "tries left reserved")
}

// TestSignUpWithATakenUsernameHashesNothing: the cheap check comes before
// the costly hash.
func TestSignUpWithATakenUsernameHashesNothing(t *testing.T) {
	h := &slowHasher{}
	a, _ := signInAccounts(h)
	addUser(t, a, "frank", "the right password")
	_, err := a.SignUp(context.Background(), SignUpInput{Username: "frank", PhoneNumber: "0909123458", Password: "long enough pw"})
	require.Equal(t, errs.Conflict, errs.KindOf(err), "%v", err)
	assert.Zero(t, h.hashed.Load(), "hashes")
}

// withAccountLock gives a the account-wide backstop (limit failures from
// every client) and unlock codes sent through mem's outbox; it returns the
// texts sent.
func withAccountLock(a *Accounts, limit int) *testkit.MemState {
	mem := testkit.NewMemState()
	a.AccountLimits = Limits{Store: daprx.Store[domain.Strikes]{Client: mem, Name: "s"}, Now: a.Now,
		LockRules: domain.LockRules{MaxFailures: limit, Lock: 15 * time.Minute, MaxLock: time.Hour}}
	ob := daprx.NewOutbox(mem, "d", "pubsub", "test", 5*time.Second, nil)
	code := 0
	a.Later = func(f func()) { f() } // the unlock code's work, before the answer
	a.UnlockCodes = Codes{Store: daprx.Store[domain.PhoneCode]{Client: mem, Name: "d", Outbox: ob}, Now: a.Now,
		NewCode: func() string { code++; return fmt.Sprintf("%06d", 424240+code) },
		TTL:     5 * time.Minute, Cooldown: time.Minute, MaxTries: 5, Rule: documentRules.Code, Kind: "unlock-code", Text: UnlockCodeText}
	return mem
}

// TestAnotherClientsFailuresDoNotLockTheOwnerOut: an attacker that fails
// five times is locked out of the username; the owner, from their own
// client, signs in (issue 17 found five wrong passwords kept the owner out).
func TestAnotherClientsFailuresDoNotLockTheOwnerOut(t *testing.T) {
	a, _ := signInAccounts(&slowHasher{})
	addUser(t, a, "gina", "the right password")
	ctx := context.Background()
	for range 5 {
		_, _ = a.SignIn(ctx, SignInInput{Username: "gina", Password: "a guess", Client: "198.51.100.66"})
	}
	_, err := a.SignIn(ctx, SignInInput{Username: "gina", Password: "the right password", Client: "198.51.100.66"})
	assert.Equal(t, errs.TooManyRequests, errs.KindOf(err), "the attacker's client: %v", err)
	_, err = a.SignIn(ctx, SignInInput{Username: "gina", Password: "the right password", Client: "203.0.113.10"})
	assert.NoError(t, err, "the owner's client")
}

// TestManyClientsLockTheAccountAndAnSMSCodeLiftsIt: failures from many
// clients lock the username; the owner's SMS code lifts the lock.
func TestManyClientsLockTheAccountAndAnSMSCodeLiftsIt(t *testing.T) {
	a, _ := signInAccounts(&slowHasher{})
	mem := withAccountLock(&a, 8)
	ctx := context.Background()
	lockedOwner(t, a, "hana", 8)
	owner := SignInInput{Username: "hana", Password: "the right password", Client: "203.0.113.10"}
	_, err := a.SignIn(ctx, owner)
	require.Equal(t, errs.TooManyRequests, errs.KindOf(err), "the account is locked: %v", err)
	assert.ErrorIs(t, err, ErrAccountLocked, "the lock says the owner can lift it")

	require.NoError(t, a.RequestUnlockCode(ctx, "hana", "c"))
	texts := mem.Events("send-sms")
	require.Len(t, texts, 1, "unlock SMS")
	var sms struct{ PhoneNumber, Text string }
	require.NoError(t, json.Unmarshal(texts[0].Data, &sms))
	assert.Equal(t, "+84909123456", sms.PhoneNumber)
	code := sixDigits.FindString(sms.Text)
	require.NotEmpty(t, code, "code in %q", sms.Text)

	wrong := owner
	wrong.UnlockCode = "000000"
	_, err = a.SignIn(ctx, wrong)
	assert.Equal(t, errs.Unprocessable, errs.KindOf(err), "a wrong code: %v", err)
	owner.UnlockCode = code
	_, err = a.SignIn(ctx, owner)
	require.NoError(t, err, "with the code")
	owner.UnlockCode = ""
	owner.Client = "192.0.2.44"
	_, err = a.SignIn(ctx, owner)
	assert.NoError(t, err, "the lock was lifted")
}

// TestUnlockCodeRequestsTellNothing: unknown usernames and accounts
// without a verified phone get the same answer, and no text is sent.
func TestUnlockCodeRequestsTellNothing(t *testing.T) {
	a, _ := signInAccounts(&slowHasher{})
	mem := withAccountLock(&a, 8)
	addUser(t, a, "ivan", "the right password") // phone not verified
	ctx := context.Background()
	for range 8 {
		_, _ = a.SignIn(ctx, SignInInput{Username: "ivan", Password: "a guess", Client: fmt.Sprint("c", rand.IntN(1000))})
	}
	assert.NoError(t, a.RequestUnlockCode(ctx, "nobody-at-all", "c"))
	assert.NoError(t, a.RequestUnlockCode(ctx, "ivan", "c"))
	assert.Empty(t, mem.Events("send-sms"), "texts sent")
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// TestAUsernameCannotReachAnotherKey: a name sign-up would refuse (a '|'
// in it could have named another client's or the account's strikes
// record) is answered 401 at once and counts against nobody.
func TestAUsernameCannotReachAnotherKey(t *testing.T) {
	h := &slowHasher{}
	a, _ := signInAccounts(h)
	withAccountLock(&a, 8)
	addUser(t, a, "jane", "the right password")
	ctx := context.Background()
	for range 30 {
		_, err := a.SignIn(ctx, SignInInput{Username: "jane|203.0.113.7", Password: "a guess", Client: "198.51.100.9"})
		require.Equal(t, errs.Unauthorized, errs.KindOf(err), "%v", err)
	}
	assert.Zero(t, h.verified.Load(), "passwords checked for an impossible name")
	_, err := a.SignIn(ctx, SignInInput{Username: "jane", Password: "the right password", Client: "203.0.113.7"})
	assert.NoError(t, err, "jane from her own address")
}

// TestUnlockCodesGoOnlyToLockedAccountsAndAreNotReplaced: nobody can spoil
// the code the owner is typing in.
func TestUnlockCodesGoOnlyToLockedAccountsAndAreNotReplaced(t *testing.T) {
	a, clk := signInAccounts(&slowHasher{})
	mem := withAccountLock(&a, 8)
	ctx := context.Background()
	verified := a.Now()
	require.NoError(t, a.Users.Insert(ctx, userKey("kim"), domain.User{ID: "u-kim", Username: "kim", PhoneNumber: "+84909123456",
		PasswordHash: "hash:the right password", PhoneVerifiedAt: &verified}, nil))
	require.NoError(t, a.RequestUnlockCode(ctx, "kim", "c"))
	assert.Empty(t, mem.Events("send-sms"), "a code for an account that is not locked")
	for i := range 8 {
		_, _ = a.SignIn(ctx, SignInInput{Username: "kim", Password: "a guess", Client: fmt.Sprint("198.51.100.", i)})
	}
	for range 3 {
		require.NoError(t, a.RequestUnlockCode(ctx, "kim", "c"))
		clk.add(70 * time.Second) // past the cool-down: still not replaced
	}
	texts := mem.Events("send-sms")
	require.Len(t, texts, 1, "one code while it is live")
	var sms struct{ Text string }
	require.NoError(t, json.Unmarshal(texts[0].Data, &sms))
	_, err := a.SignIn(ctx, SignInInput{Username: "kim", Password: "the right password", Client: "203.0.113.1", UnlockCode: sixDigits.FindString(sms.Text)})
	assert.NoError(t, err, "the first code still works")
}

// TestAWrongPasswordSpendsNoCodeTry: without the password, an unlock
// code's tries cannot be spent and nothing tells whether the code is
// right.
func TestAWrongPasswordSpendsNoCodeTry(t *testing.T) {
	a, _ := signInAccounts(&slowHasher{})
	mem := withAccountLock(&a, 8)
	ctx := context.Background()
	lockedOwner(t, a, "lan", 8)
	require.NoError(t, a.RequestUnlockCode(ctx, "lan", "c"))
	var sms struct{ Text string }
	require.NoError(t, json.Unmarshal(mem.Events("send-sms")[0].Data, &sms))
	for i := range 10 {
		_, err := a.SignIn(ctx, SignInInput{Username: "lan", Password: "a guess", Client: fmt.Sprint("192.0.2.", i), UnlockCode: "000000"})
		require.Equal(t, errs.Unauthorized, errs.KindOf(err), "a wrong password with a code: %v", err)
	}
	_, err := a.SignIn(ctx, SignInInput{Username: "lan", Password: "the right password", Client: "203.0.113.1", UnlockCode: sixDigits.FindString(sms.Text)})
	assert.NoError(t, err, "the owner's code kept its tries")
}

// TestASessionStartedAcrossAPasswordChangeEnds: a sign-in that checked the
// old password before a change, and starts its session after it, gets no
// session.
func TestASessionStartedAcrossAPasswordChangeEnds(t *testing.T) {
	a, _ := signInAccounts(&slowHasher{})
	addUser(t, a, "mai", "the old password")
	ctx := context.Background()
	stale, _, err := a.Users.Get(ctx, userKey("mai")) // read by a sign-in before the change
	require.NoError(t, err)
	_, err = a.Users.Update(ctx, userKey("mai"), func(u *domain.User, _ bool) (*persist.Event, error) {
		u.PasswordHash = "hash:the new password"
		return nil, nil
	})
	require.NoError(t, err)
	_, err = a.startSession(ctx, stale)
	assert.Equal(t, errs.Unauthorized, errs.KindOf(err), "%v", err)
}

// TestOneClientCannotTakeEveryHashingSlot: a client holding its share is
// refused another slot while others still get one.
func TestOneClientCannotTakeEveryHashingSlot(t *testing.T) {
	s := NewSlots(4, 1)
	release, err := s.Take("198.51.100.1")
	require.NoError(t, err)
	_, err = s.Take("198.51.100.1")
	assert.Equal(t, errs.Unavailable, errs.KindOf(err), "the same client's second slot")
	other, err := s.Take("203.0.113.2")
	require.NoError(t, err, "another client")
	other()
	release()
	again, err := s.Take("198.51.100.1")
	require.NoError(t, err, "after giving it back")
	again()
}

// lockedOwner adds name with a verified phone and locks the account with
// limit failures from as many clients.
func lockedOwner(t *testing.T, a Accounts, name string, limit int) {
	t.Helper()
	ctx := context.Background()
	verified := a.Now()
	require.NoError(t, a.Users.Insert(ctx, userKey(name), domain.User{ID: "u-" + name, Username: name, PhoneNumber: "+84909123456",
		PasswordHash: "hash:the right password", PhoneVerifiedAt: &verified}, nil))
	for i := range limit {
		_, _ = a.SignIn(ctx, SignInInput{Username: name, Password: "a guess", Client: fmt.Sprint("198.51.100.", i)})
	}
}

// TestALongPasswordOfWideCharactersSignsIn: sign-up counts a password's
// length in characters, as the OpenAPI document does; sign-in once counted
// bytes, so 70 two-byte characters (allowed) could never sign in.
func TestALongPasswordOfWideCharactersSignsIn(t *testing.T) {
	a, _ := signInAccounts(&slowHasher{})
	password := strings.Repeat("é", 70)
	require.True(t, a.Rules.Password.Fits(password), "a password sign-up takes")
	addUser(t, a, "erin", password)
	_, err := a.SignIn(context.Background(), SignInInput{Username: "erin", Password: password, Client: "c"})
	assert.NoError(t, err)
}
