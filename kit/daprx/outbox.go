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

// Outbox publishes the events of state writes, once their transaction has
// committed, without daprd's outbox (which sleeps a second per message
// before forwarding it: docs/performance.md).
//
// A write with an event (Store.Insert or Store.Update returning one):
//  1. schedules the event's id for the relay (Intents, group-committed);
//  2. stores the business value and the event's record (outbox|<id>) in one
//     state transaction;
//  3. publishes the event right after the commit, then removes the record
//     (removals are batched, off the caller's path).
//
// The relay (a cron input binding) looks at each scheduled id once it is
// due: a record still there is published (again), and removed; no record
// means it was published and removed, or its transaction never committed.
// So a crash between the commit and the publish delays an event, never
// loses it; a crash after the publish may publish it twice, under the same
// event id, and every consumer is idempotent.
//
// Topics in Confirm keep their record after the publish until the consumer
// confirms it did the work: the relay asks, and publishes again while it has
// not. It repairs an event a broker lost after acknowledging the publish.
type Outbox struct {
	// Records is the store of the business data: the record must be in the
	// same transaction. Its TTL bounds how long an unpublished record waits
	// (at least BucketLife plus the longest delay).
	Records   Store[OutboxRecord]
	Deleter   StateDeleter
	Publisher Publisher
	Intents   *Schedule
	// After is how long after its transaction the relay looks at a record:
	// longer than any write takes, or the relay could find no record for a
	// transaction still on its way and drop it.
	After time.Duration
	// Confirm lists the topics whose consumer confirms.
	Confirm map[string]Confirmation
	NewID   func() string
	Log     *slog.Logger

	removals batcher[string]
	once     sync.Once
}

// OutboxClient is the part of the Dapr client an Outbox needs.
type OutboxClient interface {
	StateClient
	StateDeleter
	EventPublisher
}

// NewOutbox is the outbox of one state store, publishing through pubsub.
// holder names this replica in the relay's lease; after is how long after
// its transaction the relay looks at a record (see Outbox.After).
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

// maxConfirmWait is how long the relay keeps sending an event its consumer
// does not confirm.
const maxConfirmWait = 24 * time.Hour

// maxResendDelay caps the wait between two sends of an unconfirmed event.
const maxResendDelay = 30 * time.Minute

// resendDelay is after, doubled for each send the consumer has not
// confirmed, up to maxResendDelay.
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

// Confirmation is how a topic's consumer confirms the work of an event.
type Confirmation struct {
	// After is how long after a publish the relay asks.
	After     time.Duration
	Confirmer Confirmer
}

// Confirmer tells whether the consumer of rec's topic has done its work.
type Confirmer interface {
	Confirmed(ctx context.Context, rec OutboxRecord) (bool, error)
}

// StateDeleter is the part of the Dapr client that removes records.
type StateDeleter interface {
	DeleteBulkState(ctx context.Context, storeName string, keys []string, meta map[string]string) error
}

// OutboxSummary counts what one relay pass did.
type OutboxSummary struct {
	SweepSummary
	Published, Confirmed int
}

func outboxKey(id string) string { return "outbox|" + id }

// record builds the record of ev, stamped with the trace of ctx.
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

// intend schedules the relay's look at rec, before its transaction.
func (o *Outbox) intend(ctx context.Context, rec OutboxRecord) error {
	after := o.After
	if c, ok := o.Confirm[rec.Topic]; ok {
		after = max(after, c.After)
	}
	return o.Intents.Add(ctx, rec.ID, after)
}

// sent publishes rec right after its transaction committed. A failed
// publish is left to the relay: the write itself succeeded.
func (o *Outbox) sent(ctx context.Context, rec OutboxRecord) {
	// The customer's request may end now; the publish should not.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := o.publish(ctx, rec); err != nil {
		o.Log.WarnContext(ctx, "event left to the outbox relay", "event_id", rec.ID, "topic", rec.Topic, "error", err)
		// The relay may already have looked for this record while the
		// write was on its way, and dropped the intent: look again later.
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

// remove queues the removal of a published record: one bulk delete per
// round, off the caller's path. A removal that fails leaves the record to
// the relay, which publishes it once more.
func (o *Outbox) remove(id string) {
	o.once.Do(func() { o.removals.round = o.removeAll })
	o.removals.add(outboxKey(id))
}

func (o *Outbox) removeAll(keys []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.Deleter.DeleteBulkState(ctx, o.Records.Name, keys, nil); err != nil {
		o.Log.Warn("outbox records not removed; the relay publishes them again", "records", len(keys), "error", err)
	}
}

// Settle waits until the queued removals are done (tests, shutdown).
func (o *Outbox) Settle() { o.removals.wait() }

// Relay publishes what was left unpublished (or, for a confirmed topic,
// unconfirmed) by the writes whose relay time came.
func (o *Outbox) Relay(ctx context.Context) (OutboxSummary, error) {
	var sum OutboxSummary
	// The records of one second are read in one call; an id without one
	// was published and removed, or its transaction never committed.
	s, err := o.Intents.SweepEach(ctx, func(ctx context.Context, ids []string) []error {
		return persist.EachFound(ctx, o.Records, ids, outboxKey, func(ctx context.Context, id string, rec OutboxRecord) error {
			return o.relay(ctx, &sum, id, rec)
		})
	})
	sum.SweepSummary = s
	return sum, err
}

// relay publishes the record of id, still there when its time came.
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
		// Ask again later, backing off: a consumer that is down for
		// hours gets a few sends, not one every After.
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

// Outboxes relays several outboxes in one pass (an app with several stores).
type Outboxes []*Outbox

// Relay relays each outbox in turn; an outbox that fails does not hold up
// the others.
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
