// Package adapters holds sms's outbound doors.
package adapters

import (
	"context"

	dapr "github.com/dapr/go-sdk/client"
)

// BindingInvoker is the part of the Dapr client an output binding needs.
type BindingInvoker interface {
	InvokeOutputBinding(ctx context.Context, in *dapr.InvokeBindingRequest) error
}

// Binding sends texts through a Dapr output binding. The metadata carries
// what both bindings we ship need: localstorage's fileName (one file per
// message, so a resend overwrites) and Twilio's toNumber.
type Binding struct {
	Client BindingInvoker
	Name   string
}

// Send hands one text to the binding.
func (b Binding) Send(ctx context.Context, messageID, phone, text string) error {
	return b.Client.InvokeOutputBinding(ctx, &dapr.InvokeBindingRequest{
		Name: b.Name, Operation: "create", Data: []byte(text),
		Metadata: map[string]string{"fileName": phone + "_" + messageID + ".txt", "toNumber": phone},
	})
}
