package daprx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/dapr/go-sdk/service/common"
	daprhttp "github.com/dapr/go-sdk/service/http"
	"github.com/go-chi/chi/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/testkit"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type order struct{ N int }

func TestStoreInsertIsFirstWriteWins(t *testing.T) {
	s := Store[order]{Client: testkit.NewMemState(), Name: "s"}
	ctx := context.Background()
	require.NoError(t, s.Insert(ctx, "k", order{1}, nil))
	assert.ErrorIs(t, s.Insert(ctx, "k", order{2}, nil), ErrExists, "second insert")
	got, _, _ := s.Get(ctx, "k")
	assert.Equal(t, 1, got.N, "value, want the first write")
}

// plainConflicts reports a lost first write as a plain error, as some stores do.
type plainConflicts struct{ *testkit.MemState }

func (p plainConflicts) SaveBulkState(ctx context.Context, store string, items ...*dapr.SetStateItem) error {
	if err := p.MemState.SaveBulkState(ctx, store, items...); err != nil {
		return errors.New("failed to set key: script error")
	}
	return nil
}

// downStore fails every call.
type downStore struct{}

func (downStore) GetState(context.Context, string, string, map[string]string) (*dapr.StateItem, error) {
	return nil, errors.New("down")
}

func (downStore) GetBulkState(context.Context, string, []string, map[string]string, int32) ([]*dapr.BulkStateItem, error) {
	return nil, errors.New("down")
}

func (downStore) SaveBulkState(context.Context, string, ...*dapr.SetStateItem) error {
	return errors.New("down")
}

func (downStore) ExecuteStateTransaction(context.Context, string, map[string]string, []*dapr.StateOperation) error {
	return errors.New("down")
}

func TestStoreInsertConflictReportedAsPlainErrorIsExists(t *testing.T) {
	s := Store[order]{Client: plainConflicts{testkit.NewMemState()}, Name: "s"}
	ctx := context.Background()
	require.NoError(t, s.Insert(ctx, "k", order{1}, nil))
	assert.ErrorIs(t, s.Insert(ctx, "k", order{2}, nil), ErrExists, "second insert")
	failing := Store[order]{Client: downStore{}, Name: "s"}
	err := failing.Insert(ctx, "k", order{1}, nil)
	assert.NotErrorIs(t, err, ErrExists, "insert into a failing store")
	assert.Equal(t, errs.Unavailable, errs.KindOf(err), "insert into a failing store: %v, want unavailable", err)
}

func TestStoreInsertWithEventIsOneTransactionWithTheOutboxRecord(t *testing.T) {
	mem := testkit.NewMemState()
	ob := testOutbox(mem, "s")
	s := Store[order]{Client: mem, Name: "s", Outbox: ob}
	sms := events.SendSMS{MessageID: "m1", PhoneNumber: "+84909123456", Text: "hi"}
	require.NoError(t, s.Insert(context.Background(), "k", order{1}, &Event{Topic: events.TopicSendSMS, Data: sms, Type: events.TypeSendSMS}))
	require.Len(t, mem.Txns, 1)
	require.Len(t, mem.Txns[0], 2)
	assert.Equal(t, "k", mem.Txns[0][0].Item.Key)
	var rec OutboxRecord
	require.NoError(t, json.Unmarshal(mem.Txns[0][1].Item.Value, &rec))
	assert.Equal(t, "outbox|"+rec.ID, mem.Txns[0][1].Item.Key)
	assert.JSONEq(t, `{"messageId":"m1","phoneNumber":"+84909123456","text":"hi"}`, string(rec.Data))
	// Published after the commit, under the record's id, then removed.
	got := mem.Events(events.TopicSendSMS)
	require.Len(t, got, 1)
	assert.Equal(t, rec.ID, got[0].Meta["cloudevent.id"])
	ob.Settle()
	assert.False(t, mem.Has("outbox|"+rec.ID), "published record not removed")
}

func TestStoreWriteWithEventButNoOutboxFails(t *testing.T) {
	s := Store[order]{Client: testkit.NewMemState(), Name: "s"}
	err := s.Insert(context.Background(), "k", order{1}, &Event{Topic: events.TopicSendSMS, Data: 1})
	require.Error(t, err)
	other := testkit.NewMemState()
	s.Outbox = testOutbox(other, "another-store")
	require.Error(t, s.Insert(context.Background(), "k", order{1}, &Event{Topic: events.TopicSendSMS, Data: 1}),
		"an outbox of another store cannot share the transaction")
}

func TestStoreUpdateUnderConcurrencyLosesNoIncrement(t *testing.T) {
	s := Store[order]{Client: testkit.NewMemState(), Name: "s"}
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Update(ctx, "k", func(o *order, _ bool) (*Event, error) { o.N++; return nil, nil })
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	got, _, _ := s.Get(ctx, "k")
	assert.Equal(t, 10, got.N, "N")
}

// alwaysRaced loses every conditional write, like a key with many writers.
type alwaysRaced struct{ *testkit.MemState }

