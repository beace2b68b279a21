// Package vpsapi is the HTTP contract of the Voucher Provider Server: what
// voucher-int sends and expects, and what the fake provider speaks. One
// definition, so the two cannot drift apart.
package vpsapi

// OrderRequest is the body of POST /api/request/voucher; RequestID is the
// provider's idempotency key.
type OrderRequest struct {
	RequestID   string `json:"requestId"`
	PhoneNumber string `json:"phoneNumber"`
}

// OrderAnswer is the provider's answer to an order and to
// GET /api/request/voucher/{requestId}: the code when it has one, or (202)
// an acknowledgement with the challenge the later callback must answer.
type OrderAnswer struct {
	RequestID       string `json:"requestId"`
	Status          string `json:"status"`
	VoucherCode     string `json:"voucherCode,omitempty"`
	CodeChallenge   string `json:"codeChallenge,omitempty"`
	TransformMethod string `json:"transformMethod,omitempty"`
	Message         string `json:"message,omitempty"`
}

// Callback is the provider's late delivery of a code, to
// POST /api/voucher-code/vps/response.
type Callback struct {
	RequestID    string `json:"requestId"`
	CodeVerifier string `json:"codeVerifier"`
	VoucherCode  string `json:"voucherCode"`
	Status       string `json:"status"`
	Message      string `json:"message"`
}
