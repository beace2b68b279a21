package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// Spec checks HTTP requests and responses against the OpenAPI document.
//
// kin-openapi loads the document, validates it and routes requests; the
// schemas are compiled once (JSON Schema 2020-12, as OpenAPI 3.1 has it)
// and kept. kin-openapi's own request filter compiles each schema again on
// every call, which cost the accept path about 0.4 ms and 6,000 allocations
// per request (measured with BenchmarkAcceptPathInMemory).
type Spec struct {
	doc      *openapi3.T
	router   routers.Router
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema // by JSON pointer; filled by Load, read-only after
}

// docURL names the document as a JSON Schema resource, so a schema's
// "#/components/schemas/X" resolves inside it.
const docURL = "mem:///openapi.json"

// Why a request does not match the document; see Spec.CheckRequest.
var (
	ErrNoOperation      = errors.New("no such operation")
	ErrMethodNotAllowed = errors.New("method not allowed")
)

// Load reads and validates the embedded document.
func Load() (*Spec, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPI)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openapi.yaml is not valid OpenAPI: %w", err)
	}
	asJSON, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	resource, err := jsonschema.UnmarshalJSON(bytes.NewReader(asJSON))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, resource); err != nil {
		return nil, fmt.Errorf("openapi.yaml as JSON Schema: %w", err)
	}
	// The servers list says where `make run` listens; requests are matched
	// on their path alone, whatever host and port served them.
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	s := &Spec{doc: doc, router: router, compiler: c, schemas: map[string]*jsonschema.Schema{}}
	// Compile every schema now: a schema that does not compile is a bug of
	// the document, found at start-up rather than on some request.
	for _, op := range s.Operations() {
		if err := s.compileOperation(op); err != nil {
			return nil, err
		}
	}
	for name := range doc.Components.Schemas {
		if err := s.compile("/components/schemas/" + escape(name)); err != nil {
			return nil, fmt.Errorf("openapi.yaml: schema %s: %w", name, err)
		}
	}
	return s, nil
}

// MustLoad is Load for the document embedded in the binary: a document that
// does not load is a bug the tests catch, not a condition to handle. It is
// loaded and compiled once per process; a Spec is read-only once loaded,
// so every caller shares it.
func MustLoad() *Spec {
	s, err := loadOnce()
	if err != nil {
		panic(err)
	}
	return s
}

var loadOnce = sync.OnceValues(Load)

// Operations lists every operation of the document as "METHOD /path",
// sorted.
func (s *Spec) Operations() []string {
	var ops []string
	for path, item := range s.doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, method+" "+path)
		}
	}
	sort.Strings(ops)
	return ops
}

// pathParam is a path template's parameter, "{requestId}".
var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// ConcretePath is an operation's path template with every parameter set to
// "x": a path a request of that operation could have.
func ConcretePath(template string) string {
	return pathParam.ReplaceAllString(template, "x")
}

// Allowed lists the methods the document has for r's path.
func (s *Spec) Allowed(r *http.Request) []string {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, _, err := s.router.FindRoute(probe); err == nil {
			allowed = append(allowed, m)
		}
	}
	return allowed
}

// Exchange is one request as the document knows it.
type Exchange struct {
	// Operation is "METHOD /path" as the document writes it.
	Operation string
	op        *openapi3.Operation
	at        string // JSON pointer of the operation
	params    map[string]string
}

// Match finds r's operation. Its error wraps ErrNoOperation or
// ErrMethodNotAllowed.
func (s *Spec) Match(r *http.Request) (Exchange, error) {
	route, params, err := s.router.FindRoute(r)
	switch {
	case errors.Is(err, routers.ErrMethodNotAllowed):
		return Exchange{}, fmt.Errorf("%w: %s %s", ErrMethodNotAllowed, r.Method, r.URL.Path)
	case err != nil:
		return Exchange{}, fmt.Errorf("%w: %s %s", ErrNoOperation, r.Method, r.URL.Path)
	}
	return Exchange{
		Operation: route.Method + " " + route.Path,
		op:        route.Operation,
		at:        "/paths/" + escape(route.Path) + "/" + strings.ToLower(route.Method),
		params:    params,
	}, nil
}

// CheckRequest matches r and checks its parameters and body. The body is
// read and put back, so the handler still reads it. An error that is not
// ErrNoOperation or ErrMethodNotAllowed says what breaks the document, in
// words fit for the caller, and never repeats a field's value.
func (s *Spec) CheckRequest(_ context.Context, r *http.Request) (Exchange, error) {
	ex, err := s.Match(r)
	if err != nil {
		return ex, err
	}
	return ex, s.CheckMatched(r, ex)
}

