package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/vpsapi"
)

// callbacks delivers late codes to the caller's callback, through this
// app's sidecar (service invocation), retrying while the caller is away.
type callbacks struct {
	ctx       context.Context
	log       *slog.Logger
	invoker   daprx.Invoker
	appID     string
	path      string
	delivered func(requestID string)
}

const (
	callbackAttempts = 60
	callbackBackoff  = time.Second
)

func (c *callbacks) schedule(at time.Time, cb vpsapi.Callback) {
	time.AfterFunc(time.Until(at), func() { c.deliver(cb) })
}

func (c *callbacks) deliver(cb vpsapi.Callback) {
	body, _ := json.Marshal(cb)
	for attempt := 1; attempt <= callbackAttempts; attempt++ {
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		resp, err := c.invoker.Invoke(ctx, c.appID, http.MethodPost, c.path, body, nil)
		cancel()
		switch {
		case err == nil && resp.Status < 300:
			c.delivered(cb.RequestID)
			c.log.Info("callback delivered", "purchase_id", cb.RequestID, "attempt", attempt)
			return
		case err == nil && resp.Status < 500 && resp.Status != http.StatusNotFound:
			// The caller refused it (401, 409): trying again changes nothing.
			c.log.Warn("callback refused", "purchase_id", cb.RequestID, "status", resp.Status)
			return
		}
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(callbackBackoff):
		}
	}
	c.log.Error("callback not delivered", "purchase_id", cb.RequestID, "attempts", callbackAttempts)
}
