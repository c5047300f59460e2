// Package flow is the recorder behind PhotoEditorApp's workshop mode: for
// each browser session it keeps the exchanges of the OAuth flow the app
// took part in (the redirects it sent and received, and every back-channel
// request to ImageHost with its response), numbered by the steps of the
// classic sequence diagram, so that a room can follow the real messages.
//
// What it keeps is bounded: at most MaxFlows flows, the least recently used
// dropped first; in each, at most MaxExchanges exchanges and MaxFlowBytes of
// them, the oldest API calls dropped first; of each body, at most 16 KiB.
// It keeps them in memory (one instance), or in a Storage that several
// instances share, which enforces the same bounds.
package flow

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Bounds of what the recorder keeps: MaxFlows × MaxFlowBytes in all.
const (
	MaxFlows     = 200
	MaxExchanges = 80
	MaxFlowBytes = 256 << 10
	maxBody      = 16 << 10
)

// Step names a step of the flow.
type Step string

// The steps, by the numbers of the sequence diagram.
const (
	StepConnect   Step = "1"   // the user asks to connect
	StepAuthorize Step = "2"   // the app redirects the browser to ImageHost
	StepLogin     Step = "3"   // login and consent, between the browser and ImageHost
	StepCallback  Step = "4-5" // ImageHost redirects back with the code
	StepToken     Step = "6-7" // the back-channel code exchange and the tokens
	StepAPI       Step = "8-9" // an API call with the bearer token, and its answer
	StepRefresh   Step = "R"   // the access token expired: refresh
	StepRevoke    Step = "X"   // the app revokes its refresh token
	StepDiscovery Step = "D"   // the app reads ImageHost's metadata or keys
	StepLogout    Step = "L"   // logout and back-channel logout
	StepAttack    Step = "!"   // an attack demonstration: a deliberately broken request
	StepMachine   Step = "M"   // the machine-to-machine grant (client credentials)
	StepImplicit  Step = "I"   // lab mode: the legacy implicit grant, the token in the fragment
	StepPassword  Step = "P"   // lab mode: the legacy password grant, the password through the app
)

// KV is one header or parameter.
type KV struct{ Name, Value string }

// Message is a request or a response as the inspector shows it.
type Message struct {
	Method  string // requests only
	URL     string // requests only, without its query
	Status  int    // responses only
	Params  []KV   // decoded query or form parameters
	Headers []KV
	Body    string
}

// Exchange is one request and its response.
type Exchange struct {
	Seq      int
	Step     Step
	Channel  string // "front channel (browser)" or "back channel (server to server)"
	Time     time.Time
	Duration time.Duration
	Request  Message
	Response Message
	Note     string // what happened, in a sentence
}

// Size is about how many bytes an exchange holds: its strings. The bounds
// of a flow count it.
func (ex Exchange) Size() int {
	n := len(ex.Note) + len(ex.Channel)
	for _, m := range []Message{ex.Request, ex.Response} {
		n += len(m.Method) + len(m.URL) + len(m.Body)
		for _, kvs := range [][]KV{m.Params, m.Headers} {
			for _, kv := range kvs {
				n += len(kv.Name) + len(kv.Value)
			}
		}
	}
	return n
}

// DroppedFirst reports whether a flow over its bounds drops exchanges of
// step before any other: API calls and discovery, since the steps of the
// login itself are worth keeping longest.
func DroppedFirst(step Step) bool { return step == StepAPI || step == StepDiscovery }

// Recorder keeps the flows, in a Storage. It is safe for concurrent use.
//
// Recording is for the workshop's inspector, never a reason to fail the
// request being recorded: a write that fails is logged and forgotten.
type Recorder struct {
	storage Storage
	now     func() time.Time
	log     *slog.Logger
}

// writeTimeout bounds a recording's write. Writes outlive the request's
// cancellation (a request that failed is worth showing too), not this.
const writeTimeout = 5 * time.Second

// NewRecorder returns an empty recorder that keeps its flows in this
// process's memory: for one instance.
func NewRecorder(now func() time.Time) *Recorder {
	return NewRecorderIn(NewMemory(), now, slog.New(slog.DiscardHandler))
}

// NewRecorderIn returns a recorder that keeps its flows in storage, such as
// a database that several instances share, so that a browser's requests
// may land on any of them; log hears of the writes that failed.
func NewRecorderIn(storage Storage, now func() time.Time, log *slog.Logger) *Recorder {
	return &Recorder{storage: storage, now: now, log: log}
}

// write runs a write of the recording: after the request's end too, for
// writeTimeout at most.
func (r *Recorder) write(ctx context.Context, what string, fn func(ctx context.Context) error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	if err := fn(ctx); err != nil {
		r.log.WarnContext(ctx, "flow recording", "op", what, "err", err)
	}
}