// CheckMatched checks the parameters and body of r, which Match matched
// to ex; see CheckRequest.
func (s *Spec) CheckMatched(r *http.Request, ex Exchange) error {
	for i, ref := range ex.op.Parameters {
		p := ref.Value
		var v string
		var present bool
		switch p.In {
		case "path":
			v, present = ex.params[p.Name]
		case "query":
			present = r.URL.Query().Has(p.Name)
			v = r.URL.Query().Get(p.Name)
		case "header":
			v = r.Header.Get(p.Name)
			present = v != ""
		}
		what := p.In + " parameter " + p.Name
		if !present {
			if p.Required {
				return fmt.Errorf("%s is required", what)
			}
			continue
		}
		at := pointer(ref.Ref, ex.at+"/parameters/"+strconv.Itoa(i)) + "/schema"
		if err := s.checkString(at, p.Schema, v); err != nil {
			return fmt.Errorf("%s: %s", what, describe(err, p.Name, nil))
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return readError{msg: "request body: " + describeRead(err), cause: err}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rb := ex.op.RequestBody
	switch {
	case len(body) == 0 && (rb == nil || !rb.Value.Required):
		return nil
	case len(body) == 0:
		return errors.New("request body is required")
	case rb == nil:
		return errors.New("this operation takes no request body")
	}
	ct := mediaType(r.Header.Get("Content-Type"))
	mt := rb.Value.Content.Get(ct)
	if mt == nil || ct == "" {
		return fmt.Errorf("Content-Type must be one of %s", strings.Join(keys(rb.Value.Content), ", "))
	}
	at := pointer(rb.Ref, ex.at+"/requestBody") + "/content/" + escape(ct) + "/schema"
	if err := s.checkJSON(at, body); err != nil {
		return fmt.Errorf("request body: %s", describe(err, "", schemaOf(mt)))
	}
	return nil
}

// CheckResponse checks a response to ex's request: its status is one the
// operation declares (or its default), its declared headers are there and
// well-formed, and its body matches the schema, with no field the document
// does not have.
func (s *Spec) CheckResponse(_ context.Context, ex Exchange, status int, header http.Header, body []byte) error {
	if ex.op == nil {
		return errors.New("response to a request the document does not have")
	}
	key, ref := responseFor(ex.op.Responses, status)
	if ref == nil {
		return fmt.Errorf("%s answered %d, a status it does not declare", ex.Operation, status)
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%s answered %d: %s", ex.Operation, status, fmt.Sprintf(format, a...))
	}
	at := pointer(ref.Ref, ex.at+"/responses/"+escape(key))
	for name, h := range ref.Value.Headers {
		v := header.Get(name)
		if v == "" {
			if h.Value.Required {
				return fail("header %s is missing", name)
			}
			continue
		}
		hat := pointer(h.Ref, at+"/headers/"+escape(name)) + "/schema"
		if err := s.checkString(hat, h.Value.Schema, v); err != nil {
			return fail("header %s: %s", name, describe(err, name, nil))
		}
	}
	if len(ref.Value.Content) == 0 {
		if len(body) > 0 {
			return fail("a body where the document has none")
		}
		return nil
	}
	ct := mediaType(header.Get("Content-Type"))
	mt := ref.Value.Content.Get(ct)
	if mt == nil || ct == "" {
		return fail("Content-Type %q, want one of %s", header.Get("Content-Type"), strings.Join(keys(ref.Value.Content), ", "))
	}
	if mt.Schema == nil {
		return nil
	}
	if err := s.checkJSON(at+"/content/"+escape(ct)+"/schema", body); err != nil {
		return fail("body: %s", describe(err, "", nil))
	}
	return nil
}

// CheckAnswer checks one answer to r, whatever r asked. An answer to an
// operation of the document must be one the operation declares
// (CheckResponse). A method the path does not have must be answered 405
// problem+json. On a path the document does not have (an internal route),
// an error must still be problem+json. It returns the operation it checked
// the answer against, "" when r matched none.
func (s *Spec) CheckAnswer(r *http.Request, status int, header http.Header, body []byte) (string, error) {
	ex, err := s.Match(r)
	problem := header.Get("Content-Type") == "application/problem+json"
	switch {
	case errors.Is(err, ErrNoOperation):
		if status >= 400 && !problem {
			return "", fmt.Errorf("%s %s answered %d as %q, not application/problem+json", r.Method, r.URL.Path, status, header.Get("Content-Type"))
		}
		return "", nil
	case err != nil:
		if status != http.StatusMethodNotAllowed || !problem {
			return "", fmt.Errorf("%v answered %d as %q, want 405 application/problem+json", err, status, header.Get("Content-Type"))
		}
		return "", nil
	}
	return ex.Operation, s.CheckResponse(r.Context(), ex, status, header, body)
}

// CheckSchema checks a JSON document against one of the document's
// component schemas (e.g. WebhookPayload, which the gateway sends rather
// than answers).
func (s *Spec) CheckSchema(name string, body []byte) error {
	if _, ok := s.doc.Components.Schemas[name]; !ok {
		return fmt.Errorf("no schema %q in openapi.yaml", name)
	}
	if err := s.checkJSON("/components/schemas/"+escape(name), body); err != nil {
		return fmt.Errorf("%s: %s", name, describe(err, "", nil))
	}
	return nil
}

func (s *Spec) compileOperation(operation string) error {
	method, path, _ := strings.Cut(operation, " ")
	op := s.doc.Paths.Find(path).GetOperation(method)
	at := "/paths/" + escape(path) + "/" + strings.ToLower(method)
	var ptrs []string
	for i, p := range op.Parameters {
		ptrs = append(ptrs, pointer(p.Ref, at+"/parameters/"+strconv.Itoa(i))+"/schema")
	}
	if rb := op.RequestBody; rb != nil {
		for ct := range rb.Value.Content {
			ptrs = append(ptrs, pointer(rb.Ref, at+"/requestBody")+"/content/"+escape(ct)+"/schema")
		}
	}
	for key, ref := range op.Responses.Map() {
		rat := pointer(ref.Ref, at+"/responses/"+escape(key))
		for name, h := range ref.Value.Headers {
			ptrs = append(ptrs, pointer(h.Ref, rat+"/headers/"+escape(name))+"/schema")
		}
		for ct, mt := range ref.Value.Content {
			if mt.Schema != nil {
				ptrs = append(ptrs, rat+"/content/"+escape(ct)+"/schema")
			}
		}
	}
	for _, p := range ptrs {
		if err := s.compile(p); err != nil {
			return fmt.Errorf("openapi.yaml: %s: %w", operation, err)
		}
	}
	return nil
}

// compile compiles the schema at the JSON pointer; Load compiles every one
// the checks use, so that afterwards they only read the map.
func (s *Spec) compile(ptr string) error {
	if _, ok := s.schemas[ptr]; ok {
		return nil
	}
	sch, err := s.compiler.Compile(docURL + "#" + ptr)
	if err != nil {
		return err
	}
	s.schemas[ptr] = sch
	return nil
}

// schema is the compiled schema at the JSON pointer.
func (s *Spec) schema(ptr string) (*jsonschema.Schema, error) {
	sch, ok := s.schemas[ptr]
	if !ok {
		return nil, fmt.Errorf("openapi.yaml: no schema compiled at %s", ptr)
	}
	return sch, nil
}

func (s *Spec) checkJSON(ptr string, body []byte) error {
	sch, err := s.schema(ptr)
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return errNotJSON
	}
	return sch.Validate(v)
}

var errNotJSON = errors.New("not valid JSON")

// checkString checks a parameter or header, read as its schema's type.
func (s *Spec) checkString(ptr string, ref *openapi3.SchemaRef, raw string) error {
	sch, err := s.schema(ptr)
	if err != nil {
		return err
	}
	var v any = raw
	if ref != nil && ref.Value != nil && (ref.Value.Type.Is("integer") || ref.Value.Type.Is("number")) {
		n, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", raw)
		}
		v = n
	}
	return sch.Validate(v)
}

