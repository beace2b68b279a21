package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEveryMetricOfOursIsPrefixedAndMoves(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := NewHTTP(reg)
	p := NewPurchases(reg)
	w := NewWebhooks(reg)
	d := NewDeadLetters(reg)
	v := NewProvider(reg)
	s := NewSMS(reg)
	sw := NewSweeps(reg)

	h.ObserveRequest("POST /voucher", "POST", 202, 15*time.Millisecond)
	p.Accepted()
	p.Finished("SUCCESS")
	w.Attempt(WebhookDelivered)
	d.DeadLetter("receive-code")
	v.ProviderCall("order", "code", 40*time.Millisecond)
	s.Sent("voucher")
	sw.Failed("reconcile", map[string]int{"unavailable": 1})

	for name, got := range map[string]float64{
		"requests": testutil.ToFloat64(h.RequestsTotal.WithLabelValues("POST /voucher", "POST", "202")),
		"accepted": testutil.ToFloat64(p.AcceptedTotal),
		"finished": testutil.ToFloat64(p.FinishedTotal.WithLabelValues("SUCCESS")),
		"webhooks": testutil.ToFloat64(w.AttemptsTotal.WithLabelValues("delivered")),
		"dead":     testutil.ToFloat64(d.Total.WithLabelValues("receive-code")),
		"sms":      testutil.ToFloat64(s.SentTotal.WithLabelValues("voucher")),
		"sweeps":   testutil.ToFloat64(sw.FailuresTotal.WithLabelValues("reconcile", "unavailable")),
	} {
		assert.Equal(t, float64(1), got, name)
	}
	fams, err := reg.Gather()
	require.NoError(t, err)
	assert.Len(t, fams, 9, "families")
	for _, f := range fams {
		assert.True(t, strings.HasPrefix(f.GetName(), Namespace+"_"), "%s: not under %s_", f.GetName(), Namespace)
		assert.NotEmpty(t, f.GetHelp(), "%s: without help", f.GetName())
	}
}

func TestMadeUpMethodsShareOneLabel(t *testing.T) {
	h := NewHTTP(prometheus.NewRegistry())
	for _, m := range []string{"FOO", "XYZ1", "BREW", "GET"} {
		h.ObserveRequest("unmatched", m, 404, time.Millisecond)
	}
	assert.Equal(t, 2, testutil.CollectAndCount(h.RequestsTotal), "series, want 2 (GET and OTHER)")
	assert.Equal(t, float64(3), testutil.ToFloat64(h.RequestsTotal.WithLabelValues("unmatched", "OTHER", "404")), "OTHER counted")
}
