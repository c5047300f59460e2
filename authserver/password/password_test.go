package password

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// newTestHasher has room for n hashes at once.
func newTestHasher(n int, maxWait time.Duration, maxWaiting int) *Hasher {
	return NewHasher(int64(n)*HashMemory, maxWait, maxWaiting)
}

func TestHashAndVerify(t *testing.T) {
	h := Hash("wonderland")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("unexpected hash format %q", h)
	}
	if h == Hash("wonderland") {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	hasher := newTestHasher(2, time.Minute, 2)
	tests := []struct {
		name string
		pw   string
		want bool
	}{
		{"right password", "wonderland", true},
		{"wrong password", "Wonderland", false},
		{"empty password", "", false},
		{"prefix of the password", "wonder", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := hasher.Verify(context.Background(), tc.pw, h)
			if err != nil || ok != tc.want {
				t.Fatalf("Verify(%q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
			}
		})
	}
	made, err := hasher.Hash(context.Background(), "builder")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := hasher.Verify(context.Background(), "builder", made); !ok || err != nil {
		t.Fatalf("a Hasher's own hash does not verify: %v %v", ok, err)
	}
}

func TestVerifyMalformed(t *testing.T) {
	hasher := newTestHasher(2, time.Minute, 2)
	for _, h := range []string{"", "plain", "$2a$10$bcrypt", "$argon2id$v=19$m=x$a$b", "$argon2id$v=19$m=19456,t=2,p=1$!!$AAAA",
		"$argon2id$v=19$m=99999999,t=2,p=1$AAAA$AAAA",
		"$argon2id$v=19$m=65536,t=2,p=1$AAAA$AAAA", // 64 MiB: more than this hasher's whole budget
	} {
		if _, err := hasher.Verify(context.Background(), "pw", h); !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify(%q) error = %v, want ErrMalformed", h, err)
		}
	}
}

// TestHasherBoundsTheQueue: with the budget taken, a burst finds room for
// maxWaiting waiters; the rest are turned away at once, and the waiters run
// once memory is free.
func TestHasherBoundsTheQueue(t *testing.T) {
	hasher := newTestHasher(1, time.Minute, 3)
	hash := Hash("wonderland")
	release, err := hasher.reserve(context.Background(), memoryKiB) // a hash in flight
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	results := make(chan error, n)
	var ready sync.WaitGroup
	start := make(chan struct{})
	for range n {
		ready.Add(1)
		go func() {
			ready.Done()
			<-start
			_, err := hasher.Verify(context.Background(), "wonderland", hash)
			results <- err
		}()
	}
	ready.Wait()
	close(start)
	for i := range n - 3 {
		if err := <-results; !errors.Is(err, ErrBusy) {
			t.Fatalf("answer %d while the budget is taken: %v, want ErrBusy", i+1, err)
		}
	}
	release()
	for range 3 {
		if err := <-results; err != nil {
			t.Fatalf("a waiter, once memory was free: %v", err)
		}
	}
}

// TestHasherWaitIsBounded: a hash that finds no memory waits at most
// maxWait, and no longer than its request's context.
func TestHasherWaitIsBounded(t *testing.T) {
	hash := Hash("wonderland")
	hasher := newTestHasher(1, 50*time.Millisecond, 3)
	release, _ := hasher.reserve(context.Background(), memoryKiB)
	defer release()
	if _, err := hasher.Verify(context.Background(), "wonderland", hash); !errors.Is(err, ErrBusy) {
		t.Fatalf("after maxWait: %v, want ErrBusy", err)
	}

	patient := newTestHasher(1, time.Hour, 3)
	release2, _ := patient.reserve(context.Background(), memoryKiB)
	defer release2()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := patient.Verify(ctx, "wonderland", hash)
		done <- err
	}()
	cancel() // the browser went away
	if err := <-done; !errors.Is(err, ErrBusy) {
		t.Fatalf("with its context cancelled: %v, want ErrBusy", err)
	}
}
