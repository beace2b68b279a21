package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBrowser walks the customer web page gateway serves at "/" in a real
// headless Chromium with a phone's screen, as a customer would: sign up, the
// SMS code, a purchase followed to its end, the voucher list, sign-out,
// sign-in, and a session that ends behind the page's back. Each step waits
// on what the page shows and leaves a screenshot in artifacts/browser/.
func TestBrowser(t *testing.T) {
	exe := chromiumPath(t)
	b := openBrowser(t, exe)

	username, phone := uniqueName("web"), uniquePhone(0) // 0: the provider answers at once

	b.step("open the page", time.Minute,
		chromedp.Navigate(sys.PublicURL("gateway")+"/"),
		chromedp.WaitVisible(chromedp.ID("sign-in-form")))
	b.expectJS("every input has a label",
		`[...document.querySelectorAll("input")].every((i) => i.labels.length > 0)`)
	b.expectJS("the page fits the phone's width (no sideways scrolling)",
		`document.documentElement.scrollWidth <= window.innerWidth`)
	b.shot("sign-in")

	b.step("sign up", time.Minute,
		chromedp.Click(chromedp.ID("to-sign-up")),
		chromedp.WaitVisible(chromedp.ID("sign-up-form")),
		chromedp.SendKeys(chromedp.ID("sign-up-username"), username),
		chromedp.SendKeys(chromedp.ID("sign-up-phone"), phone),
		chromedp.SendKeys(chromedp.ID("sign-up-password"), password),
		chromedp.Click(chromedp.ID("sign-up-submit")),
		chromedp.WaitVisible(chromedp.ID("verify-form")))
	b.expectText("verify-intro", phone)
	b.expectJS("the token is in sessionStorage, not in localStorage",
		`sessionStorage.getItem("vouchers.token") !== null && localStorage.length === 0`)
	b.shot("verify-phone")

	// The customer leaves before typing the code, and comes back.
	b.step("sign out before verifying", time.Minute,
		chromedp.Click(chromedp.ID("sign-out")),
		chromedp.WaitVisible(chromedp.ID("sign-in-form")))
	b.step("sign in before verifying", time.Minute,
		chromedp.SendKeys(chromedp.ID("sign-in-username"), username),
		chromedp.SendKeys(chromedp.ID("sign-in-password"), password),
		chromedp.Click(chromedp.ID("sign-in-submit")),
		chromedp.WaitVisible(chromedp.ID("verify-form")))
	b.expectText("verify-intro", "Enter the 6-digit code")

	code := newClient(t).smsCode(phone)
	b.step("type the SMS code", time.Minute,
		chromedp.SendKeys(chromedp.ID("verify-code"), code),
		chromedp.Click(chromedp.ID("verify-submit")),
		chromedp.WaitVisible(chromedp.ID("buy")))
	b.expectText("shop-phone", phone)
	b.expectText("notice", "verified")
	b.shot("verified")

	// Every status the page shows is recorded, to see it move live.
	b.eval(`(() => {
		const el = document.getElementById("purchase-status");
		window.seenStatuses = [];
		new MutationObserver(() => window.seenStatuses.push(el.textContent))
			.observe(el, { childList: true, characterData: true, subtree: true });
		return "";
	})()`)
	b.step("buy a voucher", time.Minute,
		chromedp.Click(chromedp.ID("buy")),
		chromedp.WaitVisible(chromedp.ID("purchase")))
	final := b.waitText("the purchase ends", "purchase-status", 2*time.Minute, `s !== "" && s !== "PROCESSING"`)
	if final != "SUCCESS" {
		b.shot("purchase-failed")
		t.Fatalf("the purchase ended %s, want SUCCESS (reason: %q)", final, b.text("purchase-reason"))
	}
	voucher := b.text("purchase-code")
	require.NotEmpty(t, voucher, "SUCCESS without a voucher code on the page")
	b.expectText("purchase-progress-text", "100")
	assert.Equal(t, "PROCESSING SUCCESS", b.eval(`[...new Set(window.seenStatuses)].join(" ")`),
		"the statuses the page showed, want PROCESSING, then SUCCESS")
	b.expectText("notice", voucher)
	b.shot("voucher-bought") // docs/img/web-purchase.png is a copy of this one

	b.step("refresh the voucher list", time.Minute, chromedp.Click(chromedp.ID("refresh")))
	b.waitText("the list is refreshed", "notice", time.Minute, `s.includes("up to date")`)
	b.waitText("the voucher is listed", "vouchers", time.Minute, "s.includes("+strconv.Quote(voucher)+")")
	b.shot("vouchers")

	b.step("sign out", time.Minute,
		chromedp.Click(chromedp.ID("sign-out")),
		chromedp.WaitVisible(chromedp.ID("sign-in-form")))
	b.expectText("notice", "signed out")
	b.expectJS("the token is gone, and the username with it", `sessionStorage.length === 0 && document.getElementById("sign-in-username").value === ""`)
	b.shot("signed-out")

	b.step("sign in again", time.Minute,
		chromedp.SendKeys(chromedp.ID("sign-in-username"), username),
		chromedp.SendKeys(chromedp.ID("sign-in-password"), password),
		chromedp.Click(chromedp.ID("sign-in-submit")),
		chromedp.WaitVisible(chromedp.ID("buy")))
	b.expectText("shop-phone", phone)
	b.waitText("the list is there after sign-in", "vouchers", time.Minute, "s.includes("+strconv.Quote(voucher)+")")
	b.shot("signed-in")

	// The session ends while the page is open (as after 10 idle minutes):
	// its next call gets 401 and the customer is back at sign-in.
	token := b.eval(`sessionStorage.getItem("vouchers.token") || ""`)
	api := newClient(t)
	api.token = token
	r := api.do("POST", "/user/sign-out", nil, nil)
	require.Equal(t, 204, r.Status, "sign-out behind the page: %s", r.Body)
	b.step("a call after the session ended", time.Minute,
		chromedp.Click(chromedp.ID("refresh")),
		chromedp.WaitVisible(chromedp.ID("sign-in-form")))
	b.expectText("error", "session has ended")
	b.expectJS("the token is gone", `sessionStorage.length === 0`)
	b.shot("session-ended")
}

