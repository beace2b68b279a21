package adapters

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/metrics"
)

// A stand-in for the sidecar's invocation endpoint.
func TestProviderAnswers(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		delay    time.Duration
		wantCode string
		wantKind errs.Kind
		outcome  string // as the latency histogram records it
	}{
		{"code_within_budget", 200, `{"requestId":"r1","status":"SUCCESS","voucherCode":"AAAA-BBBB-CCCC"}`, 0, "AAAA-BBBB-CCCC", 0, "code"},
		{"acknowledgement_is_an_ack", 202, `{"requestId":"r1","status":"PENDING","codeChallenge":"abc","transformMethod":"S256"}`, 0, "", 0, "ack"},
		{"provider_5xx_is_unavailable_not_failed", 503, `{}`, 0, "", errs.Unavailable, "unavailable"},
		{"dapr_timeout_is_unavailable", 500, `{"errorCode":"ERR_DIRECT_INVOKE","message":"context deadline exceeded"}`, 0, "", errs.Unavailable, "timeout"},
		{"no_answer_within_budget_is_unavailable", 200, `{}`, 300 * time.Millisecond, "", errs.Unavailable, "timeout"},
		{"200_without_code_is_unavailable", 200, `{"status":"SUCCESS"}`, 0, "", errs.Unavailable, "unavailable"},
		{"refusal_is_invalid", 400, `{"detail":"bad phone"}`, 0, "", errs.Invalid, "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, "/v1.0/invoke/voucher-provider/method/api/request/voucher", r.URL.Path, "called path")
				assert.Equal(t, "r1", r.Header.Get("Idempotency-Key"), "Idempotency-Key of the call")
				select {
				case <-time.After(tt.delay):
				case <-r.Context().Done():
					return
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			m := metrics.NewProvider(prometheus.NewRegistry())
			p := Provider{Invoker: daprx.Invoker{SidecarURL: srv.URL}, AppID: "voucher-provider", Budget: 100 * time.Millisecond, Metrics: m}
			ans, err := p.Request(context.Background(), "r1", "+84909123456")
			assert.Equal(t, 1, testutil.CollectAndCount(m.Seconds), "want one call recorded as order/%s: series", tt.outcome)
			assert.Equal(t, uint64(1), samples(m, "order", tt.outcome), "want one call recorded as order/%s", tt.outcome)
			if tt.outcome == "ack" {
				assert.NoError(t, err)
				assert.Equal(t, "abc", ans.CodeChallenge, "answer %+v", ans)
				return
			}
			if tt.wantCode != "" {
				assert.NoError(t, err)
				assert.Equal(t, tt.wantCode, ans.VoucherCode, "answer %+v", ans)
				return
			}
			require.Error(t, err, "answer %+v", ans)
			assert.Equal(t, tt.wantKind, errs.KindOf(err), "err %v", err)
		})
	}
}

func TestProviderStatusOutcomes(t *testing.T) {
	tests := []struct {
		status  int
		outcome string
	}{{200, "found"}, {404, "not_found"}, {503, "unavailable"}}
	for _, tt := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(tt.status)
			_, _ = w.Write([]byte(`{"requestId":"r1","status":"PENDING"}`))
		}))
		m := metrics.NewProvider(prometheus.NewRegistry())
		p := Provider{Invoker: daprx.Invoker{SidecarURL: srv.URL}, AppID: "vps", Budget: time.Second, Metrics: m}
		_, _ = p.Status(context.Background(), "r1")
		srv.Close()
		assert.Equal(t, uint64(1), samples(m, "status", tt.outcome), "%d: not recorded as status/%s", tt.status, tt.outcome)
		assert.Equal(t, 1, testutil.CollectAndCount(m.Seconds), "%d: series recorded", tt.status)
	}
}

// samples is how many calls the histogram holds for one label pair.
func samples(m metrics.Provider, operation, outcome string) uint64 {
	var d dto.Metric
	_ = m.Seconds.WithLabelValues(operation, outcome).(prometheus.Histogram).Write(&d)
	return d.GetHistogram().GetSampleCount()
}
