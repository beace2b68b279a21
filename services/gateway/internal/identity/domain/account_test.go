package domain

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/kit/errs"
)

func TestTextRule(t *testing.T) {
	username := TextRule{Field: "username", Pattern: regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{2,31}$`), Says: "must be 3 to 32 characters"}
	password := TextRule{Field: "password", Min: 10, Max: 128, Says: "must be 10 to 128 characters"}
	cases := []struct {
		name string
		rule TextRule
		v    string
		fits bool
	}{
		{"a username", username, "alice", true},
		{"upper case", username, "Alice", false},
		{"a key separator", username, "ali|ce", false},
		{"too short a username", username, "al", false},
		{"a password", password, "long enough pw", true},
		{"too short a password", password, "short", false},
		{"the shortest", password, "0123456789", true},
		{"the longest, counted in characters", password, string(make([]rune, 128)), true},
		{"one character too long", password, string(make([]rune, 129)), false},
		{"ten characters of two bytes each", password, "éééééééééé", true},
	}
	for _, c := range cases {
		assert.Equal(t, c.fits, c.rule.Fits(c.v), c.name)
		err := c.rule.Check(c.v)
		if c.fits {
			assert.NoError(t, err, c.name)
			continue
		}
		assert.Equal(t, errs.Invalid, errs.KindOf(err), c.name)
		assert.EqualError(t, err, c.rule.Field+" "+c.rule.Says, "%s: the rule in words", c.name)
	}
}

func TestNormalizePhone(t *testing.T) {
	cases := []struct {
		raw, want string
		ok        bool
	}{
		{"0909123456", "+84909123456", true},
		{"+84 909 123 456", "+84909123456", true},
		{"", "", false},
		{"12", "", false},
		{"not a number", "", false},
		{"+8490912345678901234567890123456789", "", false},
	}
	for _, c := range cases {
		got, err := NormalizePhone(c.raw)
		if !c.ok {
			assert.Equal(t, errs.Invalid, errs.KindOf(err), "%q", c.raw)
			continue
		}
		require.NoError(t, err, c.raw)
		assert.Equal(t, c.want, got, c.raw)
	}
}

func TestPhoneClaim(t *testing.T) {
	verified := t0
	owner := User{Username: "alice", PhoneNumber: "+84909123456", PhoneVerifiedAt: &verified}
	unverified := User{Username: "alice", PhoneNumber: "+84909123456"}
	fresh := PhoneClaim{Username: "alice", ClaimedAt: t0}
	old := t0.Add(ClaimAbandonedAfter)
	t.Run("holds", func(t *testing.T) {
		cases := []struct {
			name  string
			owner User
			found bool
			now   time.Time
			holds bool
		}{
			{"its account verified the number", owner, true, old, true},
			{"a fresh claim: the verification may be halfway", unverified, true, t0.Add(time.Second), true},
			{"abandoned: never verified", unverified, true, old, false},
			{"abandoned: the account is gone", User{}, false, old, false},
			{"the account moved to another number", User{Username: "alice", PhoneNumber: "+84909000000", PhoneVerifiedAt: &verified}, true, old, false},
		}
		for _, c := range cases {
			assert.Equal(t, c.holds, fresh.Holds(c.owner, c.found, "+84909123456", c.now), c.name)
		}
	})
	t.Run("take", func(t *testing.T) {
		cases := []struct {
			name           string
			claim          PhoneClaim
			exists, holds  bool
			changed        bool
			wantErr        error
			wantUsername   string
			wantClaimedNow bool
		}{
			{"no claim yet", PhoneClaim{}, false, false, true, nil, "bob", true},
			{"its own claim again", PhoneClaim{Username: "bob", ClaimedAt: t0}, true, true, false, nil, "bob", false},
			{"another's claim that stands", fresh, true, true, false, ErrPhoneTaken, "alice", false},
			{"another's abandoned claim", fresh, true, false, true, nil, "bob", true},
		}
		now := t0.Add(time.Hour)
		for _, c := range cases {
			got, changed, err := c.claim.Take("bob", c.exists, c.holds, now)
			assert.ErrorIs(t, err, c.wantErr, c.name)
			assert.Equal(t, c.changed, changed, c.name)
			assert.Equal(t, c.wantUsername, got.Username, c.name)
			assert.Equal(t, c.wantClaimedNow, got.ClaimedAt.Equal(now), c.name)
		}
	})
}

func TestUserVerifyPhone(t *testing.T) {
	u, changed := User{}.VerifyPhone(t0)
	require.True(t, changed)
	require.NotNil(t, u.PhoneVerifiedAt)
	again, changed := u.VerifyPhone(t0.Add(time.Hour))
	assert.False(t, changed, "verified twice")
	assert.Equal(t, t0, *again.PhoneVerifiedAt, "the first verification's time stays")
}

func TestSessionLife(t *testing.T) {
	idle := 10 * time.Minute // slides every 30 s
	s := NewSession("s1", User{ID: "u1", Username: "alice", PhoneNumber: "+84909123456"}, t0)
	assert.False(t, s.PhoneVerified, "a new account's session")
	cases := []struct {
		name      string
		session   Session
		after     time.Duration
		live      bool
		slides    bool
		wantEnded bool
	}{
		{"just started", s, 0, true, false, false},
		{"within the slide interval: no write", s, 29 * time.Second, true, false, false},
		{"past the slide interval: written", s, 31 * time.Second, true, true, false},
		{"at the idle timeout", s, idle, true, true, false},
		{"past the idle timeout", s, idle + time.Second, false, true, false},
		{"signed out", Session{ID: "s1"}, time.Second, false, false, true},
	}
	for _, c := range cases {
		now := t0.Add(c.after)
		assert.Equal(t, c.live, c.session.Live(now, idle), "%s: live", c.name)
		slid, slides := c.session.Slide(now, idle)
		assert.Equal(t, c.slides, slides, "%s: slides", c.name)
		if slides {
			assert.Equal(t, now, slid.LastSeen, c.name)
		}
		_, ended := c.session.End()
		assert.Equal(t, !c.wantEnded, ended, "%s: End changes it", c.name)
	}
	assert.Equal(t, 5*time.Second, SlideEvery(100*time.Second), "a twentieth of a short timeout")
	assert.Equal(t, 30*time.Second, SlideEvery(time.Hour), "at most 30 s")

	ended, _ := s.End()
	assert.False(t, ended.Live(t0, idle), "signed out, at once")
	_, slides := ended.Slide(t0.Add(time.Hour), idle)
	assert.False(t, slides, "a request does not bring a signed-out session back")
	_, err := ended.MarkPhoneVerified()
	assert.ErrorIs(t, err, ErrSessionEnded, "verified on a signed-out session")
	v, err := s.MarkPhoneVerified()
	require.NoError(t, err)
	assert.True(t, v.PhoneVerified)
}

func TestSessionList(t *testing.T) {
	ref := func(i int, at time.Time) SessionRef { return SessionRef{ID: fmt.Sprint("s", i), CreatedAt: at} }
	t.Run("old sessions are forgotten", func(t *testing.T) {
		l := SessionList{Sessions: []SessionRef{ref(1, t0), ref(2, t0.Add(23*time.Hour))}}
		got, evicted := l.Add(ref(3, t0.Add(25*time.Hour)), 24*time.Hour)
		assert.Empty(t, evicted, "a forgotten session is past its token's life: nothing to end")
		assert.Equal(t, []SessionRef{ref(2, t0.Add(23*time.Hour)), ref(3, t0.Add(25*time.Hour))}, got.Sessions)
		assert.Len(t, l.Sessions, 2, "the list added to is unchanged")
	})
	t.Run("past the cap the oldest are ended", func(t *testing.T) {
		var l SessionList
		var evicted []string
		for i := range MaxSessions + 2 {
			var out []string
			l, out = l.Add(ref(i, t0.Add(time.Duration(i)*time.Second)), 24*time.Hour)
			evicted = append(evicted, out...)
		}
		assert.Equal(t, []string{"s0", "s1"}, evicted)
		assert.Len(t, l.Sessions, MaxSessions)
		assert.Equal(t, "s2", l.Sessions[0].ID)
	})
	t.Run("without", func(t *testing.T) {
		l := SessionList{Sessions: []SessionRef{ref(1, t0), ref(2, t0), ref(3, t0)}}
		got := l.Without(map[string]bool{"s1": true, "s3": true})
		assert.Equal(t, []SessionRef{ref(2, t0)}, got.Sessions, "a session started meanwhile stays")
		assert.Len(t, l.Sessions, 3, "unchanged")
	})
}

func TestLockRules(t *testing.T) {
	r := LockRules{MaxFailures: 3, Lock: time.Minute, MaxLock: 3 * time.Minute}
	until := t0.Add(30 * time.Second)
	t.Run("reserve", func(t *testing.T) {
		cases := []struct {
			name    string
			st      Strikes
			wantErr error
			pending int
		}{
			{"a first try", Strikes{}, nil, 1},
			{"failures and tries in progress below the bound", Strikes{Failures: 1, Pending: []time.Time{until}}, nil, 2},
			{"failures and tries in progress at the bound", Strikes{Failures: 1, Pending: []time.Time{until, until}}, ErrBusy, 2},
			{"a lapsed try no longer counts", Strikes{Failures: 2, Pending: []time.Time{t0.Add(-time.Second)}}, nil, 1},
			{"locked", Strikes{LockedUntil: t0.Add(time.Minute)}, nil, 0},
		}
		for _, c := range cases {
			got, err := r.Reserve(c.st, t0, until)
			switch {
			case c.name == "locked":
				assert.Equal(t, errs.TooManyRequests, errs.KindOf(err), c.name)
				assert.Equal(t, time.Minute, errs.RetryAfterOf(err), c.name)
			case c.wantErr != nil:
				assert.ErrorIs(t, err, c.wantErr, c.name)
			default:
				assert.NoError(t, err, c.name)
			}
			assert.Len(t, got.Pending, c.pending, c.name)
		}
	})
	t.Run("failures lock, each lock twice the last, capped", func(t *testing.T) {
		var st Strikes
		var locks []time.Duration
		now := t0
		for range 4 * r.MaxFailures {
			var lock time.Duration
			st, lock = r.Fail(st, time.Time{}, now)
			if lock > 0 {
				locks = append(locks, lock)
				assert.Equal(t, now.Add(lock), st.LockedUntil)
				assert.Zero(t, st.Failures, "the count starts again after a lock")
				now = st.LockedUntil // the next tries come once it ends
			}
		}
		assert.Equal(t, []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute, 3 * time.Minute}, locks)
		assert.Equal(t, 4, st.Locks)
	})
	t.Run("failures landing during a lock are answered by it and double nothing", func(t *testing.T) {
		var st Strikes
		for range r.MaxFailures {
			st, _ = r.Fail(st, time.Time{}, t0)
		}
		require.Equal(t, t0.Add(time.Minute), st.LockedUntil)
		for range 50 { // tries checked in parallel with the one that locked
			var lock time.Duration
			st, lock = r.Fail(st, until, t0.Add(10*time.Second))
			assert.Equal(t, 50*time.Second, lock, "what is left of the lock")
		}
		assert.Equal(t, t0.Add(time.Minute), st.LockedUntil, "the lock did not grow")
		assert.Equal(t, 1, st.Locks)
		assert.Zero(t, st.Failures)
	})
	t.Run("settling", func(t *testing.T) {
		st, err := r.Reserve(Strikes{Failures: 2}, t0, until)
		require.NoError(t, err)
		ok := st.Succeed(until)
		assert.Zero(t, ok.Failures, "a success forgets the failures")
		assert.Empty(t, ok.Pending, "and the try")
		settled := st.Settle(until)
		assert.Empty(t, settled.Pending, "an abandoned try is forgotten")
		assert.Equal(t, 2, settled.Failures, "and counts neither way")
		failed, lock := r.Fail(st, until, t0)
		assert.Empty(t, failed.Pending, "a failed try is settled")
		assert.Equal(t, time.Minute, lock, "the third failure locks")
		assert.NoError(t, failed.Lift().Locked(t0), "lifted")
		assert.Error(t, failed.Locked(t0), "locked")
	})
	assert.Equal(t, errs.TooManyRequests, errs.KindOf(LockError(time.Minute, errs.E(errs.Unauthorized, "wrong"))), "a lock is said over the cause")
	assert.Equal(t, errs.Unauthorized, errs.KindOf(LockError(0, errs.E(errs.Unauthorized, "wrong"))), "no lock: the cause")
}

func TestPhoneCode(t *testing.T) {
	const maxTries = 3
	live := PhoneCode{}.Replace("u1", "123456", t0, 5*time.Minute)
	assert.Equal(t, 1, live.Seq)
	assert.NotContains(t, live.Hash, "123456", "only the code's hash is kept")
	tried := live
	tried.Tries = maxTries
	used := live
	used.Used = true
	cases := []struct {
		name     string
		pc       PhoneCode
		exists   bool
		code     string
		after    time.Duration
		wantKind errs.Kind
		changed  bool
		check    func(t *testing.T, got PhoneCode)
	}{
		{"right", live, true, "123456", time.Minute, 0, true, func(t *testing.T, got PhoneCode) { assert.True(t, got.Used) }},
		{"wrong: a try spent", live, true, "654321", time.Minute, errs.Unprocessable, true, func(t *testing.T, got PhoneCode) { assert.Equal(t, 1, got.Tries) }},
		{"the right code of another account", live, true, "123456", time.Minute, 0, true, nil},
		{"expired", live, true, "123456", 6 * time.Minute, errs.Unprocessable, false, nil},
		{"none sent", PhoneCode{}, false, "123456", 0, errs.Unprocessable, false, nil},
		{"used already", used, true, "123456", time.Minute, errs.Unprocessable, false, nil},
		{"no tries left, even the right code", tried, true, "123456", time.Minute, errs.Unprocessable, false, nil},
	}
	for _, c := range cases {
		user := "u1"
		if c.name == "the right code of another account" {
			user, c.wantKind, c.changed = "u2", errs.Unprocessable, true
		}
		got, changed, err := c.pc.Check(c.exists, user, c.code, t0.Add(c.after), maxTries)
		assert.Equal(t, c.wantKind, errs.KindOf(err), "%s: %v", c.name, err)
		assert.Equal(t, c.changed, changed, c.name)
		if c.check != nil {
			c.check(t, got)
		}
	}
	assert.True(t, live.Live(t0.Add(time.Minute), maxTries))
	assert.False(t, used.Live(t0.Add(time.Minute), maxTries), "used")
	assert.False(t, tried.Live(t0.Add(time.Minute), maxTries), "tried out")
	assert.False(t, live.Live(t0.Add(5*time.Minute), maxTries), "expired")

	err := live.CoolingDown(t0.Add(20*time.Second), time.Minute)
	assert.Equal(t, errs.TooManyRequests, errs.KindOf(err), "within the cool-down")
	assert.Equal(t, 40*time.Second, errs.RetryAfterOf(err))
	assert.NoError(t, live.CoolingDown(t0.Add(time.Minute), time.Minute), "after it")
	assert.Equal(t, 2, live.Replace("u1", "000000", t0, time.Minute).Seq, "a replacement has the next number")
}

var t0 = time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
