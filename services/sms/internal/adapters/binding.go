// Package adapters holds sms's outbound doors.
package adapters

import (
	"context"

	dapr "github.com/dapr/go-sdk/client"
)

type BindingInvoker interface {
	InvokeOutputBinding(ctx context.Context, in *dapr.InvokeBindingRequest) error
}

// Binding sets the metadata of both bindings we ship: localstorage's
// fileName (one file per message, so a resend overwrites) and Twilio's
// toNumber.
type Binding struct {
	Client BindingInvoker
	Name   string
}

func (b Binding) Send(ctx context.Context, messageID, phone, text string) error {
	return b.Client.InvokeOutputBinding(ctx, &dapr.InvokeBindingRequest{
		Name: b.Name, Operation: "create", Data: []byte(text),
		Metadata: map[string]string{"fileName": phone + "_" + messageID + ".txt", "toNumber": phone},
	})
}
