package adapters

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bankabc/vouchers/services/gateway/internal/purchase/domain"
)

// Receivers verify the signature over the body's bytes, and a stored
// delivery resends the bytes it was created with: the body a new delivery
// gets must stay byte for byte what receivers have always been sent.
func TestAWebhookBodyIsTheBytesReceiversHaveAlwaysGot(t *testing.T) {
	hook := func(id, code string) domain.Request {
		return domain.Request{RequestID: id, Username: "alice", PhoneNumber: "+84909123456", CallbackURL: "https://shop.example/hook",
			Status: domain.StatusSuccess, State: domain.StateSuccess, VoucherCode: code}
	}
	cases := []struct {
		name string
		req  domain.Request
		now  time.Time
		want string
	}{
		{"utc_whole_second", hook("r1", "CODE-1"), time.Date(2026, 11, 29, 9, 0, 2, 0, time.UTC),
			`{"type":"voucher.issued","timestamp":"2026-11-29T09:00:02Z","data":{"requestId":"r1","status":"SUCCESS","state":1,"phoneNumber":"+84909123456","voucherCode":"CODE-1","message":"Thank you for using our services, your voucher code is ready."}}`},
		{"local_zone_and_nanoseconds_kept", hook("r1", "CODE-1"), time.Date(2026, 11, 29, 9, 0, 2, 123456789, time.FixedZone("ICT", 7*3600)),
			`{"type":"voucher.issued","timestamp":"2026-11-29T09:00:02.123456789+07:00","data":{"requestId":"r1","status":"SUCCESS","state":1,"phoneNumber":"+84909123456","voucherCode":"CODE-1","message":"Thank you for using our services, your voucher code is ready."}}`},
		{"html_and_line_separators_escaped", hook(`r-2"x`, "<A&B>\u2028é"), time.Date(2026, 11, 29, 9, 0, 2, 0, time.UTC),
			`{"type":"voucher.issued","timestamp":"2026-11-29T09:00:02Z","data":{"requestId":"r-2\"x","status":"SUCCESS","state":1,"phoneNumber":"+84909123456","voucherCode":"\u003cA\u0026B\u003e\u2028é","message":"Thank you for using our services, your voucher code is ready."}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, _, ok, err := domain.BeginDelivery(c.req, c.now, WebhookJSON{})
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, c.want, string(d.Body))
		})
	}
}

// A delivery stored with its body, whose webhook then runs out of
// retries, texts the code that body carried.
func TestAStoredWebhookThatRunsOutFallsBackToTheCodeItCarried(t *testing.T) {
	stored := `{"requestId":"r1","username":"alice","phoneNumber":"+84909123456","channel":"webhook","status":"PENDING","callbackUrl":"https://shop.example/hook","webhookId":"msg_r1","body":{"type":"voucher.issued","timestamp":"2026-11-29T09:00:02Z","data":{"requestId":"r1","status":"SUCCESS","state":1,"phoneNumber":"+84909123456","voucherCode":"CODE-1","message":"Thank you for using our services, your voucher code is ready."}},"attempts":1,"lastError":"answered 503","nextAttemptAt":"2026-11-29T09:01:00Z","claimedUntil":"0001-01-01T00:00:00Z","createdAt":"2026-11-29T09:00:02Z","updatedAt":"2026-11-29T09:00:40Z"}`
	var rec DeliveryRecord
	require.NoError(t, json.Unmarshal([]byte(stored), &rec))
	rules := domain.WebhookRules{Schedule: []time.Duration{time.Second}, Codec: WebhookJSON{}}
	at := time.Date(2026, 11, 29, 9, 1, 0, 0, time.UTC)
	d, outcome, sms, err := rules.Record(Deliveries(nil).ToDomain(rec), domain.WebhookResult{Err: "answered 503"}, at, func(int64) int64 { return 0 })
	require.NoError(t, err)
	assert.Equal(t, domain.AttemptFellBack, outcome)
	assert.Equal(t, domain.ChannelSMS, d.Channel)
	require.NotNil(t, sms)
	assert.Equal(t, domain.SuccessMessage+" Code: CODE-1", sms.Text())
}

func TestAWebhookBodyReadsBackWhatWasWritten(t *testing.T) {
	w := domain.Webhook{RequestID: "r1", Status: domain.StatusSuccess, State: domain.StateSuccess, PhoneNumber: "+84909123456",
		VoucherCode: "<A&B>", Message: domain.SuccessMessage, At: time.Date(2026, 11, 29, 9, 0, 2, 5, time.UTC)}
	body, err := WebhookJSON{}.Encode(w)
	require.NoError(t, err)
	got, err := WebhookJSON{}.Decode(body)
	require.NoError(t, err)
	assert.Equal(t, w, got)
	_, err = WebhookJSON{}.Decode([]byte("not json"))
	assert.Error(t, err, "a body that is not JSON")
}