// Add records an exchange of the flow id and returns it as recorded: with
// its number in the flow (Seq, 0 when nothing was recorded) and its time.
func (r *Recorder) Add(ctx context.Context, id string, ex Exchange) Exchange {
	if id == "" {
		return ex
	}
	ex = ex.withoutClientCredentials()
	now := r.now()
	if ex.Time.IsZero() {
		ex.Time = now
	}
	r.write(ctx, "add", func(ctx context.Context) (err error) {
		ex.Seq, err = r.storage.Append(ctx, id, ex, now)
		return err
	})
	return ex
}

// Replace changes a recorded exchange, the one numbered ex.Seq, to ex:
// to add the answer to a request recorded when it arrived, say.
func (r *Recorder) Replace(ctx context.Context, id string, ex Exchange) {
	if id == "" || ex.Seq == 0 {
		return
	}
	ex = ex.withoutClientCredentials()
	r.write(ctx, "replace", func(ctx context.Context) error { return r.storage.Replace(ctx, id, ex) })
}

// Last returns the newest exchange of step that matches ok.
func (r *Recorder) Last(ctx context.Context, id string, step Step, ok func(Exchange) bool) (Exchange, bool) {
	list := r.Exchanges(ctx, id)
	for i := len(list) - 1; i >= 0; i-- {
		if ex := list[i]; ex.Step == step && (ok == nil || ok(ex)) {
			return ex, true
		}
	}
	return Exchange{}, false
}

// Exchanges returns the flow's exchanges, in order; none when the storage
// fails (which is logged).
func (r *Recorder) Exchanges(ctx context.Context, id string) []Exchange {
	if id == "" {
		return nil
	}
	list, err := r.storage.Exchanges(ctx, id)
	if err != nil {
		r.log.WarnContext(ctx, "flow recording", "op", "read", "err", err)
		return nil
	}
	return list
}

// Reset forgets a flow.
func (r *Recorder) Reset(ctx context.Context, id string) {
	if id == "" {
		return
	}
	r.write(ctx, "reset", func(ctx context.Context) error { return r.storage.Reset(ctx, id) })
}

type ctxKey struct{}

type ctxValue struct {
	id   string
	step Step
}

// WithID marks ctx as belonging to flow id; back-channel requests made with
// it are recorded.
func WithID(ctx context.Context, id string) context.Context {
	v, _ := ctx.Value(ctxKey{}).(ctxValue)
	v.id = id
	return context.WithValue(ctx, ctxKey{}, v)
}

// WithStep says which step the requests made with ctx belong to.
func WithStep(ctx context.Context, step Step) context.Context {
	v, _ := ctx.Value(ctxKey{}).(ctxValue)
	v.step = step
	return context.WithValue(ctx, ctxKey{}, v)
}

// FromContext returns the flow id and step of ctx.
func FromContext(ctx context.Context) (string, Step) {
	v, _ := ctx.Value(ctxKey{}).(ctxValue)
	return v.id, v.step
}

// secretParams are parameters whose values are credentials.
var secretParams = map[string]bool{
	"code": true, "code_verifier": true, "client_secret": true, "client_assertion": true, "access_token": true,
	"refresh_token": true, "id_token": true, "token": true, "logout_token": true,
	"id_token_hint": true, "_csrf": true, "csrf_token": true, "password": true,
}

// secretHeaders are headers whose values are credentials, or look like
// them: a DPoP proof is recorded without its signature
// (withoutClientCredentials), so that it cannot be sent again, but its
// header and claims still read as a token on a projector; the inspector
// shows them decoded.
var secretHeaders = map[string]bool{"authorization": true, "cookie": true, "set-cookie": true, "dpop": true}

// clientCredentialParams are a client's own credentials (RFC 6749 §2.3.1,
// RFC 7523 §2.2). They are the app's, not the attendee's: the recorder
// never keeps them, so even Reveal cannot show them.
var clientCredentialParams = map[string]bool{"client_secret": true, "client_assertion": true}

// clientCredentialsMark stands where a client credential was.
const clientCredentialsMark = "•••• (the app's client credentials: never recorded)"

// IsSecret reports whether a parameter's value must be masked.
func IsSecret(name string) bool { return secretParams[strings.ToLower(name)] }

func isClientCredential(name string) bool { return clientCredentialParams[strings.ToLower(name)] }

// Mask hides all of a secret but a short prefix, and says how long it was.
// The mark of a client credential stays as it is.
func Mask(v string) string {
	if v == "" || v == clientCredentialsMark {
		return v
	}
	if len(v) <= 8 {
		return "•••• (" + strconv.Itoa(len(v)) + " chars)"
	}
	return v[:6] + "…•••• (" + strconv.Itoa(len(v)) + " chars)"
}

