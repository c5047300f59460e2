// Package flow is the recorder behind PhotoEditorApp's workshop mode: for
// each browser session it keeps the exchanges of the OAuth flow the app
// took part in (the redirects it sent and received, and every back-channel
// request to ImageHost with its response), numbered by the steps of the
// classic sequence diagram, so that a room can follow the real messages.
//
// Memory is bounded: at most MaxFlows sessions, the least recently used
// dropped first; in each, at most MaxExchanges exchanges and MaxFlowBytes of
// them, the oldest API calls dropped first; of each body, at most 16 KiB.
package flow

import (
	"context"
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
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

type session struct {
	exchanges []Exchange
	bytes     int // the size of exchanges
	seq       int
	used      time.Time
}

// size is about how many bytes an exchange holds: its strings.
func (ex Exchange) size() int {
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

// trim drops exchanges until the session is within its bounds.
func (s *session) trim() {
	for len(s.exchanges) > MaxExchanges || (s.bytes > MaxFlowBytes && len(s.exchanges) > 1) {
		var dropped Exchange
		s.exchanges, dropped = dropOne(s.exchanges)
		s.bytes -= dropped.size()
	}
}

// Recorder keeps the flows. It is safe for concurrent use.
type Recorder struct {
	mu    sync.Mutex
	flows map[string]*session
	now   func() time.Time
}

// NewRecorder returns an empty recorder.
func NewRecorder(now func() time.Time) *Recorder {
	return &Recorder{flows: map[string]*session{}, now: now}
}

// Add records an exchange of the flow id and returns its number in the flow.
func (r *Recorder) Add(id string, ex Exchange) int {
	if id == "" {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.flows[id]
	if s == nil {
		if len(r.flows) >= MaxFlows {
			r.evictOldest()
		}
		s = &session{}
		r.flows[id] = s
	}
	s.seq++
	ex.Seq = s.seq
	ex = ex.withoutClientCredentials()
	if ex.Time.IsZero() {
		ex.Time = r.now()
	}
	s.used = r.now()
	s.exchanges = append(s.exchanges, ex)
	s.bytes += ex.size()
	s.trim()
	return ex.Seq
}

// Update changes a recorded exchange, e.g. to add the answer to a request
// recorded when it arrived.
func (r *Recorder) Update(id string, seq int, change func(*Exchange)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.flows[id]
	if s == nil {
		return
	}
	for i := range s.exchanges {
		if s.exchanges[i].Seq == seq {
			s.bytes -= s.exchanges[i].size()
			change(&s.exchanges[i])
			s.exchanges[i] = s.exchanges[i].withoutClientCredentials()
			s.bytes += s.exchanges[i].size()
			s.trim()
			return
		}
	}
}

// dropOne removes the oldest API call, or else the oldest exchange: the
// steps of the login itself are worth keeping longest.
func dropOne(list []Exchange) ([]Exchange, Exchange) {
	for i, ex := range list {
		if ex.Step == StepAPI || ex.Step == StepDiscovery {
			return append(list[:i], list[i+1:]...), ex
		}
	}
	return list[1:], list[0]
}

func (r *Recorder) evictOldest() {
	var oldest string
	var t time.Time
	for id, s := range r.flows {
		if oldest == "" || s.used.Before(t) {
			oldest, t = id, s.used
		}
	}
	delete(r.flows, oldest)
}

// Last returns the newest exchange of step that matches ok.
func (r *Recorder) Last(id string, step Step, ok func(Exchange) bool) (Exchange, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.flows[id]
	if s == nil {
		return Exchange{}, false
	}
	for i := len(s.exchanges) - 1; i >= 0; i-- {
		if ex := s.exchanges[i]; ex.Step == step && (ok == nil || ok(ex)) {
			return ex, true
		}
	}
	return Exchange{}, false
}

// Exchanges returns a copy of the flow's exchanges, in order.
func (r *Recorder) Exchanges(id string) []Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.flows[id]
	if s == nil {
		return nil
	}
	return append([]Exchange(nil), s.exchanges...)
}

// Reset forgets a flow.
func (r *Recorder) Reset(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.flows, id)
}

// Len is the number of flows kept.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.flows)
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

// secretHeaders are headers whose values are credentials.
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
	secrets := ex.secrets()
	ex = ex.withoutClientCredentials()
	ex.Request = ex.Request.masked()
	ex.Response = ex.Response.masked()
	return ex.replaced(secrets)
}

func (m Message) masked() Message {
	m.Params = maskKVs(m.Params, IsSecret, Mask)
	m.Headers = maskKVs(m.Headers, func(n string) bool { return secretHeaders[strings.ToLower(n)] }, Mask)
	m.Body = maskBody(m.Body, IsSecret, Mask)
	return m
}

// withoutClientCredentials replaces the client's own credentials: HTTP
// Basic client authentication, DPoP proofs (signed with the client's key,
// RFC 9449), and client_secret or client_assertion parameters.
func (ex Exchange) withoutClientCredentials() Exchange {
	for _, m := range []*Message{&ex.Request, &ex.Response} {
		m.Params = maskKVs(m.Params, isClientCredential, func(string) string { return clientCredentialsMark })
		m.Headers = maskKVs(m.Headers, func(n string) bool { return strings.EqualFold(n, "dpop") }, func(string) string { return clientCredentialsMark })
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
	ex.Note = hide(ex.Note)
	for _, m := range []*Message{&ex.Request, &ex.Response} {
		m.URL, m.Body = hide(m.URL), hide(m.Body)
		for _, kvs := range [][]KV{m.Params, m.Headers} {
			for i := range kvs {
				kvs[i].Value = hide(kvs[i].Value)
			}
		}
	}
	return ex
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
