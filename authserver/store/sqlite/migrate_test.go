package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"oauthdemo/authserver/store"
)

// TestRevocationsMigration upgrades a database from before the revocations
// table: what was revoked then (grants, the access-token deny list) is
// revoked after, and access tokens of it stay refused.
func TestRevocationsMigration(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "imagehost.db")
	db, err := sql.Open("sqlite", "file:"+file)
	if err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	sort.Strings(names)
	version := 0
	for _, name := range names {
		if name >= "migrations/0005" {
			break
		}
		body, _ := migrations.ReadFile(name)
		if _, err := db.ExecContext(ctx, string(body)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		version++
	}
	at := time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)
	for _, q := range []string{
		fmt.Sprintf("PRAGMA user_version = %d", version),
		`INSERT INTO users VALUES ('u1', 'alice', 'x', 'Alice', '', '` + fmtTime(at) + `')`,
		`INSERT INTO clients VALUES ('app', NULL, 'App', '[]', '[]', '[]', '', '', 0, '', '` + fmtTime(at) + `')`,
		`INSERT INTO clients VALUES ('console-app', NULL, 'Console', '[]', '[]', '[]', '', '', 0, 'u1', '` + fmtTime(at) + `')`,
		`INSERT INTO grants (id, client_id, user_id, scope, session_id, auth_time, created_at, revoked_at, revoke_reason)
			VALUES ('g-revoked', 'app', 'u1', '', '', '', '', '` + fmtTime(at) + `', 'reuse'),
			       ('g-active', 'app', 'u1', '', '', '', '', '', '')`,
		`INSERT INTO revoked_access_tokens VALUES ('jti1', '` + fmtTime(at.Add(time.Hour)) + `')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := Open(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.RevocationsOf(ctx, []store.RevocationKey{{Kind: store.RevokedGrant, ID: "g-revoked"},
		{Kind: store.RevokedGrant, ID: "g-active"}, {Kind: store.RevokedToken, ID: "jti1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("after the migration: %+v, want the revoked grant and the deny-listed jti", got)
	}
	c, err := s.ClientByID(ctx, "app")
	if err != nil || c.ResourceServer || c.Registrant != "" || !c.ExpiresAt.IsZero() {
		t.Fatalf("an existing client after the migration: %+v, %v; want it kept, not a resource server, the operator's, not expiring", c, err)
	}
	// Version 6: revocations are numbered, and a console client's
	// registrant is its owner.
	numbered, err := s.RevocationsSince(ctx, 0, 10)
	if err != nil || len(numbered) != 2 || numbered[0].Seq <= 0 || numbered[1].Seq <= numbered[0].Seq {
		t.Fatalf("RevocationsSince(0) after the migration = %+v, %v; want both, numbered upwards", numbered, err)
	}
	if c, err := s.ClientByID(ctx, "console-app"); err != nil || c.Registrant != "user:u1" {
		t.Fatalf("a console client after the migration: %+v, %v; want registrant user:u1", c, err)
	}
}

// TestUsernameCaseMigrationNamesTwins: a database from before usernames
// were one name in any case, holding two that differ only in case, is not
// opened: the error names them, so the operator chooses which account
// stays, and nothing is changed. Without twins, the migration takes.
func TestUsernameCaseMigrationNamesTwins(t *testing.T) {
	ctx := context.Background()
	before := func(t *testing.T, users ...string) string {
		file := filepath.Join(t.TempDir(), "imagehost.db")
		db, err := sql.Open("sqlite", "file:"+file)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		names, _ := fs.Glob(migrations, "migrations/*.sql")
		sort.Strings(names)
		version := 0
		for _, name := range names {
			if strings.HasSuffix(name, usernameCaseMigration) {
				break
			}
			body, _ := migrations.ReadFile(name)
			if _, err := db.ExecContext(ctx, string(body)); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			version++
		}
		if _, err := db.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", version)); err != nil {
			t.Fatal(err)
		}
		for _, u := range users {
			if _, err := db.ExecContext(ctx, "INSERT INTO users (id, username, password_hash, name, email, created_at) VALUES (?, ?, '', ?, '', '')", "id-"+u, u, u); err != nil {
				t.Fatal(err)
			}
		}
		return file
	}

	file := before(t, "Teacher", "teacher", "alice", "BOB", "bob", "carol")
	_, err := Open(ctx, file)
	var twins *store.CaseTwinsError
	if !errors.As(err, &twins) || fmt.Sprint(twins.Twins) != "[[BOB bob] [Teacher teacher]]" {
		t.Fatalf("opening a database with case twins: %v; want a CaseTwinsError naming BOB and bob, Teacher and teacher", err)
	}
	if !strings.Contains(err.Error(), "BOB and bob; Teacher and teacher") {
		t.Fatalf("the error does not name the twins: %v", err)
	}

	s, err := Open(ctx, before(t, "Teacher", "alice"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if u, err := s.UserByUsername(ctx, "teacher"); err != nil || u.Username != "Teacher" {
		t.Fatalf("after the migration, teacher finds %+v, %v", u, err)
	}
}
