package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAccountLifecycle: sign-up, the code from the SMS outbox, verify,
// purchase, sign-out, the old token refused, sign-in again.
func TestAccountLifecycle(t *testing.T) {
	c := newClient(t)
	phone, name := uniquePhone(0), uniqueName("life")
	c.signUpOnly(name, phone)
	r := c.do("POST", "/voucher", map[string]string{"phoneNumber": phone}, nil)
	require.Equal(t, http.StatusForbidden, r.Status, "purchase before verification: %s", r.Body)
	r = c.do("POST", "/user/phone/verify", map[string]string{"code": c.smsCode(phone)}, nil)
	require.Equal(t, http.StatusOK, r.Status, "verify: %s", r.Body)
	v := c.waitFinal(c.buy(phone, ""))
	require.Equal(t, "SUCCESS", v.Status, "purchase: %+v", v)
	old := c.token
	r = c.do("POST", "/user/sign-out", nil, nil)
	require.Equal(t, http.StatusNoContent, r.Status, "sign-out")
	r = c.do("GET", "/voucher?phoneNumber="+url.QueryEscape(phone), nil, nil)
	require.Equal(t, http.StatusUnauthorized, r.Status, "old token after sign-out")
	c.signIn(name)
	require.NotEqual(t, old, c.token, "sign-in gave back the revoked token")
	list := c.vouchers(phone)
	require.Len(t, list.Vouchers, 1, "vouchers after signing in again: %+v", list)
	assert.Equal(t, v.VoucherCode, list.Vouchers[0].VoucherCode, "vouchers after signing in again: %+v", list)
}

// TestIdleSessionEnds: SESSION_IDLE_TIMEOUT is sessionIdle in this suite
// (10 min in production). A session left alone past it is refused; one kept
// busy for longer is not.
func TestIdleSessionEnds(t *testing.T) {
	idle, busy := newClient(t), newClient(t)
	idlePhone, busyPhone := uniquePhone(0), uniquePhone(0)
	idle.signUp(uniqueName("idle"), idlePhone)
	busy.signUp(uniqueName("busy"), busyPhone)
	until := time.Now().Add(sessionIdle + time.Second)
	for time.Now().Before(until) {
		r := busy.do("GET", "/voucher?phoneNumber="+url.QueryEscape(busyPhone), nil, nil)
		require.Equal(t, http.StatusOK, r.Status, "busy session refused: %s", r.Body)
		time.Sleep(500 * time.Millisecond)
	}
	r := idle.do("GET", "/voucher?phoneNumber="+url.QueryEscape(idlePhone), nil, nil)
	assert.Equal(t, http.StatusUnauthorized, r.Status, "idle session: %s", r.Body)
	assert.Contains(t, string(r.Body), "session expired", "idle session")
}

// TestNoSecretsInTheSystemLog scans everything every app and sidecar printed
// so far for the secrets of one account's whole life.
func TestNoSecretsInTheSystemLog(t *testing.T) {
	c := newClient(t)
	phone := uniquePhone(0)
	c.signUpOnly(uniqueName("secret"), phone)
	code := c.smsCode(phone)
	c.do("POST", "/user/phone/verify", map[string]string{"code": code}, nil)
	var s struct{ Secret string }
	c.do("GET", "/user/webhook-secret", nil, nil).json(t, &s)
	hook := newReceiver(t, s.Secret, false)
	v := c.waitDelivered(c.buy(phone, hook.url))
	require.Equal(t, "DELIVERED", v.Delivery.Status, "delivery %+v", v.Delivery)
	b, err := os.ReadFile(filepath.Join(dataDir, "system.log"))
	require.NoError(t, err)
	log := string(b)
	if !strings.Contains(log, v.RequestID) {
		t.Fatal("the system log does not mention the purchase: the scan would prove nothing")
	}
	for name, secret := range map[string]string{"password": password, "code": code, "token": c.token, "webhook secret": s.Secret} {
		// As a word: six digits turn up by chance inside a timestamp's
		// nanoseconds or a hex id, which made a plain substring search
		// fail a run once.
		if secret == "" || regexp.MustCompile(`(^|[^0-9A-Za-z])`+regexp.QuoteMeta(secret)+`([^0-9A-Za-z]|$)`).MatchString(log) {
			t.Fatalf("the system log contains the %s (or it is empty)", name)
		}
	}
}

