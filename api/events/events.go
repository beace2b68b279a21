// Package events is the contract between services: topic names, CloudEvent
// types and payloads. Producers and consumers import it; it imports nothing
// of ours.
package events

import (
	"encoding/json"
	"time"
)

// The pub/sub component every service uses, and its topics.
const (
	PubSub = "pubsub"

	TopicRequestCode = "request-code"
	TopicReceiveCode = "receive-code"
	TopicSendSMS     = "send-sms"
)

// CloudEvent types we publish.
const (
	TypeRequestCode = "com.bankabc.voucher.request-code.v1"
	TypeReceiveCode = "com.bankabc.voucher.receive-code.v1"
	TypeSendSMS     = "com.bankabc.sms.send.v1"
)

// Purchase statuses, shared by the request, the order and the voucher.
const (
	StatusProcessing  = "PROCESSING"
	StatusSuccess     = "SUCCESS"
	StatusLateSuccess = "LATE_SUCCESS"
	StatusFailed      = "FAILED"
)

// RequestCode asks voucher-int to buy one voucher. RequestID is the business
// key: every consumer is idempotent on it.
type RequestCode struct {
	RequestID   string    `json:"requestId"`
	UserID      string    `json:"userId"`
	PhoneNumber string    `json:"phoneNumber"`
	RequestedAt time.Time `json:"requestedAt"`
}

// ReceiveCode tells the outcome of one order: a code (SUCCESS, LATE_SUCCESS)
// or a failure with its reason.
type ReceiveCode struct {
	RequestID   string    `json:"requestId"`
	PhoneNumber string    `json:"phoneNumber"`
	Status      string    `json:"status"`
	VoucherCode string    `json:"voucherCode,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	RequestedAt time.Time `json:"requestedAt"`
	IssuedAt    time.Time `json:"issuedAt"`
}

// SendSMS asks the sms service to send Text to PhoneNumber once; MessageID is
// the idempotency key.
type SendSMS struct {
	MessageID   string `json:"messageId"`
	PhoneNumber string `json:"phoneNumber"`
	Text        string `json:"text"`
}

// OrderingKey is the key an event is published under: its phone number.
// Every event of ours carries one. A broker that partitions its topics
// keeps the events of one key in one partition, in the order they were
// published, and hands them to one consumer at a time: a customer's texts
// arrive in the order gateway sent them, and a request's events are
// handled one after the other. Without a key such a broker spreads them
// over the partitions, which are handled side by side. "" when data has
// none.
func OrderingKey(data []byte) string {
	var ev struct {
		PhoneNumber string `json:"phoneNumber"`
	}
	if json.Unmarshal(data, &ev) != nil {
		return ""
	}
	return ev.PhoneNumber
}
