// Package api is the system's published contracts in one place: the
// gateway's OpenAPI 3.1 document (openapi.yaml) and the JSON Schema of every
// topic's payload (events/). The gateway serves and enforces the first; the
// end-to-end suite checks every response against it; producers and
// consumers of events are tested against the second.
package api

import _ "embed"

// OpenAPI is the gateway's OpenAPI 3.1 document as written.
//
//go:embed openapi.yaml
var OpenAPI []byte