// responseFor finds the response the document declares for status: the
// code itself, its range ("4XX"), or the default.
func responseFor(rs *openapi3.Responses, status int) (string, *openapi3.ResponseRef) {
	code := strconv.Itoa(status)
	for _, key := range []string{code, code[:1] + "XX", "default"} {
		if r := rs.Value(key); r != nil {
			return key, r
		}
	}
	return "", nil
}

// pointer is where a component lives when ref names one ("#/components/
// responses/X"), else at, the place it is written inline.
func pointer(ref, at string) string {
	if strings.HasPrefix(ref, "#/") {
		return strings.TrimPrefix(ref, "#")
	}
	return at
}

// escape makes one JSON pointer token of s (RFC 6901).
func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func mediaType(header string) string {
	mt, _, err := mime.ParseMediaType(header)
	if err != nil {
		return ""
	}
	return mt
}

func keys(c openapi3.Content) []string {
	var out []string
	for k := range c {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func schemaOf(mt *openapi3.MediaType) *openapi3.Schema {
	if mt == nil || mt.Schema == nil {
		return nil
	}
	return mt.Schema.Value
}

// readError is a body that could not be read, worded for the caller; it
// unwraps to the reader's error, so a body over the limit can be told
// apart (*http.MaxBytesError).
type readError struct {
	msg   string
	cause error
}

func (e readError) Error() string { return e.msg }
func (e readError) Unwrap() error { return e.cause }

func describeRead(err error) string {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return fmt.Sprintf("larger than %d bytes", tooBig.Limit)
	}
	return "could not be read"
}

// describe says what broke, one rule per field, worded from the document:
// a field whose description states its rule ("must be …") is answered
// with it; any other rule is said from the kind of check that failed and
// the limit the document sets. Never the value checked (a password).
func describe(err error, name string, body *openapi3.Schema) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	var causes []string
	for _, leaf := range leaves(ve) {
		field := strings.Join(leaf.InstanceLocation, "/")
		if field == "" {
			field = name
		}
		causes = append(causes, rule(field, leaf.ErrorKind, body))
	}
	sort.Strings(causes)
	return strings.Join(slices.Compact(causes), "; ")
}

