package adapters

import (
	"encoding/json"
	"testing"

	"github.com/bankabc/vouchers/kit/persist"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// roundTrip decodes stored into a record, goes to the domain value and
// back, and encodes the record again.
func roundTrip[T, R any](m persist.Mapped[T, R]) func(*testing.T, string) string {
	return func(t *testing.T, stored string) string {
		var rec R
		require.NoError(t, json.Unmarshal([]byte(stored), &rec))
		out, err := json.Marshal(m.ToRecord(m.ToDomain(rec)))
		require.NoError(t, err)
		return string(out)
	}
}

// Records stored before the domain lost its JSON tags read the same and
// are written back byte for byte.
func TestStoredRecordsOfTheOldShapeReadAndWriteTheSame(t *testing.T) {
	cases := []struct {
		name, stored string
		roundTrip    func(*testing.T, string) string
	}{
		{"user", `{"id":"u1","username":"alice","phoneNumber":"+84909123450","passwordHash":"$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA","webhookSecret":"whsec_x","phoneVerifiedAt":"2026-11-29T09:00:00Z","createdAt":"2026-11-29T08:59:00Z"}`, roundTrip(Users(nil))},
		{"user_unverified", `{"id":"u2","username":"bob","phoneNumber":"+84909123451","passwordHash":"h","webhookSecret":"whsec_y","createdAt":"2026-11-29T08:59:00Z"}`, roundTrip(Users(nil))},
		{"phone_claim", `{"username":"alice","claimedAt":"2026-11-29T08:59:00Z"}`, roundTrip(PhoneClaims(nil))},
		{"session", `{"id":"s1","userId":"u1","username":"alice","phoneNumber":"+84909123450","phoneVerified":true,"createdAt":"2026-11-29T09:00:00Z","lastSeen":"2026-11-29T09:05:00Z"}`, roundTrip(Sessions(nil))},
		{"session_list", `{"sessions":[{"id":"s1","createdAt":"2026-11-29T09:00:00Z"},{"id":"s2","createdAt":"2026-11-29T09:01:00Z"}]}`, roundTrip(SessionLists(nil))},
		{"session_list_null", `{"sessions":null}`, roundTrip(SessionLists(nil))},
		{"session_list_empty", `{"sessions":[]}`, roundTrip(SessionLists(nil))},
		{"strikes", `{"failures":3,"lockedUntil":"2026-11-29T09:15:00Z","locks":1,"pending":["2026-11-29T09:00:30Z"]}`, roundTrip(Strikes(nil))},
		{"strikes_settled", `{"failures":0,"lockedUntil":"0001-01-01T00:00:00Z","locks":0}`, roundTrip(Strikes(nil))},
		{"phone_code", `{"userId":"u1","hash":"9f86d081","seq":2,"tries":1,"used":false,"sentAt":"2026-11-29T09:00:00Z","expiresAt":"2026-11-29T09:05:00Z"}`, roundTrip(PhoneCodes(nil))},
		{"count", `{"n":2}`, roundTrip(Counts(nil))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.stored, c.roundTrip(t, c.stored))
		})
	}
}
