package adapters

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/kit/daprx"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/services/gateway/internal/purchase/app"
)

func TestVoucherListAsksForItsPage(t *testing.T) {
	var asked []string
	status := http.StatusOK
	// The sidecar, answering for voucher what it forwards to /vouchers.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1.0/invoke/voucher/method/vouchers", func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.RawQuery)
		switch status {
		case http.StatusOK:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"phoneNumber":"+84909123456","vouchers":[]}`))
		case http.StatusBadRequest:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"type":"https://vouchers.bank-abc.example/problems/invalid","title":"Bad Request","status":400,"detail":"cursor is not one this list gave: start again without it"}`))
		default:
			w.WriteHeader(status)
		}
	})
	sidecar := httptest.NewServer(mux)
	defer sidecar.Close()
	v := Vouchers{Invoker: daprx.Invoker{SidecarURL: sidecar.URL, HTTP: sidecar.Client()}, AppID: "voucher"}
	ctx := context.Background()

	list, err := v.ByPhone(ctx, "+84909123456", app.VoucherPage{})
	require.NoError(t, err)
	assert.JSONEq(t, `{"phoneNumber":"+84909123456","vouchers":[]}`, string(list))
	_, err = v.ByPhone(ctx, "+84909123456", app.VoucherPage{Limit: 20, Cursor: "djEuMy40"})
	require.NoError(t, err)
	assert.Equal(t, []string{"phoneNumber=%2B84909123456", "cursor=djEuMy40&limit=20&phoneNumber=%2B84909123456"}, asked)

	status = http.StatusBadRequest
	_, err = v.ByPhone(ctx, "+84909123456", app.VoucherPage{Cursor: "djEuOS45OQ"})
	assert.Equal(t, errs.Invalid, errs.KindOf(err), "a page voucher refuses: %v", err)
	assert.ErrorContains(t, err, "cursor is not one this list gave")
	status = http.StatusInternalServerError
	_, err = v.ByPhone(ctx, "+84909123456", app.VoucherPage{})
	assert.Equal(t, errs.Unavailable, errs.KindOf(err), "voucher failing: %v", err)
}

func TestStoredLetsVoucherHoldTheQuestion(t *testing.T) {
	var asked []string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1.0/invoke/voucher/method/vouchers/{id}", func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.PathValue("id")+"?"+r.URL.RawQuery)
		if r.PathValue("id") == "r1" {
			_, _ = w.Write([]byte(`{}`))
			return
		}
		w.WriteHeader(http.StatusNotFound)
	})
	sidecar := httptest.NewServer(mux)
	defer sidecar.Close()
	v := Vouchers{Invoker: daprx.Invoker{SidecarURL: sidecar.URL, HTTP: sidecar.Client()}, AppID: "voucher", Wait: 1500 * time.Millisecond}
	stored, err := v.Stored(context.Background(), "r1")
	require.NoError(t, err)
	assert.True(t, stored)
	stored, err = v.Stored(context.Background(), "r2")
	require.NoError(t, err)
	assert.False(t, stored)
	assert.Equal(t, []string{"r1?wait=1.5s", "r2?wait=1.5s"}, asked)
}