// TestParallelSignInsCannotOutguessTheLock: 60 wrong passwords for one
// username, all at once (issue 17 found all 60 checked, 48 of them
// answered 401). Tries are reserved before any hash: at most
// LOCK_AFTER_FAILURES (5) passwords are checked, and every other sign-in
// is refused at once (429 for the lock or the tries in progress, 503 when
// every hashing slot is taken). All are wrong: a success ends a lock
// window and starts the count again (with the right password among the
// guesses, a run on two gateways once checked 5 wrong ones and the right
// one).
func TestParallelSignInsCannotOutguessTheLock(t *testing.T) {
	c := newClient(t)
	name := uniqueName("guessed")
	c.signUp(name, uniquePhone(0))
	statuses := make(chan int, 60)
	var wg sync.WaitGroup
	for i := range 60 {
		pw := fmt.Sprint("wrong password number ", i)
		wg.Go(func() {
			r, err := newClient(t).try("POST", "/user/sign-in", map[string]string{"username": name, "password": pw}, nil)
			if assert.NoError(t, err) {
				statuses <- r.Status
			}
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	checked := count[http.StatusOK] + count[http.StatusUnauthorized]
	assert.LessOrEqual(t, checked, 5, "passwords checked: %v", count)
	assert.Equal(t, 60, checked+count[http.StatusTooManyRequests]+count[http.StatusServiceUnavailable], "other answers: %v", count)
}

// TestOwnerEndsEverySessionAndGetsBackIn: sign-out everywhere ends the
// sessions of every device; a password change ends them too and answers a
// new token; an unlock code sent by SMS to the verified phone signs the
// owner in (it lifts an account-wide lock, docs/security.md).
func TestOwnerEndsEverySessionAndGetsBackIn(t *testing.T) {
	c := newClient(t)
	name, phone := uniqueName("owner"), uniquePhone(0)
	c.signUp(name, phone)
	laptop := newClient(t)
	laptop.signIn(name)

	r := c.do("POST", "/user/sign-out-everywhere", nil, nil)
	require.Equal(t, http.StatusNoContent, r.Status, "sign-out everywhere: %s", r.Body)
	for who, cl := range map[string]*client{"this device": c, "the laptop": laptop} {
		r, err := cl.try("GET", "/user/me", nil, nil)
		require.NoError(t, err)
		assert.Equal(t, http.StatusUnauthorized, r.Status, "%s after sign-out everywhere", who)
	}

	c.signIn(name)
	laptop.signIn(name)
	const newPassword = "another long enough password"
	r = c.do("POST", "/user/password", map[string]string{"currentPassword": password, "newPassword": newPassword}, nil)
	require.Equal(t, http.StatusOK, r.Status, "password change: %s", r.Body)
	var tok struct{ AccessToken string }
	r.json(t, &tok)
	r, err := laptop.try("GET", "/user/me", nil, nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, r.Status, "the laptop after the password change")
	c.token = tok.AccessToken
	assert.Equal(t, http.StatusOK, c.do("GET", "/user/me", nil, nil).Status, "the new token")
	r = newClient(t).do("POST", "/user/sign-in", map[string]string{"username": name, "password": password}, nil)
	assert.Equal(t, http.StatusUnauthorized, r.Status, "the old password")

	// Someone guesses: the account locks for everyone (3 failures in
	// this suite), the owner included.
	for range 3 {
		_, _ = newClient(t).try("POST", "/user/sign-in", map[string]string{"username": name, "password": "a guess at it"}, nil)
	}
	r = newClient(t).do("POST", "/user/sign-in", map[string]string{"username": name, "password": newPassword}, nil)
	require.Equal(t, http.StatusTooManyRequests, r.Status, "the owner while the account is locked: %s", r.Body)
	assert.Contains(t, string(r.Body), "unlock-code", "the lock says how the owner gets in")
	r = newClient(t).do("POST", "/user/sign-in/unlock-code", map[string]string{"username": name}, nil)
	require.Equal(t, http.StatusAccepted, r.Status, "unlock code: %s", r.Body)
	r = newClient(t).do("POST", "/user/sign-in/unlock-code", map[string]string{"username": uniqueName("nobody")}, nil)
	assert.Equal(t, http.StatusAccepted, r.Status, "unlock code for nobody: the same answer")
	code := waitForCode(t, phone, "unlock-code")
	r = newClient(t).do("POST", "/user/sign-in", map[string]string{"username": name, "password": newPassword, "unlockCode": code}, nil)
	assert.Equal(t, http.StatusOK, r.Status, "sign-in with the unlock code: %s", r.Body)
}

// waitForCode waits for an SMS of kind (its message id's prefix) to phone
// and returns its code.
func waitForCode(t *testing.T, phone, kind string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		files, _ := filepath.Glob(filepath.Join(dataDir, "sms", phone+"_"+kind+"-*.txt"))
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil {
				if m := sixDigits.FindStringSubmatch(string(b)); m != nil {
					return m[1]
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s SMS for %s", kind, phone)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAnUnverifiedAccountSquatsNoNumber (issue 17): an account made with
// someone else's number and never verified blocks nobody: the number's
// holder signs up with it (the same 201 whether the number is taken or
// not), verifies with the code the phone got, and buys. A sign-up with a
// number another account verified is answered 201 too, and the number's
// owner gets a notice, not a code.
func TestAnUnverifiedAccountSquatsNoNumber(t *testing.T) {
	phone := uniquePhone(0)
	squatter := newClient(t)
	squatter.signUpOnly(uniqueName("squatter"), phone)
	// Texts arrive after the answer: the squatter's must be in before the
	// holder's can be told from it.
	newText(t, phone, "phone-code", nil)

	owner := newClient(t)
	before := textsTo(phone, "phone-code")
	owner.signUpOnly(uniqueName("holder"), phone)
	code := sixDigits.FindStringSubmatch(newText(t, phone, "phone-code", before))[1]
	r := owner.do("POST", "/user/phone/verify", map[string]string{"code": code}, nil)
	require.Equal(t, http.StatusOK, r.Status, "the holder verifies: %s", r.Body)
	final := owner.waitFinal(owner.buy(phone, ""))
	assert.Equal(t, "SUCCESS", final.Status, "the holder's purchase: %+v", final)

	late := newClient(t)
	before = textsTo(phone, "signup-notice")
	late.signUpOnly(uniqueName("late"), phone) // 201, as for a new number
	notice := newText(t, phone, "signup-notice", before)
	assert.NotRegexp(t, sixDigits, notice, "the owner's notice carries no code")
}

// textsTo is the set of texts of kind (their message id's prefix) sent to
// phone so far.
func textsTo(phone, kind string) map[string]bool {
	files, _ := filepath.Glob(filepath.Join(dataDir, "sms", phone+"_"+kind+"-*.txt"))
	seen := map[string]bool{}
	for _, f := range files {
		seen[f] = true
	}
	return seen
}

// newText waits for a text of kind to phone that is not in before, and
// returns it.
func newText(t *testing.T, phone, kind string, before map[string]bool) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		for f := range textsTo(phone, kind) {
			if !before[f] {
				if b, err := os.ReadFile(f); err == nil && len(b) > 0 {
					return string(b)
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new %s text to %s", kind, phone)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
