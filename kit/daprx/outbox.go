package daprx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/persist"
	"github.com/bankabc/vouchers/kit/tracing"
)

// Outbox publishes events after their write commits. daprd's own outbox
// sleeps a second per message (docs/performance.md).
//
// The event's record is stored in the write's transaction, and the relay
// publishes any record left. A crash delays an event but never loses it;
// it may send it twice, and consumers are idempotent.
//
// Topics in Confirm keep their record until the consumer confirms, which
// repairs an event a broker lost after acknowledging it.
type Outbox struct {
	// Records must be the business data's store, to share its transaction.
	Records   Store[OutboxRecord]
	Deleter   StateDeleter
	Publisher Publisher
	Intents   *Schedule
	// After must outlast any write, or the relay drops an event in flight.
	After time.Duration
	// Confirm lists the topics whose consumer confirms.
	Confirm map[string]Confirmation
	NewID   func() string
	Log     *slog.Logger

	removals batcher[string]
	once     sync.Once
}

// OutboxClient is what an Outbox needs of the Dapr client.
type OutboxClient interface {
	StateClient
	StateDeleter
	EventPublisher
}

// NewOutbox returns the outbox of one state store; see Outbox.After for after.
func NewOutbox(c OutboxClient, store, pubsub, holder string, after time.Duration, log *slog.Logger) *Outbox {
	return &Outbox{
		Records:   Store[OutboxRecord]{Client: c, Name: store, TTL: 24 * time.Hour},
		Deleter:   c,
		Publisher: Publisher{Client: c, PubSub: pubsub},
		// Confirmed topics are added again up to a few minutes ahead.
		Intents: NewSchedule(c, store, "outbox", holder, 10*time.Minute).LogTo(log),
		After:   after,
		NewID:   httpx.NewID,
		Log:     log,
	}
}

// OutboxRecord is one event waiting for its publish.
type OutboxRecord struct {
	ID          string          `json:"id"`
	Topic       string          `json:"topic"`
	Type        string          `json:"type,omitempty"`
	Data        json.RawMessage `json:"data"`
	TraceParent string          `json:"traceparent,omitempty"`
	CreatedAt   time.Time       `json:"createdAt"`
	// Resent counts the relay's publishes of a confirmed topic's record.
	Resent int `json:"resent,omitempty"`
}

const maxConfirmWait = 24 * time.Hour

const maxResendDelay = 30 * time.Minute

func resendDelay(after time.Duration, resent int) time.Duration {
	d := after
	for range min(max(resent-1, 0), 16) {
		d *= 2
		if d >= maxResendDelay {
			return maxResendDelay
		}
	}
	return d
}

// Confirmation says when and how to ask a topic's consumer for confirmation.
type Confirmation struct {
	After     time.Duration
	Confirmer Confirmer
}

// Confirmer tells whether rec's consumer has done its work.
type Confirmer interface {
	Confirmed(ctx context.Context, rec OutboxRecord) (bool, error)
}

// StateDeleter removes records.
type StateDeleter interface {
	DeleteBulkState(ctx context.Context, storeName string, keys []string, meta map[string]string) error
}

// OutboxSummary counts what one relay pass did.
type OutboxSummary struct {
	SweepSummary
	Published, Confirmed int
}

func outboxKey(id string) string { return "outbox|" + id }

func (o *Outbox) record(ctx context.Context, ev *Event) (OutboxRecord, error) {
	if ev.Topic == "" {
		return OutboxRecord{}, fmt.Errorf("event of type %q has no topic", ev.Type)
	}
	data, err := json.Marshal(ev.Data)
	if err != nil {
		return OutboxRecord{}, fmt.Errorf("encode %s event: %w", ev.Topic, err)
	}
	return OutboxRecord{ID: o.NewID(), Topic: ev.Topic, Type: ev.Type, Data: data,
		TraceParent: tracing.Traceparent(ctx), CreatedAt: o.Intents.Now()}, nil
}

func (o *Outbox) intend(ctx context.Context, rec OutboxRecord) error {
	after := o.After
	if c, ok := o.Confirm[rec.Topic]; ok {
		after = max(after, c.After)
	}
	return o.Intents.Add(ctx, rec.ID, after)
}