// chromiumPath finds the browser: CHROMIUM, else chromium, chromium-browser
// or google-chrome on PATH. Without one the test is skipped.
func chromiumPath(t *testing.T) string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		path, err := exec.LookPath(p)
		require.NoError(t, err, "CHROMIUM=%s", p)
		return path
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Skip("no Chromium found: install it (Debian/Ubuntu: `apt-get install chromium`; `make test` does it when run as root) " +
		"or set CHROMIUM to a Chromium or Chrome binary")
	return ""
}

// browser is one tab of a headless Chromium, with what the test needs
// around it: screenshots, and the console's complaints.
type browser struct {
	t     *testing.T
	ctx   context.Context
	dir   string // screenshots
	shots int

	mu       sync.Mutex
	problems []string // errors and uncaught exceptions of the page
}

// openBrowser starts Chromium with a phone's screen (390x844) and a fresh
// profile; it stops with the test.
func openBrowser(t *testing.T, exe string) *browser {
	dir := filepath.Join(repoRoot, "e2e", "artifacts", "browser")
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	t.Logf("screenshots: %s", dir)

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// Without these, Chromium's own connections (updates, sync, QUIC
		// probes) are refused on a closed network and slow it down.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), // /dev/shm is small in containers
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(390, 844),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // waits for the browser to exit
	})

	// The first action starts the browser, which lives as long as ctx: it
	// is bounded by a timer, not by a context deadline.
	timer := time.AfterFunc(2*time.Minute, cancel)
	err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch))
	timer.Stop()
	require.NoError(t, err, "start Chromium (%s)", exe)

	b := &browser{t: t, ctx: ctx, dir: dir}
	require.NoError(t, chromedp.Listen(ctx, b.watchConsole))
	t.Cleanup(b.checkConsole) // before the browser stops; also after a failed step
	return b
}

// expectedRefusals are the API answers the browser logs as errors that the
// test provokes on purpose: 401, the session that ended behind the page's
// back. The steps check what the page shows for it.
var expectedRefusals = []string{"status of 401 (Unauthorized)"}

