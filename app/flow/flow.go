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
	"code": true, "code_verifier": true, "client_secret": true, "access_token": true,
	"refresh_token": true, "id_token": true, "token": true, "logout_token": true,
	"id_token_hint": true, "_csrf": true, "password": true,
}

// secretHeaders are headers whose values are credentials.
var secretHeaders = map[string]bool{"authorization": true, "cookie": true, "set-cookie": true}

// IsSecret reports whether a parameter's value must be masked.
func IsSecret(name string) bool { return secretParams[strings.ToLower(name)] }

// Mask hides all of a secret but a short prefix, and says how long it was.
func Mask(v string) string {
	if v == "" {
		return ""
	}
	if len(v) <= 8 {
		return "•••• (" + strconv.Itoa(len(v)) + " chars)"
	}
	return v[:6] + "…•••• (" + strconv.Itoa(len(v)) + " chars)"
}

// Masked returns the exchange with every secret masked: parameter values,
// credential headers, and token members of JSON bodies.
func (ex Exchange) Masked() Exchange {
	ex.Request = ex.Request.masked()
	ex.Response = ex.Response.masked()
	return ex
}

func (m Message) masked() Message {
	m.Params = maskKVs(m.Params, IsSecret)
	m.Headers = maskKVs(m.Headers, func(n string) bool { return secretHeaders[strings.ToLower(n)] })
	m.Body = maskBody(m.Body)
	return m
}

func maskKVs(in []KV, secret func(string) bool) []KV {
	out := make([]KV, len(in))
	for i, kv := range in {
		if secret(kv.Name) {
			if strings.EqualFold(kv.Name, "authorization") {
				scheme, cred, ok := strings.Cut(kv.Value, " ")
				if ok {
					kv.Value = scheme + " " + Mask(cred)
					out[i] = kv
					continue
				}
			}
			kv.Value = Mask(kv.Value)
		}
		out[i] = kv
	}
	return out
}

// maskBody masks secrets in a form or JSON body, leaving the rest readable.
func maskBody(body string) string {
	trimmed := strings.TrimSpace(body)
	if strings.HasPrefix(trimmed, "{") {
		return maskJSON(body)
	}
	if vals, err := url.ParseQuery(body); err == nil && strings.Contains(body, "=") && !strings.ContainsAny(body, " \n<") {
		var kvs []KV
		for k, vs := range vals {
			for _, v := range vs {
				kvs = append(kvs, KV{k, v})
			}
		}
		sort.Slice(kvs, func(i, j int) bool { return kvs[i].Name < kvs[j].Name })
		kvs = maskKVs(kvs, IsSecret)
		q := url.Values{}
		for _, kv := range kvs {
			q.Add(kv.Name, kv.Value)
		}
		return strings.ReplaceAll(q.Encode(), "&", "&\n")
	}
	return body
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
