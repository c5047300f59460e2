package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"oauthdemo/authserver/store"
)

// notText are keys that are not store.Text: PostgreSQL's text cannot hold
// them, SQLite's can.
var notText = []string{"\xff", "a\x00b", "\x00", "\xed\xa0\x80" /* a UTF-16 surrogate */}

// testKeysNotText: a lookup by a key no text column can hold finds
// nothing, in every store, rather than failing; and an attempt key may
// be any string.
func testKeysNotText(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, bad := range notText {
		lookups := map[string]error{}
		_, lookups["UserByID"] = s.UserByID(ctx, bad)
		_, lookups["UserByUsername"] = s.UserByUsername(ctx, bad)
		_, lookups["ClientByID"] = s.ClientByID(ctx, bad)
		_, lookups["AuthRequestByID"] = s.AuthRequestByID(ctx, bad)
		_, lookups["GrantByID"] = s.GrantByID(ctx, bad)
		_, lookups["ConsentFor"] = s.ConsentFor(ctx, bad, bad)
		_, lookups["PhotoByID"] = s.PhotoByID(ctx, bad, bad)
		_, lookups["PhotoData"] = s.PhotoData(ctx, bad, bad, 1<<20)
		_, lookups["DeviceAuthorizationByUserCode"] = s.DeviceAuthorizationByUserCode(ctx, bad)
		_, lookups["UserByUpstream"] = s.UserByUpstream(ctx, bad, bad)
		lookups["DeletePhoto"] = s.DeletePhoto(ctx, bad, bad)
		lookups["DeleteAuthRequest"] = s.DeleteAuthRequest(ctx, bad)
		lookups["SetUserDisabled"] = s.SetUserDisabled(ctx, bad, true, now)
		lookups["DeleteClient"] = s.DeleteClient(ctx, bad, now)
		lookups["DeleteUser"] = s.DeleteUser(ctx, bad, now)
		for name, err := range lookups {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s(%q) = %v, want ErrNotFound", name, bad, err)
			}
		}

		key := "account:" + bad
		id, wait, err := s.ReserveAttempt(ctx, key, 1, time.Minute, now)
		if err != nil || wait != 0 {
			t.Fatalf("ReserveAttempt(%q) = %v, %v; want it counted", key, wait, err)
		}
		if _, wait, err := s.ReserveAttempt(ctx, key, 1, time.Minute, now); err != nil || wait == 0 {
			t.Fatalf("a second ReserveAttempt(%q) = %v, %v; want it refused, over the limit of 1", key, wait, err)
		}
		must(t, s.ReleaseAttempt(ctx, key, id))
		if _, wait, err := s.ReserveAttempt(ctx, key, 1, time.Minute, now); err != nil || wait != 0 {
			t.Fatalf("ReserveAttempt(%q) after a release = %v, %v; want it counted", key, wait, err)
		}
		must(t, s.ResetAttempts(ctx, key))
	}
}
