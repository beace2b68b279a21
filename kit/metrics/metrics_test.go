package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestEveryMetricOfOursIsPrefixedAndMoves(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := NewHTTP(reg)
	p := NewPurchases(reg)
	w := NewWebhooks(reg)
	d := NewDeadLetters(reg)
	v := NewProvider(reg)
	s := NewSMS(reg)

	h.ObserveRequest("POST /voucher", "POST", 202, 15*time.Millisecond)
	p.Accepted()
	p.Finished("SUCCESS")
	w.Attempt(WebhookDelivered)
	d.DeadLetter("receive-code")
	v.ProviderCall("order", "code", 40*time.Millisecond)
	s.Sent("voucher")

	for name, got := range map[string]float64{
		"requests": testutil.ToFloat64(h.RequestsTotal.WithLabelValues("POST /voucher", "POST", "202")),
		"accepted": testutil.ToFloat64(p.AcceptedTotal),
		"finished": testutil.ToFloat64(p.FinishedTotal.WithLabelValues("SUCCESS")),
		"webhooks": testutil.ToFloat64(w.AttemptsTotal.WithLabelValues("delivered")),
		"dead":     testutil.ToFloat64(d.Total.WithLabelValues("receive-code")),
		"sms":      testutil.ToFloat64(s.SentTotal.WithLabelValues("voucher")),
	} {
		if got != 1 {
			t.Errorf("%s = %v, want 1", name, got)
		}
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) != 8 {
		t.Fatalf("%d families", len(fams))
	}
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), Namespace+"_") || f.GetHelp() == "" {
			t.Errorf("%s: not under %s_ or without help", f.GetName(), Namespace)
		}
	}
}

func TestMadeUpMethodsShareOneLabel(t *testing.T) {
	h := NewHTTP(prometheus.NewRegistry())
	for _, m := range []string{"FOO", "XYZ1", "BREW", "GET"} {
		h.ObserveRequest("unmatched", m, 404, time.Millisecond)
	}
	if n := testutil.CollectAndCount(h.RequestsTotal); n != 2 {
		t.Fatalf("%d series, want 2 (GET and OTHER)", n)
	}
	if got := testutil.ToFloat64(h.RequestsTotal.WithLabelValues("unmatched", "OTHER", "404")); got != 3 {
		t.Fatalf("OTHER counted %v, want 3", got)
	}
}
