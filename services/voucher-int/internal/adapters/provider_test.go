package adapters

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
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
	}{
		{"code_within_budget", 200, `{"requestId":"r1","status":"SUCCESS","voucherCode":"AAAA-BBBB-CCCC"}`, 0, "AAAA-BBBB-CCCC", 0},
		{"provider_5xx_is_unavailable_not_failed", 503, `{}`, 0, "", errs.Unavailable},
		{"dapr_timeout_is_unavailable", 500, `{"errorCode":"ERR_DIRECT_INVOKE","message":"context deadline exceeded"}`, 0, "", errs.Unavailable},
		{"no_answer_within_budget_is_unavailable", 200, `{}`, 300 * time.Millisecond, "", errs.Unavailable},
		{"200_without_code_is_unavailable", 200, `{"status":"SUCCESS"}`, 0, "", errs.Unavailable},
		{"refusal_is_invalid", 400, `{"detail":"bad phone"}`, 0, "", errs.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v1.0/invoke/voucher-provider/method/api/request/voucher" || r.Header.Get("Idempotency-Key") != "r1" {
					t.Errorf("called %s with key %q", r.URL.Path, r.Header.Get("Idempotency-Key"))
				}
				select {
				case <-time.After(tt.delay):
				case <-r.Context().Done():
					return
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			p := Provider{Invoker: daprx.Invoker{SidecarURL: srv.URL}, AppID: "voucher-provider", Budget: 100 * time.Millisecond}
			ans, err := p.Request(context.Background(), "r1", "+84909123456")
			if tt.wantCode != "" {
				if err != nil || ans.VoucherCode != tt.wantCode {
					t.Fatalf("answer %+v err %v", ans, err)
				}
				return
			}
			if err == nil || errs.KindOf(err) != tt.wantKind {
				t.Fatalf("err %v (kind %v), want kind %v", err, errs.KindOf(err), tt.wantKind)
			}
		})
	}
}
