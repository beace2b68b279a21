package adapters

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A record as stores hold it today must read back and write back the same.
func TestStoredSentRecordKeepsItsShape(t *testing.T) {
	for _, stored := range []string{
		`{"messageId":"voucher-r1","phoneNumber":"+84909123450","sentAt":"2026-11-29T09:00:01.25Z"}`,
		`{"messageId":"phone-code-u1-3","phoneNumber":"+84909123456","sentAt":"2026-11-29T16:00:00+07:00"}`,
	} {
		var r sentRecord
		require.NoError(t, json.Unmarshal([]byte(stored), &r))
		again, err := json.Marshal(sentToRecord(sentFromRecord(r)))
		require.NoError(t, err)
		assert.Equal(t, stored, string(again))
	}
}