func (alwaysRaced) SaveBulkState(context.Context, string, ...*dapr.SetStateItem) error {
	return status.Error(codes.Aborted, "possible etag mismatch")
}

// A lost race is "try again" (503, a retry), never the caller's 409.
func TestStoreUpdateThatLosesEveryRaceIsUnavailable(t *testing.T) {
	s := Store[order]{Client: alwaysRaced{testkit.NewMemState()}, Name: "s"}
	_, err := s.Update(context.Background(), "k", func(o *order, _ bool) (*Event, error) { o.N++; return nil, nil })
	require.Error(t, err)
	assert.Equal(t, errs.Unavailable, errs.KindOf(err), "%v", err)
	assert.ErrorIs(t, err, ErrExists)
}

func TestStoreUpdateNoChangeWritesNothing(t *testing.T) {
	mem := testkit.NewMemState()
	s := Store[order]{Client: mem, Name: "s"}
	_, err := s.Update(context.Background(), "k", func(*order, bool) (*Event, error) { return nil, ErrNoChange })
	require.NoError(t, err)
	assert.Zero(t, mem.Len(), "ErrNoChange wrote")
}

func TestTopicAnswers(t *testing.T) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	type payload struct {
		ID string `json:"id"`
	}
	tests := []struct {
		name  string
		body  string
		err   error
		panic bool
		want  string
	}{
		{"handled_event_succeeds", `{"id":"e1","data":{"id":"r1"}}`, nil, false, statusSuccess},
		{"data_as_json_string_is_decoded", `{"id":"e1","data":"{\"id\":\"r1\"}"}`, nil, false, statusSuccess},
		{"unknown_data_field_is_dropped", `{"id":"e1","data":{"nope":1}}`, nil, false, statusDrop},
		{"missing_data_is_dropped", `{"id":"e1"}`, nil, false, statusDrop},
		{"invalid_event_is_dropped", `{"id":"e1","data":{"id":"r1"}}`, errs.E(errs.Invalid, "bad phone"), false, statusDrop},
		{"transient_failure_is_retried", `{"id":"e1","data":{"id":"r1"}}`, errs.E(errs.Unavailable, "store down"), false, statusRetry},
		{"unclassified_failure_is_retried", `{"id":"e1","data":{"id":"r1"}}`, errors.New("boom"), false, statusRetry},
		{"unprocessable_event_is_dropped", `{"id":"e1","data":{"id":"r1"}}`, errs.E(errs.Unprocessable, "wrong code"), false, statusDrop},
		{"too_large_event_is_dropped", `{"id":"e1","data":{"id":"r1"}}`, errs.E(errs.TooLarge, "body too large"), false, statusDrop},
		{"lost_etag_races_are_retried", `{"id":"e1","data":{"id":"r1"}}`, fmt.Errorf("update: %w", ErrExists), false, statusRetry},
		{"not_found_is_retried", `{"id":"e1","data":{"id":"r1"}}`, errs.E(errs.NotFound, "not there yet"), false, statusRetry},
		{"refused_by_a_peer_is_retried", `{"id":"e1","data":{"id":"r1"}}`, errs.E(errs.Forbidden, "refused"), false, statusRetry},
		{"busy_is_retried", `{"id":"e1","data":{"id":"r1"}}`, errs.Later(time.Second, "busy"), false, statusRetry},
		{"panic_is_retried", `{"id":"e1","data":{"id":"r1"}}`, nil, true, statusRetry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := served(t, TopicHandler(log, func(_ context.Context, _ Envelope, p payload) error {
				if tt.panic {
					panic("bug")
				}
				assert.Equal(t, "r1", p.ID, "data %+v", p)
				return tt.err
			}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/events/x", strings.NewReader(tt.body)))
			var got struct{ Status string }
			_ = json.Unmarshal(rec.Body.Bytes(), &got)
			assert.Equal(t, 200, rec.Code, "answer")
			assert.Equal(t, tt.want, got.Status, "answer")
		})
	}
}

// served is h on a go-sdk route, as kit/service.Routes registers it.
// Non-JSON envelopes, which daprd never sends, are the SDK's to answer.
func served(t *testing.T, h common.TopicEventHandler) http.Handler {
	t.Helper()
	mux := chi.NewRouter()
	require.NoError(t, daprhttp.NewServiceWithMux("", mux).AddTopicEventHandler(
		&common.Subscription{PubsubName: "pubsub", Topic: "x", Route: "/events/x"}, h))
	return mux
}

func TestIndexUnderConcurrentAddsAndRemoves(t *testing.T) {
	ix := Index{Store: Store[IndexShard]{Client: testkit.NewMemState(), Name: "s"}, Name: "pending", Shards: 4}
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := string(rune('a' + i))
			assert.NoError(t, ix.Add(ctx, id))
			if i%2 == 0 {
				assert.NoError(t, ix.Remove(ctx, id))
			}
		}()
	}
	wg.Wait()
	_ = ix.Add(ctx, "b") // already there
	all, err := ix.All(ctx)
	require.NoError(t, err)
	assert.Len(t, all, 20, "index ids, want the 20 odd ones")
}