func leaves(ve *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return []*jsonschema.ValidationError{ve}
	}
	var out []*jsonschema.ValidationError
	for _, c := range ve.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// rule says one broken rule of field ("" for the body itself).
func rule(field string, k jsonschema.ErrorKind, body *openapi3.Schema) string {
	name := field
	if name == "" {
		name = "the body"
	}
	switch k.(type) {
	case *kind.MinLength, *kind.MaxLength, *kind.Pattern:
		if says := statedRule(field, body); says != "" {
			return field + " " + says
		}
	}
	switch k := k.(type) {
	case *kind.AdditionalProperties:
		return "unknown " + plural(len(k.Properties), "field ", "fields ") + quoted(k.Properties)
	case *kind.Required:
		return strings.Join(k.Missing, ", ") + plural(len(k.Missing), " is", " are") + " required"
	case *kind.Type:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = article(w)
		}
		if field == "" {
			return fmt.Sprintf("the body must be %s, not %s", strings.Join(want, " or "), k.Got)
		}
		return fmt.Sprintf("field %q must be %s, not %s", field, strings.Join(want, " or "), k.Got)
	case *kind.MinLength:
		return fmt.Sprintf("%s must be at least %d characters", name, k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("%s must be at most %d characters", name, k.Want)
	case *kind.Pattern:
		return fmt.Sprintf("%s must match %s", name, k.Want)
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = fmt.Sprint(w)
		}
		return fmt.Sprintf("%s must be one of %s", name, strings.Join(want, ", "))
	case *kind.Const:
		return fmt.Sprintf("%s must be %v", name, k.Want)
	case *kind.Format:
		return fmt.Sprintf("%s must be a %s", name, k.Want)
	case *kind.Minimum:
		return fmt.Sprintf("%s must be at least %s", name, k.Want.RatString())
	case *kind.Maximum:
		return fmt.Sprintf("%s must be at most %s", name, k.Want.RatString())
	}
	return fmt.Sprintf("%s breaks the document's rule %q", name, strings.Join(k.KeywordPath(), "/"))
}

// statedRule is the rule a top-level field of body states in its
// description ("must be 10 to 128 characters."), or "".
func statedRule(field string, body *openapi3.Schema) string {
	if body == nil || field == "" || strings.Contains(field, "/") {
		return ""
	}
	p := body.Properties[field]
	if p == nil || p.Value == nil || !strings.HasPrefix(p.Value.Description, "must ") {
		return ""
	}
	return strings.TrimSuffix(p.Value.Description, ".")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// quoted lists names quoted, sorted (the validator finds them in a map's
// order).
func quoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	slices.Sort(q)
	return strings.Join(q, ", ")
}

func article(jsonType string) string {
	switch jsonType {
	case "object":
		return "a JSON object"
	case "array":
		return "a JSON array"
	case "integer":
		return "an integer"
	default:
		return "a " + jsonType
	}
}

// TextRule is what the document says a string property of one of its
// component schemas must be: its pattern ("" for any), its length in
// characters (zero MaxLength: no bound) and its description, which states
// the rule in words when it starts with "must".
type TextRule struct {
	Pattern              string
	MinLength, MaxLength int
	Description          string
}

// TextRule reads the rule of property in the component schema named
// schema, for code that must keep the same rule beyond the API's edge.
func (s *Spec) TextRule(schema, property string) (TextRule, error) {
	sch, ok := s.doc.Components.Schemas[schema]
	if !ok || sch.Value == nil {
		return TextRule{}, fmt.Errorf("openapi.yaml has no schema %q", schema)
	}
	p, ok := sch.Value.Properties[property]
	if !ok || p.Value == nil || !p.Value.Type.Is("string") {
		return TextRule{}, fmt.Errorf("openapi.yaml: schema %s has no string property %q", schema, property)
	}
	r := TextRule{Pattern: p.Value.Pattern, MinLength: int(p.Value.MinLength), Description: p.Value.Description}
	if p.Value.MaxLength != nil {
		r.MaxLength = int(*p.Value.MaxLength)
	}
	return r, nil
}
