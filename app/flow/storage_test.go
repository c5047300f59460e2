package flow_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"oauthdemo/app/flow"
	"oauthdemo/app/flow/flowtest"
)

func TestMemory(t *testing.T) {
	flowtest.Run(t, func(*testing.T) flow.Storage { return flow.NewMemory() })
}

// BenchmarkMemoryAppend records an API call into a flow kept at its bounds;
// app/postgres has the same for PostgreSQL.
func BenchmarkMemoryAppend(b *testing.B) {
	s := flow.NewMemory()
	ctx := context.Background()
	ex := flow.Exchange{Step: flow.StepAPI, Channel: "back channel (server to server)",
		Request:  flow.Message{Method: "GET", URL: "http://127.0.0.1:9090/api/photos", Headers: []flow.KV{{Name: "Authorization", Value: "Bearer eyJhbGciOiJFUzI1NiJ9.payload.signature"}}},
		Response: flow.Message{Status: 200, Body: strings.Repeat(`{"id":"p1","title":"Sunset over the sea"},`, 40)}}
	for i := range flow.MaxExchanges {
		if _, err := s.Append(ctx, fmt.Sprint("other-", i), ex, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if _, err := s.Append(ctx, "f", ex, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
