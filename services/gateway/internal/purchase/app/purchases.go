// Package app holds gateway's purchase use cases. It knows neither Dapr nor HTTP.
package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/kit/tracing"
	"github.com/bankabc/vouchers/kit/work"
	"github.com/bankabc/vouchers/services/gateway/internal/customer"
	"github.com/bankabc/vouchers/services/gateway/internal/purchase/domain"
)

// PurchaseInput is what the customer asks for.
type PurchaseInput struct {
	PhoneNumber string
	CallbackURL string
}

// VoucherList is the voucher service's answer, passed through as it is.
type VoucherList []byte

// VoucherPage asks for one page of a voucher list. The voucher service
// checks Limit and Cursor.
type VoucherPage struct {
	Limit  int
	Cursor string
}

// Vouchers asks the voucher service.
type Vouchers interface {
	ByPhone(ctx context.Context, phone string, page VoucherPage) (VoucherList, error)
	Stored(ctx context.Context, requestID string) (bool, error)
}

// Purchases accepts purchase requests and follows them to their outcome.
type Purchases struct {
	Requests   persist.Store[domain.Request]
	Vouchers   Vouchers
	Deliveries Deliveries
	// Callbacks refuses callbackUrls that reach internal addresses.
	Callbacks HostGuard
	// Texts bounds the codes sent by SMS for purchases without a callbackUrl.
	Texts *VoucherTexts
	// AllowHTTP accepts http:// callbackUrls, for local runs.
	AllowHTTP bool
	// Redrive schedules a second look at each new request.
	Redrive Redriver
	Now     func() time.Time
	NewID   func() string
	// LateAfter is how long the acknowledgement's promise holds.
	LateAfter time.Duration
	// Metrics is nil for none.
	Metrics PurchaseMetrics
	// Log, if set, notes each purchase accepted and finished.
	Log *slog.Logger
	// Backlog refuses purchases while too many here have no outcome.
	Backlog *Backlog
	// Work delivers off the handler, so the broker hands over the next
	// receive-code meanwhile. The redrive starts deliveries lost in a crash.
	Work *work.Pool
}

// PurchaseMetrics counts purchase requests.
type PurchaseMetrics interface {
	Accepted()
	Finished(status string)
}

// Redriver schedules later looks at requests and sweeps those due.
type Redriver interface {
	Track(ctx context.Context, requestID string) error
	Sweep(ctx context.Context) (RedriveSummary, error)
}

// HostGuard refuses hosts a webhook must not reach.
type HostGuard interface {
	CheckHost(ctx context.Context, host string) error
}

func requestKey(id string) string { return "request|" + id }