// Masked returns the exchange with every secret masked: parameter values,
// credential headers, token members of JSON bodies, and every other copy
// of those values, such as a code in a Location header or in the body of
// the redirect that carried it.
func (ex Exchange) Masked() Exchange {
	secrets, chosen := ex.secrets(), ex.chosenSecrets()
	ex = ex.withoutClientCredentials()
	ex.Request = ex.Request.masked()
	ex.Response = ex.Response.masked()
	return ex.replaced(secrets).hiddenWhole(chosen)
}

// chosenParams are parameters whose values a person chose: passwords. Mask
// shows a short prefix of a secret, which says nothing of a random token
// but much of a password, so their masks show none of them.
var chosenParams = map[string]bool{"password": true}

// chosenSecrets are the exchange's values of chosenParams, in its
// parameters and form bodies.
func (ex Exchange) chosenSecrets() []string {
	var out []string
	for _, m := range []Message{ex.Request, ex.Response} {
		kvs, _ := formBody(m.Body)
		for _, kv := range append(kvs, m.Params...) {
			if chosenParams[strings.ToLower(kv.Name)] && kv.Value != "" {
				out = append(out, kv.Value)
			}
		}
	}
	return out
}

// hiddenWhole replaces the masks of chosen, wherever Masked left them, with
// masks that show nothing of them but their length.
func (ex Exchange) hiddenWhole(chosen []string) Exchange {
	for _, v := range chosen {
		whole := "•••• (" + strconv.Itoa(len(v)) + " chars)"
		ex.eachText(func(s string) string { return strings.ReplaceAll(s, Mask(v), whole) })
	}
	return ex
}

func (m Message) masked() Message {
	m.Params = maskKVs(m.Params, IsSecret, Mask)
	m.Headers = maskKVs(m.Headers, func(n string) bool { return secretHeaders[strings.ToLower(n)] }, Mask)
	m.Body = maskBody(m.Body, IsSecret, Mask)
	return m
}

// withoutClientCredentials replaces the client's own credentials: HTTP
// Basic client authentication, client_secret or client_assertion
// parameters, and the signature of a DPoP proof (RFC 9449), which only the
// client's key can make: the proof's header and claims stay, for the
// inspector to show decoded, but without its signature a recorded proof
// cannot be presented again, even by someone who reads a handout.
func (ex Exchange) withoutClientCredentials() Exchange {
	for _, m := range []*Message{&ex.Request, &ex.Response} {
		m.Params = maskKVs(m.Params, isClientCredential, func(string) string { return clientCredentialsMark })
		m.Headers = maskKVs(m.Headers, func(n string) bool { return strings.EqualFold(n, "dpop") }, WithoutSignature)
		for i, kv := range m.Headers {
			if scheme, _, _ := strings.Cut(kv.Value, " "); strings.EqualFold(kv.Name, "authorization") && strings.EqualFold(scheme, "Basic") {
				m.Headers[i].Value = scheme + " " + clientCredentialsMark
			}
		}
		if strings.Contains(m.Body, "client_secret") || strings.Contains(m.Body, "client_assertion") {
			m.Body = maskBody(m.Body, isClientCredential, func(string) string { return clientCredentialsMark })
		}
	}
	return ex
}

// SignatureMark stands where a recorded DPoP proof's signature was.
const SignatureMark = "(signature not recorded)"

// WithoutSignature is a DPoP proof as the recorder keeps it: its header and
// claims, and SignatureMark instead of its signature. Anything that is not
// a compact JWS is kept as clientCredentialsMark.
func WithoutSignature(proof string) string {
	parts := strings.Split(proof, ".")
	switch {
	case len(parts) != 3:
		return clientCredentialsMark
	case parts[2] == SignatureMark: // recorded before
		return proof
	}
	return parts[0] + "." + parts[1] + "." + SignatureMark
}

