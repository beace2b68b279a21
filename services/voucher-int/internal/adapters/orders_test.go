package adapters

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/services/voucher-int/internal/domain"
)

// An order as stores hold it today must read back and write back the same.
func TestStoredOrderKeepsItsShape(t *testing.T) {
	for name, stored := range map[string]string{
		"acknowledged": `{"requestId":"r1","phoneNumber":"+84909123455","status":"PENDING","requestedAt":"2026-11-29T09:00:00Z","createdAt":"2026-11-29T09:00:00.1Z","updatedAt":"2026-11-29T09:00:03Z","deadline":"2026-11-29T09:02:00Z","codeChallenge":"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM","transformMethod":"S256","nextCheckAt":"2026-11-29T09:00:02Z","claimedUntil":"0001-01-01T00:00:00Z","checks":0,"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`,
		"completed":    `{"requestId":"r2","phoneNumber":"+84909123450","status":"LATE_SUCCESS","voucherCode":"7KQ2-MX9D-4HTP","requestedAt":"2026-11-29T09:00:00Z","createdAt":"2026-11-29T09:00:00Z","updatedAt":"2026-11-29T09:00:31Z","deadline":"2026-11-29T09:02:00Z","via":"callback","nextCheckAt":"2026-11-29T09:00:02Z","claimedBy":"a1","claimedUntil":"2026-11-29T09:00:09Z","checks":2}`,
		"failed":       `{"requestId":"r3","phoneNumber":"+84909123459","status":"FAILED","reason":"no voucher code from the provider within 2m0s","requestedAt":"2026-11-29T09:00:00Z","createdAt":"2026-11-29T09:00:00Z","updatedAt":"2026-11-29T09:02:01Z","deadline":"2026-11-29T09:02:00Z","nextCheckAt":"2026-11-29T09:02:03Z","claimedUntil":"0001-01-01T00:00:00Z","checks":12}`,
	} {
		t.Run(name, func(t *testing.T) {
			var r orderRecord
			require.NoError(t, json.Unmarshal([]byte(stored), &r))
			again, err := json.Marshal(orderToRecord(orderFromRecord(r)))
			require.NoError(t, err)
			assert.Equal(t, stored, string(again))
		})
	}
}

func TestStoredOrderReadsIntoTheDomain(t *testing.T) {
	var r orderRecord
	require.NoError(t, json.Unmarshal([]byte(`{"requestId":"r2","status":"LATE_SUCCESS","via":"callback","checks":2,"deadline":"2026-11-29T09:02:00Z"}`), &r))
	o := orderFromRecord(r)
	assert.Equal(t, domain.StatusLateSuccess, o.Status)
	assert.Equal(t, domain.ViaCallback, o.Via)
	assert.True(t, o.Final())
	assert.Equal(t, 2, o.Checks)
	assert.Equal(t, time.Date(2026, 11, 29, 9, 2, 0, 0, time.UTC), o.Deadline)
}
