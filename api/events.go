package api

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed events/*.schema.json
var eventSchemas embed.FS

// Topic is one pub/sub topic's contract: the CloudEvent type its events
// carry and the JSON Schema of their data.
type Topic struct {
	Name, Type, Schema string
}

// Topics lists every topic the services publish. api/events holds the same
// names for the Go code; a test there keeps the two equal.
var Topics = []Topic{
	{Name: "request-code", Type: "com.bankabc.voucher.request-code.v1", Schema: "events/request-code.schema.json"},
	{Name: "receive-code", Type: "com.bankabc.voucher.receive-code.v1", Schema: "events/receive-code.schema.json"},
	{Name: "send-sms", Type: "com.bankabc.sms.send.v1", Schema: "events/send-sms.schema.json"},
}

// TopicOf returns the topic's contract.
func TopicOf(name string) (Topic, bool) {
	for _, t := range Topics {
		if t.Name == name {
			return t, true
		}
	}
	return Topic{}, false
}

var compiled = sync.OnceValues(func() (map[string]*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	out := map[string]*jsonschema.Schema{}
	for _, t := range Topics {
		b, err := eventSchemas.ReadFile(t.Schema)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Schema, err)
		}
		if err := c.AddResource(t.Schema, doc); err != nil {
			return nil, fmt.Errorf("%s: %w", t.Schema, err)
		}
		s, err := c.Compile(t.Schema)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Schema, err)
		}
		out[t.Name] = s
	}
	return out, nil
})

// CheckEvent checks one event's data (JSON) against its topic's schema.
func CheckEvent(topic string, data []byte) error {
	schemas, err := compiled()
	if err != nil {
		return err
	}
	s, ok := schemas[topic]
	if !ok {
		return fmt.Errorf("topic %q has no schema in api/events", topic)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%s: data is not JSON: %w", topic, err)
	}
	if err := s.Validate(v); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return fmt.Errorf("%s: %w", topic, err)
		}
		var causes []string
		for _, leaf := range leaves(ve) {
			causes = append(causes, "/"+strings.Join(leaf.InstanceLocation, "/")+": "+leaf.ErrorKind.LocalizedString(english))
		}
		sort.Strings(causes)
		return fmt.Errorf("%s: %s", topic, strings.Join(causes, "; "))
	}
	return nil
}

// Examples returns the examples a topic's schema gives, as JSON.
func Examples(topic string) ([][]byte, error) {
	t, ok := TopicOf(topic)
	if !ok {
		return nil, fmt.Errorf("no topic %q", topic)
	}
	b, err := eventSchemas.ReadFile(t.Schema)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Examples []json.RawMessage `json:"examples"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	out := make([][]byte, len(doc.Examples))
	for i, e := range doc.Examples {
		out[i] = e
	}
	return out, nil
}

// english words the validator's findings for the events' checks, which
// only the project's own code and logs read.
var english = message.NewPrinter(language.English)
