package ports

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDeadLettersAreKeptListedAndReplayed(t *testing.T) {
	e := newEnv(t)
	dead := `{"id":"ev-1","topic":"request-code","type":"com.bankabc.voucher.request-code.v1","data":{"requestId":"r1","phoneNumber":""}}`
	for range 2 { // redelivered: still one dead letter
		if rec := e.do("POST", "/events/dead-letter", dead, nil); !strings.Contains(rec.Body.String(), "SUCCESS") {
			t.Fatalf("dead letter answer %s", rec.Body)
		}
	}
	ops := map[string]string{"X-Ops-Token": "ops-secret"}
	for _, h := range []map[string]string{nil, {"X-Ops-Token": "guess"}} {
		if rec := e.do("GET", "/ops/dead-letters", "", h); rec.Code != 401 {
			t.Fatalf("without the operator token: %d", rec.Code)
		}
	}
	var list struct{ DeadLetters []struct{ ID, Topic string } }
	_ = json.Unmarshal(e.do("GET", "/ops/dead-letters", "", ops).Body.Bytes(), &list)
	if len(list.DeadLetters) != 1 || list.DeadLetters[0].ID != "ev-1" || list.DeadLetters[0].Topic != "request-code" {
		t.Fatalf("list %+v", list)
	}
	if !strings.Contains(e.logs.String(), `"event_id":"ev-1"`) {
		t.Fatal("the dead letter was not logged with its event id")
	}
	rec := e.do("POST", "/ops/dead-letters/ev-1/replay", "", ops)
	if rec.Code != 200 || len(e.published.sent) != 1 || e.published.sent[0] != `request-code {"requestId":"r1","phoneNumber":""}` {
		t.Fatalf("replay %d %s, published %v", rec.Code, rec.Body, e.published.sent)
	}
	_ = json.Unmarshal(e.do("GET", "/ops/dead-letters", "", ops).Body.Bytes(), &list)
	if len(list.DeadLetters) != 0 {
		t.Fatalf("replayed dead letter still listed: %+v", list)
	}
	if rec := e.do("POST", "/ops/dead-letters/nope/replay", "", ops); rec.Code != 404 {
		t.Fatalf("unknown dead letter: %d", rec.Code)
	}
}
