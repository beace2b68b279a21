package ports

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDeadLettersAreKeptListedAndReplayed(t *testing.T) {
	e := newEnv(t)
	// As daprd delivers it, pubsubname included: go-sdk's topic handler
	// (v1.15.0) puts the subscription's pub/sub name in Topic when an event
	// has none, which daprd never sends.
	dead := `{"id":"ev-1","pubsubname":"pubsub","topic":"request-code","type":"com.bankabc.voucher.request-code.v1","data":{"requestId":"r1","phoneNumber":""}}`
	for range 2 { // redelivered: still one dead letter
		require.Contains(t, e.do("POST", "/events/dead-letter", dead, nil).Body.String(), "SUCCESS", "dead letter answer")
	}
	ops := map[string]string{"X-Ops-Token": "ops-secret"}
	for _, h := range []map[string]string{nil, {"X-Ops-Token": "guess"}} {
		assert.Equal(t, 401, e.do("GET", "/ops/dead-letters", "", h).Code, "without the operator token")
	}
	var list struct{ DeadLetters []struct{ ID, Topic string } }
	_ = json.Unmarshal(e.do("GET", "/ops/dead-letters", "", ops).Body.Bytes(), &list)
	require.Len(t, list.DeadLetters, 1, "list %+v", list)
	assert.Equal(t, "ev-1", list.DeadLetters[0].ID, "list %+v", list)
	assert.Equal(t, "request-code", list.DeadLetters[0].Topic, "list %+v", list)
	assert.Contains(t, e.logs.String(), `"event_id":"ev-1"`, "the dead letter was not logged with its event id")
	rec := e.do("POST", "/ops/dead-letters/ev-1/replay", "", ops)
	require.Equal(t, 200, rec.Code, "replay %s", rec.Body)
	assert.Equal(t, []string{`request-code {"requestId":"r1","phoneNumber":""}`}, e.published.sent, "published")
	_ = json.Unmarshal(e.do("GET", "/ops/dead-letters", "", ops).Body.Bytes(), &list)
	assert.Empty(t, list.DeadLetters, "replayed dead letter still listed")
	assert.Equal(t, 404, e.do("POST", "/ops/dead-letters/nope/replay", "", ops).Code, "unknown dead letter")
}