// Create stores the request and publishes request-code in one transaction.
// The same user and Idempotency-Key get the first request back; a different
// body with that key is refused.
func (p Purchases) Create(ctx context.Context, s customer.Session, in PurchaseInput, idempotencyKey string) (req domain.Request, replayed bool, err error) {
	ctx, span := tracing.Start(ctx, "accept purchase")
	defer func() { tracing.End(span, err) }()
	phone, err := customer.NormalizePhone(in.PhoneNumber)
	if err != nil {
		return domain.Request{}, false, err
	}
	if phone != s.PhoneNumber {
		return domain.Request{}, false, errs.E(errs.Forbidden, "you can only buy a voucher for your own phone number")
	}
	if !s.PhoneVerified {
		return domain.Request{}, false, ErrPhoneNotVerified
	}
	if in.CallbackURL != "" {
		if err := p.checkCallbackURL(ctx, in.CallbackURL); err != nil {
			return domain.Request{}, false, err
		}
		if err := p.Deliveries.Crowded(s.Username); err != nil {
			return domain.Request{}, false, err
		}
	}
	fp := fingerprint(phone, in.CallbackURL)
	id := p.NewID()
	if idempotencyKey != "" {
		// A derived id makes retries, even racing ones, land on one record.
		id = derivedID(s.UserID, idempotencyKey)
		if prev, found, err := p.replay(ctx, id, fp); found || err != nil {
			return prev, found, err
		}
	}
	if err := p.Backlog.Admit(ctx, id, s.UserID); err != nil {
		return domain.Request{}, false, err
	}
	if in.CallbackURL == "" {
		if err := p.Texts.Take(ctx, phone); err != nil {
			p.Backlog.Done(id)
			return domain.Request{}, false, err
		}
	}
	req, order := domain.Accept(domain.Request{RequestID: id, UserID: s.UserID, Username: s.Username, PhoneNumber: phone,
		CallbackURL: in.CallbackURL, Fingerprint: fp, TraceParent: tracing.Traceparent(ctx)}, p.Now())
	ev := &persist.Event{Topic: events.TopicRequestCode, Type: events.TypeRequestCode, Data: order}
	// Tracked before stored: a crash between leaves an entry the sweep skips.
	// The other order could leave a request nobody looks after.
	var track func(context.Context) error
	if p.Redrive != nil {
		track = func(ctx context.Context) error { return p.Redrive.Track(ctx, id) }
	}
	err = p.Requests.InsertAfter(ctx, requestKey(id), req, ev, track)
	if errors.Is(err, persist.ErrExists) && idempotencyKey != "" {
		prev, _, err := p.replay(ctx, id, fp)
		return prev, true, err
	}
	if err != nil {
		p.Backlog.Done(id)
		return domain.Request{}, false, err
	}
	if p.Metrics != nil {
		p.Metrics.Accepted()
	}
	if p.Log != nil {
		p.Log.InfoContext(ctx, "purchase accepted", "purchase_id", id, "callback", in.CallbackURL != "")
	}
	return req, false, nil
}

func (p Purchases) replay(ctx context.Context, id, fp string) (domain.Request, bool, error) {
	prev, found, err := p.Requests.Get(ctx, requestKey(id))
	if err != nil || !found {
		return domain.Request{}, false, err
	}
	if prev.Fingerprint != fp {
		return domain.Request{}, false, errs.E(errs.Unprocessable, "this Idempotency-Key was already used with a different request body")
	}
	return prev, true, nil
}

func derivedID(userID, key string) string {
	sum := sha256.Sum256([]byte(userID + "\x00" + key))
	return hex.EncodeToString(sum[:16])
}

func fingerprint(phone, callback string) string {
	sum := sha256.Sum256([]byte(phone + "\x00" + callback))
	return hex.EncodeToString(sum[:])
}

// checkCallbackURL's host check runs again at every delivery.
func (p Purchases) checkCallbackURL(ctx context.Context, raw string) error {
	// url.Parse lets some spaces through, but a URL pasted with one is wrong.
	if strings.ContainsFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return errs.E(errs.Invalid, "callbackUrl must not contain spaces or control characters")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil || len(raw) > 2048 {
		return errs.E(errs.Invalid, "callbackUrl must be an absolute http or https URL without credentials")
	}
	// url.Parse takes any digits as a port, and an empty one.
	if port := u.Port(); port != "" || strings.HasSuffix(u.Host, ":") {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return errs.E(errs.Invalid, "callbackUrl's port must be 1 to 65535")
		}
	}
	if u.Scheme != "https" && !p.AllowHTTP {
		return errs.E(errs.Invalid, "callbackUrl must be an https URL")
	}
	if p.Callbacks != nil {
		if err := p.Callbacks.CheckHost(ctx, u.Hostname()); err != nil {
			return errs.E(errs.Invalid, "%s", err.Error())
		}
	}
	return nil
}

// Promise is what req, still processing, says of itself now.
func (p Purchases) Promise(req domain.Request) (message string, retryAfter int) {
	return Promise(req, p.Now(), p.LateAfter)
}

