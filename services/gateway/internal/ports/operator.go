package ports

import (
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/httpx"
	purchase "github.com/bankabc/vouchers/services/gateway/internal/purchase/app"
)

// Ops is what the operator endpoints need.
type Ops struct {
	DeadLetters purchase.DeadLetters
	// Token is the X-Ops-Token; empty turns /ops/ off.
	Token string
}

func operator(log *slog.Logger, token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("X-Ops-Token")
		if token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			httpx.WriteError(w, r, log, errs.E(errs.Unauthorized, "operator token missing or wrong (header X-Ops-Token)"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func handleListDeadLetters(log *slog.Logger, d purchase.DeadLetters) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		list, err := d.List(r.Context())
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		var views []deadLetterView
		if list != nil {
			views = make([]deadLetterView, len(list))
			for i, dl := range list {
				views[i] = deadLetterView(dl)
			}
		}
		httpx.Encode(w, http.StatusOK, map[string]any{"deadLetters": views})
	})
}

func handleReplayDeadLetter(log *slog.Logger, d purchase.DeadLetters) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dl, err := d.Replay(r.Context(), r.PathValue("id"))
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		log.WarnContext(r.Context(), "dead letter replayed", "event_id", dl.ID, "topic", dl.Topic, "replays", dl.Replays)
		httpx.Encode(w, http.StatusOK, deadLetterView(dl))
	})
}

type deadLetterView struct {
	ID         string          `json:"id"`
	Topic      string          `json:"topic"`
	DeadTopic  string          `json:"deadTopic"`
	Data       json.RawMessage `json:"data"`
	ReceivedAt time.Time       `json:"receivedAt"`
	Replays    int             `json:"replays"`
	ReplayedAt *time.Time      `json:"replayedAt,omitempty"`
}
