package app

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/persist"
)

// DeadLetter is an event a subscriber dropped or failed every retry on.
type DeadLetter struct {
	ID         string // the CloudEvent id
	Topic      string
	DeadTopic  string
	Data       json.RawMessage
	ReceivedAt time.Time
	Replays    int
	ReplayedAt *time.Time
}

// DeadLetters keeps dead letters for an operator to list and replay.
type DeadLetters struct {
	Store     persist.Store[DeadLetter]
	Index     Set
	Publisher EventPublisher
	Now       func() time.Time
	// Metrics is nil for none.
	Metrics DeadLetterMetrics
}

// DeadLetterMetrics counts dead letters by their original topic.
type DeadLetterMetrics interface {
	DeadLetter(topic string)
}

func deadKey(id string) string { return "dead|" + id }

// deadSuffix names a topic's dead-letter topic (components/common).
const deadSuffix = "-dead"

// Keep records a dead letter once. daprd forwards the original CloudEvent,
// so topic is the one the event was first published to.
func (d DeadLetters) Keep(ctx context.Context, id, topic string, data json.RawMessage) error {
	if id == "" || topic == "" || strings.HasSuffix(topic, deadSuffix) {
		return errs.E(errs.Invalid, "dead letter without an id or an original topic (topic %q)", topic)
	}
	dl := DeadLetter{ID: id, Topic: topic, DeadTopic: topic + deadSuffix, Data: data, ReceivedAt: d.Now()}
	err := d.Store.Insert(ctx, deadKey(id), dl, nil)
	switch {
	case err == nil:
		if d.Metrics != nil {
			d.Metrics.DeadLetter(topic) // the first time only: redeliveries find it kept
		}
	case !errors.Is(err, persist.ErrExists):
		return err
	}
	return d.Index.Add(ctx, id)
}

// List returns the dead letters not replayed yet, oldest first.
func (d DeadLetters) List(ctx context.Context) ([]DeadLetter, error) {
	ids, err := d.Index.All(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]DeadLetter, 0, len(ids))
	for _, id := range ids {
		dl, found, err := d.Store.Get(ctx, deadKey(id))
		if err != nil {
			return nil, err
		}
		if found {
			out = append(out, dl)
		}
	}
	sortByReceived(out)
	return out, nil
}

func sortByReceived(dls []DeadLetter) {
	for i := 1; i < len(dls); i++ {
		for j := i; j > 0 && dls[j].ReceivedAt.Before(dls[j-1].ReceivedAt); j-- {
			dls[j], dls[j-1] = dls[j-1], dls[j]
		}
	}
}

// Replay publishes the data to its topic again. Consumers are idempotent,
// so replaying a handled event changes nothing.
func (d DeadLetters) Replay(ctx context.Context, id string) (DeadLetter, error) {
	dl, found, err := d.Store.Get(ctx, deadKey(id))
	if err != nil {
		return DeadLetter{}, err
	}
	if !found {
		return DeadLetter{}, errs.E(errs.NotFound, "no dead letter %q", id)
	}
	// The data as it was: it is the event's own, not a type of ours.
	if err := d.Publisher.Publish(ctx, dl.Topic, "", dl.Data); err != nil {
		return DeadLetter{}, errs.Wrap(errs.Unavailable, err, "replay could not be published")
	}
	dl, err = d.Store.Update(ctx, deadKey(id), func(cur *DeadLetter, _ bool) (*persist.Event, error) {
		now := d.Now()
		cur.Replays++
		cur.ReplayedAt = &now
		return nil, nil
	})
	if err != nil {
		return DeadLetter{}, err
	}
	return dl, d.Index.Remove(ctx, id)
}
