// Package flowtest is the contract of flow.Storage: a conformance suite
// that every implementation must pass unchanged.
//
//	func TestStorage(t *testing.T) {
//		flowtest.Run(t, func(t *testing.T) flow.Storage { return openFresh(t) })
//	}
package flowtest

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"oauthdemo/app/flow"
)

// Run runs the suite; newStorage must return an empty storage for each call.
func Run(t *testing.T, newStorage func(t *testing.T) flow.Storage) {
	tests := []struct {
		name string
		fn   func(*testing.T, flow.Storage)
	}{
		{"append and read", testAppend},
		{"replace", testReplace},
		{"reset", testReset},
		{"bounds", testBounds},
		{"bounds under a burst of appends to one flow", testBurstOneFlow},
		{"bounds under a burst of new flows", testBurstNewFlows},
		{"text that is not UTF-8, and NUL", testOddText},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStorage(t)) })
	}
}

// t0 has a non-UTC zone and nanoseconds on purpose.
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func appendEx(t *testing.T, s flow.Storage, id string, ex flow.Exchange) int {
	t.Helper()
	seq, err := s.Append(context.Background(), id, ex, time.Now())
	must(t, err)
	return seq
}

func exchanges(t *testing.T, s flow.Storage, id string) []flow.Exchange {
	t.Helper()
	list, err := s.Exchanges(context.Background(), id)
	must(t, err)
	return list
}

func length(t *testing.T, s flow.Storage) int {
	t.Helper()
	n, err := s.Len(context.Background())
	must(t, err)
	return n
}