// Get returns s's own request and its delivery. Others' requests are
// NotFound, so their ids cannot be probed.
func (p Purchases) Get(ctx context.Context, s customer.Session, id string) (domain.Request, *domain.Delivery, error) {
	req, found, err := p.Requests.Get(ctx, requestKey(id))
	if err != nil {
		return domain.Request{}, nil, err
	}
	if !found || req.UserID != s.UserID {
		return domain.Request{}, nil, errs.E(errs.NotFound, "no request %q", id)
	}
	d, err := p.Deliveries.Of(ctx, id)
	return req, d, err
}

// Complete records a receive-code's outcome once and starts the delivery. A
// success waits until voucher stored the code, so a customer who sees
// SUCCESS also finds it in the list.
func (p Purchases) Complete(ctx context.Context, ev events.ReceiveCode) error {
	if ev.Status == events.StatusSuccess || ev.Status == events.StatusLateSuccess {
		// voucher reads the same receive-code and is usually a moment
		// behind: it holds the question until it has stored the code.
		stored, err := p.Vouchers.Stored(ctx, ev.RequestID)
		if err != nil {
			return err
		}
		if !stored {
			return errs.E(errs.Unavailable, "voucher of %s not stored yet", ev.RequestID)
		}
	}
	recorded := false
	req, err := p.Requests.Update(ctx, requestKey(ev.RequestID), func(r *domain.Request, exists bool) (*persist.Event, error) {
		recorded = false
		if !exists {
			return nil, errs.E(errs.Invalid, "receive-code for unknown request %q", ev.RequestID)
		}
		next, changed, err := r.Finish(ev, p.Now())
		if err != nil {
			return nil, err
		}
		if !changed {
			return nil, persist.ErrNoChange // redelivered: the outcome is already recorded
		}
		*r, recorded = next, true
		return nil, nil
	})
	if err != nil {
		return err
	}
	p.Backlog.Done(ev.RequestID)
	if recorded {
		// Only the write that ended the request counts.
		if p.Metrics != nil {
			p.Metrics.Finished(string(req.Status))
		}
		if p.Log != nil {
			p.Log.InfoContext(ctx, "purchase finished", "purchase_id", req.RequestID, "status", req.Status,
				"after_ms", req.UpdatedAt.Sub(req.CreatedAt).Milliseconds())
		}
	}
	deliver := p.Deliveries.Ensure
	if recorded {
		deliver = p.Deliveries.Create // this write ended the request: no delivery yet
	}
	return p.Work.Hand(ctx, func(ctx context.Context) error { return deliver(ctx, req) },
		func(ctx context.Context, err error) {
			if p.Log != nil {
				p.Log.WarnContext(ctx, "delivery left to the redrive", "purchase_id", req.RequestID, "error", err)
			}
		})
}

// Finished tells the Backlog whether a request has its outcome. An unknown
// request is finished, since nothing will come of it.
func (p Purchases) Finished(ctx context.Context, requestID string) (bool, error) {
	r, found, err := p.Requests.Get(ctx, requestKey(requestID))
	if err != nil {
		return false, err
	}
	return !found || r.State != domain.StateProcessing, nil
}

// VouchersOf lists the vouchers of the caller's own phone number.
func (p Purchases) VouchersOf(ctx context.Context, s customer.Session, rawPhone string, page VoucherPage) (VoucherList, error) {
	phone, err := customer.NormalizePhone(rawPhone)
	if err != nil {
		return nil, err
	}
	if phone != s.PhoneNumber {
		return nil, errs.E(errs.Forbidden, "you can only list the vouchers of your own phone number")
	}
	if !s.PhoneVerified {
		return nil, ErrPhoneNotVerified
	}
	return p.Vouchers.ByPhone(ctx, phone, page)
}

// ErrPhoneNotVerified refuses purchases and lists until the phone is verified.
var ErrPhoneNotVerified = errs.E(errs.Forbidden, "verify your phone number first with the code we sent by SMS")