// watchConsole keeps the page's errors: uncaught exceptions and rejections,
// console.error, and the browser's own error log (a CSP violation, say).
func (b *browser) watchConsole(ev any) {
	var problem string
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		problem = "uncaught: " + d.Text
		if d.Exception != nil {
			problem += " " + d.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if e.Type != runtime.ConsoleAPICalledTypeError && e.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		var args []string
		for _, a := range e.Args {
			if a.Description != "" {
				args = append(args, a.Description)
			} else {
				args = append(args, string(a.Value))
			}
		}
		problem = "console." + string(e.Type) + ": " + strings.Join(args, " ")
	case *log.EventEntryAdded:
		en := e.Entry
		if en.Level != log.EntryLevelError {
			return
		}
		for _, r := range expectedRefusals {
			if en.Source == log.EntrySourceNetwork && strings.Contains(en.Text, r) {
				b.t.Logf("browser log (expected): %s %s", en.Text, en.URL)
				return
			}
		}
		problem = fmt.Sprintf("browser log (%s): %s %s", en.Source, en.Text, en.URL)
	default:
		return
	}
	b.mu.Lock()
	b.problems = append(b.problems, problem)
	b.mu.Unlock()
}

// checkConsole fails the test if the page reported an error. Events reach
// watchConsole before the answers of later commands, so once the last
// command is answered every one is in.
func (b *browser) checkConsole() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("the page reported an error: %s", p)
	}
}

// step runs actions within d, and fails the test with a screenshot of
// what the page showed if they do not complete.
func (b *browser) step(name string, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.failShot(name)
		b.t.Fatalf("%s: %v (page shows: %q)", name, err, b.visibleText())
	}
}

// waitText waits until the text of element id satisfies the JavaScript
// predicate pred (of s, the text), polling the page, and returns the text.
func (b *browser) waitText(what, id string, d time.Duration, pred string) string {
	b.t.Helper()
	expr := fmt.Sprintf(`((s) => %s)(%s)`, pred, textOf(id))
	ctx, cancel := context.WithTimeout(b.ctx, d+30*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(d)))
	if err != nil {
		b.failShot(what)
		b.t.Fatalf("%s: #%s shows %q after %s: %v (page shows: %q)", what, id, b.text(id), d, err, b.visibleText())
	}
	return b.text(id)
}

// textOf is the JavaScript for the text of element id ("" when it has none).
func textOf(id string) string {
	return fmt.Sprintf(`(document.getElementById(%s)?.textContent ?? "").trim()`, strconv.Quote(id))
}

// text is the text of element id as the page shows it ("" when it has none).
func (b *browser) text(id string) string {
	b.t.Helper()
	return b.eval(textOf(id))
}

func (b *browser) expectText(id, want string) {
	b.t.Helper()
	if got := b.text(id); !strings.Contains(got, want) {
		b.failShot("#" + id)
		b.t.Fatalf("#%s shows %q, want it to contain %q", id, got, want)
	}
}

// expectJS fails the test unless the expression is true on the page.
func (b *browser) expectJS(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
	require.NoError(b.t, err, what)
	if !ok {
		b.failShot(what)
		b.t.Fatalf("not so: %s (%s)", what, expr)
	}
}

// eval answers a string expression evaluated on the page.
func (b *browser) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	require.NoError(b.t, err, "evaluate %s", expr)
	return s
}

// visibleText is what the page shows, for failure messages.
func (b *browser) visibleText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	return strings.Join(strings.Fields(s), " ")
}

// shot writes a full-page screenshot as NN-name.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	b.shots++
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(b.t, err, "screenshot %s", name)
	require.NoError(b.t, os.WriteFile(filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.shots, name)), png, 0o644))
}

// failShot is a screenshot for a failing step, taken on a best-effort basis.
func (b *browser) failShot(what string) {
	b.shots++
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		name := strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
				return r
			}
			return '-'
		}, strings.ToLower(what))
		_ = os.WriteFile(filepath.Join(b.dir, fmt.Sprintf("%02d-failed-%s.png", b.shots, name)), png, 0o644)
	}
}
