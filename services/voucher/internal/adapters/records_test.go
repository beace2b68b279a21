package adapters

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Records as stores hold them today must read back and write back the same.
func TestStoredRecordsKeepTheirShape(t *testing.T) {
	roundTrip := map[string]func(string) (string, error){
		"voucher":    reencode(voucherToRecord, voucherFromRecord),
		"index page": reencode(phoneIndexToRecord, phoneIndexFromRecord),
		"head":       reencode(phoneHeadToRecord, phoneHeadFromRecord),
	}
	for _, c := range []struct{ kind, stored string }{
		{"voucher", `{"requestId":"r1","phoneNumber":"+84909123450","voucherCode":"7KQ2-MX9D-4HTP","status":"SUCCESS","requestedAt":"2026-11-29T09:00:00Z","issuedAt":"2026-11-29T09:00:01.5Z"}`},
		{"voucher", `{"requestId":"r2","phoneNumber":"+84909123456","voucherCode":"AB3C-DE4F-GH5J","status":"LATE_SUCCESS","requestedAt":"2026-11-29T09:00:00+07:00","issuedAt":"2026-11-29T09:00:45+07:00"}`},
		{"index page", `{"requestIds":["r1","r2","r3"]}`},
		{"index page", `{"requestIds":null}`},
		{"head", `{"last":3}`},
	} {
		again, err := roundTrip[c.kind](c.stored)
		require.NoError(t, err, c.stored)
		assert.Equal(t, c.stored, again, c.kind)
	}
}

func reencode[D, R any](to func(D) R, from func(R) D) func(string) (string, error) {
	return func(stored string) (string, error) {
		var r R
		if err := json.Unmarshal([]byte(stored), &r); err != nil {
			return "", err
		}
		b, err := json.Marshal(to(from(r)))
		return string(b), err
	}
}
