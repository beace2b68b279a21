// Package adapters holds the provider fake's outbound doors.
package adapters

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/bankabc/vouchers/api/vpsapi"
	"github.com/bankabc/vouchers/kit/daprx"
)

// Callbacks retries while the caller is away, until Ctx ends.
type Callbacks struct {
	Ctx       context.Context
	Log       *slog.Logger
	Invoker   daprx.Invoker
	AppID     string
	Path      string
	Delivered func(requestID string)
}

const (
	callbackAttempts = 60
	callbackBackoff  = time.Second
)

func (c *Callbacks) Schedule(at time.Time, cb vpsapi.Callback) {
	time.AfterFunc(time.Until(at), func() { c.Deliver(cb) })
}

func (c *Callbacks) Deliver(cb vpsapi.Callback) {
	body, _ := json.Marshal(cb)
	for attempt := 1; attempt <= callbackAttempts; attempt++ {
		ctx, cancel := context.WithTimeout(c.Ctx, 5*time.Second)
		resp, err := c.Invoker.Invoke(ctx, c.AppID, http.MethodPost, c.Path, body, nil)
		cancel()
		switch {
		case err == nil && resp.Status < 300:
			c.Delivered(cb.RequestID)
			c.Log.Info("callback delivered", "purchase_id", cb.RequestID, "attempt", attempt)
			return
		case err == nil && resp.Status < 500 && resp.Status != http.StatusNotFound:
			// The caller refused it (401, 409): trying again changes nothing.
			c.Log.Warn("callback refused", "purchase_id", cb.RequestID, "status", resp.Status)
			return
		}
		select {
		case <-c.Ctx.Done():
			return
		case <-time.After(callbackBackoff):
		}
	}
	c.Log.Error("callback not delivered", "purchase_id", cb.RequestID, "attempts", callbackAttempts)
}