// secrets are the values of an exchange that Masked hides, wherever they
// appear: those of secret parameters and headers, of token members of JSON
// bodies, and of secret parameters of a Location. Values of 8 characters or
// fewer are left out: they could match ordinary text.
func (ex Exchange) secrets() []string {
	var out []string
	add := func(v string) {
		if len(v) > 8 {
			out = append(out, v)
		}
	}
	for _, m := range []Message{ex.Request, ex.Response} {
		for _, kv := range m.Params {
			if IsSecret(kv.Name) {
				add(kv.Value)
			}
		}
		for _, kv := range m.Headers {
			switch {
			case secretHeaders[strings.ToLower(kv.Name)]:
				_, cred, ok := strings.Cut(kv.Value, " ")
				if !ok || !strings.EqualFold(kv.Name, "authorization") {
					cred = kv.Value
				}
				add(cred)
			case strings.EqualFold(kv.Name, "location"):
				if u, err := url.Parse(kv.Value); err == nil {
					for _, raw := range []string{u.RawQuery, u.Fragment} {
						for _, p := range ParamsOf(raw) {
							if IsSecret(p.Name) {
								add(p.Value)
							}
						}
					}
				}
			}
		}
		for _, v := range bodySecrets(m.Body) {
			add(v)
		}
	}
	// The longest first, so that one secret inside another goes whole.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// replaced masks every copy of secrets left in the exchange.
func (ex Exchange) replaced(secrets []string) Exchange {
	if len(secrets) == 0 {
		return ex
	}
	hide := func(s string) string {
		for _, v := range secrets {
			if strings.Contains(s, v) {
				s = strings.ReplaceAll(s, v, Mask(v))
			}
		}
		return s
	}
	ex.eachText(hide)
	return ex
}

// eachText replaces each text of ex that may carry a value with f of it: the
// note, and each message's URL, body, parameters and headers.
func (ex *Exchange) eachText(f func(string) string) {
	ex.Note = f(ex.Note)
	for _, m := range []*Message{&ex.Request, &ex.Response} {
		m.URL, m.Body = f(m.URL), f(m.Body)
		for _, kvs := range [][]KV{m.Params, m.Headers} {
			for i := range kvs {
				kvs[i].Value = f(kvs[i].Value)
			}
		}
	}
}

// maskKVs returns a copy of in with mask applied to the values whose name
// is secret; an Authorization header keeps its scheme.
func maskKVs(in []KV, secret func(string) bool, mask func(string) string) []KV {
	if in == nil {
		return nil
	}
	out := make([]KV, len(in))
	for i, kv := range in {
		if secret(kv.Name) {
			if strings.EqualFold(kv.Name, "authorization") {
				scheme, cred, ok := strings.Cut(kv.Value, " ")
				if ok {
					kv.Value = scheme + " " + mask(cred)
					out[i] = kv
					continue
				}
			}
			kv.Value = mask(kv.Value)
		}
		out[i] = kv
	}
	return out
}

// maskBody masks the secret members of a form or JSON body, leaving the
// rest readable.
func maskBody(body string, secret func(string) bool, mask func(string) string) string {
	trimmed := strings.TrimSpace(body)
	if strings.HasPrefix(trimmed, "{") {
		return maskJSON(body, secret, mask)
	}
	if kvs, ok := formBody(body); ok {
		// One parameter a line; a mask is shown as it is, not encoded.
		lines := make([]string, len(kvs))
		for i, kv := range kvs {
			v := url.QueryEscape(kv.Value)
			if secret(kv.Name) {
				v = mask(kv.Value)
			}
			lines[i] = url.QueryEscape(kv.Name) + "=" + v
		}
		return strings.Join(lines, "&\n")
	}
	return body
}

// formBody decodes a body that is a form, sorted by name.
func formBody(body string) ([]KV, bool) {
	if !strings.Contains(body, "=") || strings.ContainsAny(body, " \n<") {
		return nil, false
	}
	if _, err := url.ParseQuery(body); err != nil {
		return nil, false
	}
	return ParamsOf(body), true
}

// bodySecrets are the values of a form or JSON body's secret members.
func bodySecrets(body string) []string {
	var out []string
	if strings.HasPrefix(strings.TrimSpace(body), "{") {
		var obj map[string]any
		if json.Unmarshal([]byte(body), &obj) == nil {
			for k, v := range obj {
				if s, ok := v.(string); ok && IsSecret(k) {
					out = append(out, s)
				}
			}
		}
		return out
	}
	kvs, _ := formBody(body)
	for _, kv := range kvs {
		if IsSecret(kv.Name) {
			out = append(out, kv.Value)
		}
	}
	return out
}

// ParamsOf decodes a query or form string into sorted parameters.
func ParamsOf(raw string) []KV {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil
	}
	var kvs []KV
	for k, vs := range vals {
		for _, v := range vs {
			kvs = append(kvs, KV{k, v})
		}
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].Name < kvs[j].Name })
	return kvs
}

// Param returns the first value of a parameter.
func (m Message) Param(name string) string {
	for _, kv := range m.Params {
		if kv.Name == name {
			return kv.Value
		}
	}
	return ""
}

// Header returns the first value of a header, whatever its case.
func (m Message) Header(name string) string {
	for _, kv := range m.Headers {
		if strings.EqualFold(kv.Name, name) {
			return kv.Value
		}
	}
	return ""
}