// sent leaves a failed publish to the relay: the write itself succeeded.
func (o *Outbox) sent(ctx context.Context, rec OutboxRecord) {
	// The customer's request may end now; the publish should not.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := o.publish(ctx, rec); err != nil {
		o.Log.WarnContext(ctx, "event left to the outbox relay", "event_id", rec.ID, "topic", rec.Topic, "error", err)
		// The relay may have looked while the write was in flight.
		if err := o.Intents.Add(ctx, rec.ID, o.After); err != nil {
			o.Log.ErrorContext(ctx, "event left to the outbox relay not scheduled again; the redrive is its net",
				"event_id", rec.ID, "topic", rec.Topic, "error", err)
		}
		return
	}
	if _, ok := o.Confirm[rec.Topic]; !ok {
		o.remove(rec.ID)
	}
}

func (o *Outbox) publish(ctx context.Context, rec OutboxRecord) error {
	if sc, ok := tracing.Parse(rec.TraceParent); ok {
		ctx = tracing.With(ctx, sc) // the writer's trace, not the relay's
	}
	return o.Publisher.PublishRaw(ctx, rec.Topic, rec.Type, rec.ID, rec.Data)
}

// removalLinger lets deletes share a call at moderate load too: at 50
// purchases/s each was a call of its own. A record left a moment longer
// costs nothing; the relay looks at it only After its write.
const removalLinger = 100 * time.Millisecond

// remove batches deletes; a failed one only means one more publish.
func (o *Outbox) remove(id string) {
	o.once.Do(func() { o.removals.round, o.removals.linger = o.removeAll, removalLinger })
	o.removals.add(outboxKey(id))
}

func (o *Outbox) removeAll(keys []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.Deleter.DeleteBulkState(ctx, o.Records.Name, keys, nil); err != nil {
		o.Log.Warn("outbox records not removed; the relay publishes them again", "records", len(keys), "error", err)
	}
}

// Settle waits for queued removals (tests, shutdown).
func (o *Outbox) Settle() { o.removals.wait() }

// Relay publishes what writes that came due left unpublished or unconfirmed.
func (o *Outbox) Relay(ctx context.Context) (OutboxSummary, error) {
	var sum OutboxSummary
	// No record: it was published, or its transaction never committed.
	s, err := o.Intents.SweepEach(ctx, func(ctx context.Context, ids []string) []error {
		return persist.EachFound(ctx, o.Records, ids, outboxKey, func(ctx context.Context, id string, rec OutboxRecord) error {
			return o.relay(ctx, &sum, id, rec)
		})
	})
	sum.SweepSummary = s
	return sum, err
}

func (o *Outbox) relay(ctx context.Context, sum *OutboxSummary, id string, rec OutboxRecord) error {
	c, confirmed := o.Confirm[rec.Topic]
	if confirmed {
		done, err := c.Confirmer.Confirmed(ctx, rec)
		if err != nil {
			return err
		}
		if done {
			sum.Confirmed++
			o.remove(id)
			return nil
		}
		if age := o.Intents.Now().Sub(rec.CreatedAt); age > maxConfirmWait {
			o.Log.ErrorContext(ctx, "event never confirmed by its consumer: given up", "event_id", rec.ID,
				"topic", rec.Topic, "age", age.Round(time.Second).String(), "sends", rec.Resent+1)
			o.remove(id)
			return nil
		}
	}
	if err := o.publish(ctx, rec); err != nil {
		return err
	}
	sum.Published++
	o.Log.InfoContext(ctx, "outbox relay published", "event_id", rec.ID, "topic", rec.Topic,
		"age_ms", o.Intents.Now().Sub(rec.CreatedAt).Milliseconds())
	if confirmed {
		// Back off, so a consumer down for hours gets few sends.
		sent, err := o.Records.Update(ctx, outboxKey(id), func(r *OutboxRecord, exists bool) (*Event, error) {
			if !exists {
				return nil, ErrNoChange
			}
			r.Resent++
			return nil, nil
		})
		if err != nil {
			return err
		}
		return o.Intents.Add(ctx, id, resendDelay(c.After, sent.Resent))
	}
	o.remove(id)
	return nil
}

// Outboxes relays the outboxes of an app with several stores.
type Outboxes []*Outbox

// Relay relays each outbox; one that fails does not hold up the others.
func (os Outboxes) Relay(ctx context.Context) (OutboxSummary, error) {
	var sum OutboxSummary
	var errs []error
	for _, o := range os {
		s, err := o.Relay(ctx)
		sum.Seconds += s.Seconds
		sum.IDs += s.IDs
		sum.Held = sum.Held || s.Held
		sum.Published += s.Published
		sum.Confirmed += s.Confirmed
		if err != nil {
			errs = append(errs, fmt.Errorf("outbox of %s: %w", o.Records.Name, err))
		}
	}
	return sum, errors.Join(errs...)
}

// Settle waits for every outbox's queued removals.
func (os Outboxes) Settle() {
	for _, o := range os {
		o.Settle()
	}
}