// same reports whether two exchanges are equal, their times as instants.
func same(a, b flow.Exchange) bool {
	if !a.Time.Equal(b.Time) {
		return false
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func testAppend(t *testing.T, s flow.Storage) {
	token := flow.Exchange{Step: flow.StepToken, Channel: "back channel (server to server)", Time: t0, Duration: 1234567 * time.Nanosecond,
		Request: flow.Message{Method: "POST", URL: "http://127.0.0.1:9090/token", Params: []flow.KV{{Name: "code", Value: "c0de"}, {Name: "grant_type", Value: "authorization_code"}},
			Headers: []flow.KV{{Name: "Content-Type", Value: "application/x-www-form-urlencoded"}}, Body: "code=c0de&grant_type=authorization_code"},
		Response: flow.Message{Status: 200, Headers: []flow.KV{{Name: "Cache-Control", Value: "no-store"}},
			Body: "{\n  \"access_token\": \"eyJ…\",\n  \"note\": \"ünïcödé, \\u0000 and <html>\"\n}"},
		Note: "a note"}
	callback := flow.Exchange{Step: flow.StepCallback, Channel: "front channel (browser)", Time: t0.Add(time.Second),
		Request: flow.Message{Method: "GET", URL: "http://localhost:8080/callback", Params: []flow.KV{{Name: "state", Value: "s"}}}}
	for i, ex := range []flow.Exchange{callback, token} {
		if seq := appendEx(t, s, "f", ex); seq != i+1 {
			t.Fatalf("exchange %d was numbered %d", i+1, seq)
		}
	}
	if seq := appendEx(t, s, "other", callback); seq != 1 {
		t.Fatalf("another flow's first exchange was numbered %d, want 1", seq)
	}
	got := exchanges(t, s, "f")
	callback.Seq, token.Seq = 1, 2
	if len(got) != 2 || !same(got[0], callback) || !same(got[1], token) {
		t.Fatalf("Exchanges =\n%+v\nwant\n%+v", got, []flow.Exchange{callback, token})
	}
	if list := exchanges(t, s, "nobody"); len(list) != 0 {
		t.Fatalf("an unknown flow has %d exchanges", len(list))
	}
	if n := length(t, s); n != 2 {
		t.Fatalf("Len = %d, want 2", n)
	}
}

func testReplace(t *testing.T, s flow.Storage) {
	ctx := context.Background()
	seq := appendEx(t, s, "f", flow.Exchange{Step: flow.StepCallback, Request: flow.Message{Method: "GET"}})
	appendEx(t, s, "f", flow.Exchange{Step: flow.StepToken})
	answered := flow.Exchange{Seq: seq, Step: flow.StepCallback, Request: flow.Message{Method: "GET"},
		Response: flow.Message{Status: 303}, Note: "answered"}
	must(t, s.Replace(ctx, "f", answered))
	got := exchanges(t, s, "f")
	if len(got) != 2 || !same(got[0], answered) || got[1].Step != flow.StepToken {
		t.Fatalf("after Replace: %+v", got)
	}
	// Replacing what is not kept changes nothing.
	must(t, s.Replace(ctx, "f", flow.Exchange{Seq: 99, Note: "ghost"}))
	must(t, s.Replace(ctx, "nobody", flow.Exchange{Seq: 1, Note: "ghost"}))
	if got := exchanges(t, s, "f"); len(got) != 2 || length(t, s) != 1 {
		t.Fatalf("a Replace of nothing added something: %+v", got)
	}
	// A Replace that makes the flow too large trims it.
	big := strings.Repeat("x", flow.MaxFlowBytes)
	must(t, s.Replace(ctx, "f", flow.Exchange{Seq: 2, Step: flow.StepToken, Response: flow.Message{Body: big}}))
	if got := exchanges(t, s, "f"); len(got) != 1 || got[0].Seq != 2 {
		t.Fatalf("after a Replace past MaxFlowBytes: %d exchanges, want the replaced one alone", len(got))
	}
}

func testReset(t *testing.T, s flow.Storage) {
	ctx := context.Background()
	appendEx(t, s, "f", flow.Exchange{Step: flow.StepConnect})
	appendEx(t, s, "g", flow.Exchange{Step: flow.StepConnect})
	must(t, s.Reset(ctx, "f"))
	must(t, s.Reset(ctx, "nobody"))
	if len(exchanges(t, s, "f")) != 0 || len(exchanges(t, s, "g")) != 1 || length(t, s) != 1 {
		t.Fatal("Reset forgot the wrong flows")
	}
	// A flow started again is numbered from 1 again.
	if seq := appendEx(t, s, "f", flow.Exchange{Step: flow.StepConnect}); seq != 1 {
		t.Fatalf("a reset flow's first exchange was numbered %d", seq)
	}
}

func testBounds(t *testing.T, s flow.Storage) {
	ctx := context.Background()
	// Flows: the least recently used goes first.
	for i := range flow.MaxFlows {
		_, err := s.Append(ctx, fmt.Sprint("flow-", i), flow.Exchange{Step: flow.StepConnect}, t0.Add(time.Duration(i)*time.Second))
		must(t, err)
	}
	_, err := s.Append(ctx, "flow-0", flow.Exchange{Step: flow.StepAuthorize}, t0.Add(time.Hour)) // flow-0 is used again
	must(t, err)
	for i := range 10 {
		_, err := s.Append(ctx, fmt.Sprint("new-", i), flow.Exchange{Step: flow.StepConnect}, t0.Add(2*time.Hour))
		must(t, err)
	}
	if n := length(t, s); n != flow.MaxFlows {
		t.Fatalf("%d flows kept, want %d", n, flow.MaxFlows)
	}
	if len(exchanges(t, s, "flow-0")) != 2 || len(exchanges(t, s, "flow-1")) != 0 || len(exchanges(t, s, "flow-11")) != 1 {
		t.Fatal("the flows dropped were not the least recently used")
	}

	// Exchanges: API calls go before the steps of the login.
	appendEx(t, s, "busy", flow.Exchange{Step: flow.StepAuthorize})
	for range flow.MaxExchanges + 20 {
		appendEx(t, s, "busy", flow.Exchange{Step: flow.StepAPI})
	}
	got := exchanges(t, s, "busy")
	if len(got) != flow.MaxExchanges || got[0].Step != flow.StepAuthorize || got[len(got)-1].Seq != flow.MaxExchanges+21 {
		t.Fatalf("%d exchanges kept, first %q: want %d, with the login step kept over API calls", len(got), got[0].Step, flow.MaxExchanges)
	}
	// With no API call left, the oldest goes.
	for range flow.MaxExchanges {
		appendEx(t, s, "login", flow.Exchange{Step: flow.StepCallback})
	}
	appendEx(t, s, "login", flow.Exchange{Step: flow.StepToken})
	if got := exchanges(t, s, "login"); len(got) != flow.MaxExchanges || got[0].Seq != 2 {
		t.Fatalf("without API calls, the oldest was not the one dropped: first kept %d", got[0].Seq)
	}

	// Bytes: a flow of large callbacks (an attacker's query strings) keeps
	// at most MaxFlowBytes, and the newest exchange whatever its size.
	big := strings.Repeat("x", 60<<10)
	for range 40 {
		appendEx(t, s, "large", flow.Exchange{Step: flow.StepCallback, Request: flow.Message{Params: []flow.KV{{Name: "x", Value: big}}}})
	}
	if total := flowBytes(exchanges(t, s, "large")); total > flow.MaxFlowBytes || total < flow.MaxFlowBytes-(61<<10) {
		t.Fatalf("a flow holds %d KiB, want at most %d KiB and not much less", total>>10, flow.MaxFlowBytes>>10)
	}
	appendEx(t, s, "huge", flow.Exchange{Step: flow.StepAPI})
	appendEx(t, s, "huge", flow.Exchange{Step: flow.StepCallback, Request: flow.Message{Body: strings.Repeat("y", flow.MaxFlowBytes+1)}})
	if got := exchanges(t, s, "huge"); len(got) != 1 || got[0].Seq != 2 {
		t.Fatalf("a flow whose newest exchange is over MaxFlowBytes keeps %d exchanges, want that one alone", len(got))
	}
}

func flowBytes(list []flow.Exchange) int {
	n := 0
	for _, ex := range list {
		n += ex.Size()
	}
	return n
}

// burst runs n calls of fn at once, released together, and returns the
// first error.
func burst(n int, fn func(i int) error) error {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			errs <- fn(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// testBurstOneFlow: many appends to one flow at once, as a page's many
// requests would make, each as large as a body may be: every exchange gets
// its own number, and the flow ends within both of its bounds exactly.
func testBurstOneFlow(t *testing.T, s flow.Storage) {
	const n = flow.MaxExchanges + 40
	body := strings.Repeat("b", 16<<10)
	seqs := make([]int, n)
	must(t, burst(n, func(i int) (err error) {
		ex := flow.Exchange{Step: flow.StepCallback}
		if i%4 == 0 {
			ex.Response.Body = body
		}
		seqs[i], err = s.Append(context.Background(), "f", ex, time.Now())
		return err
	}))
	seen := map[int]bool{}
	for _, seq := range seqs {
		if seq < 1 || seq > n || seen[seq] {
			t.Fatalf("numbers given under a burst: %v", seqs)
		}
		seen[seq] = true
	}
	got := exchanges(t, s, "f")
	if len(got) > flow.MaxExchanges || flowBytes(got) > flow.MaxFlowBytes {
		t.Fatalf("after a burst a flow keeps %d exchanges, %d KiB: over its bounds", len(got), flowBytes(got)>>10)
	}
	if got[len(got)-1].Seq != n {
		t.Fatalf("the newest exchange, %d, was dropped", n)
	}
}

// testBurstNewFlows: with the flows full, many browsers start a flow at
// once, three times over; exactly MaxFlows are kept each time.
func testBurstNewFlows(t *testing.T, s flow.Storage) {
	ctx := context.Background()
	for i := range flow.MaxFlows {
		_, err := s.Append(ctx, fmt.Sprint("old-", i), flow.Exchange{Step: flow.StepConnect}, t0)
		must(t, err)
	}
	const n = 60
	for round := range 3 {
		used := t0.Add(time.Duration(round+1) * time.Hour)
		must(t, burst(n, func(i int) error {
			_, err := s.Append(ctx, fmt.Sprint("new-", round, "-", i), flow.Exchange{Step: flow.StepConnect}, used)
			return err
		}))
		if got := length(t, s); got != flow.MaxFlows {
			t.Fatalf("round %d: after a burst of new flows %d are kept, want %d", round, got, flow.MaxFlows)
		}
		for i := range n {
			if len(exchanges(t, s, fmt.Sprint("new-", round, "-", i))) != 1 {
				t.Fatalf("round %d: new flow %d, newer than every other flow, was dropped", round, i)
			}
		}
	}
}

// testOddText: a callback's query, a response's body, are whatever the
// other side sent, NUL and bytes that are not UTF-8 among them (PostgreSQL's
// text holds neither). The exchange is kept all the same: its NULs as
// they were, bytes that are not UTF-8 as they were or as U+FFFD.
func testOddText(t *testing.T, s flow.Storage) {
	odd := "a\x00b\xffc\xed\xa0\x80d"
	ex := flow.Exchange{Step: flow.StepCallback, Channel: "front channel (browser)", Time: t0,
		Request:  flow.Message{Method: "GET", URL: "http://localhost:8080/callback" + odd, Params: []flow.KV{{Name: "state" + odd, Value: odd}}},
		Response: flow.Message{Status: 400, Headers: []flow.KV{{Name: "X-Odd", Value: odd}}, Body: odd},
		Note:     odd}
	appendEx(t, s, "f", ex) // flow ids are the app's own, from its sealed session
	got := exchanges(t, s, "f")
	ex.Seq = 1
	if len(got) != 1 || !same(replaced(got[0]), replaced(ex)) {
		t.Fatalf("Exchanges =\n%+v\nwant\n%+v", got, []flow.Exchange{ex})
	}
	ex.Note = "replaced " + odd
	must(t, s.Replace(context.Background(), "f", ex))
	if got := exchanges(t, s, "f"); len(got) != 1 || !same(replaced(got[0]), replaced(ex)) {
		t.Fatalf("after Replace, Exchanges =\n%+v\nwant\n%+v", got, []flow.Exchange{ex})
	}
}

// replaced is ex with each byte of its strings that is not UTF-8 as
// U+FFFD, as encoding/json writes them.
func replaced(ex flow.Exchange) flow.Exchange {
	r := func(s string) string {
		var b strings.Builder
		for _, c := range s { // a byte that is not UTF-8 ranges as one utf8.RuneError
			b.WriteRune(c)
		}
		return b.String()
	}
	kvs := func(l []flow.KV) []flow.KV {
		out := make([]flow.KV, len(l))
		for i, kv := range l {
			out[i] = flow.KV{Name: r(kv.Name), Value: r(kv.Value)}
		}
		return out
	}
	msg := func(m flow.Message) flow.Message {
		m.Method, m.URL, m.Body, m.Params, m.Headers = r(m.Method), r(m.URL), r(m.Body), kvs(m.Params), kvs(m.Headers)
		return m
	}
	ex.Channel, ex.Note, ex.Request, ex.Response = r(ex.Channel), r(ex.Note), msg(ex.Request), msg(ex.Response)
	return ex
}
