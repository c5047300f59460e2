package main

// The operator's command line: users, clients and keys, on the same
// database the server uses. These commands talk to storage directly, as an
// administrator on the server's machine would.

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/outbound"
	"oauthdemo/authserver/password"
	"oauthdemo/authserver/signing"
	"oauthdemo/authserver/store"
)

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// subcommand parses flags for "authserver <noun> <verb>" and opens the store.
func subcommand(ctx context.Context, noun string, args []string, getenv func(string) string, stderr io.Writer, define func(*flag.FlagSet)) (string, ownedStore, error) {
	if len(args) == 0 {
		return "", nil, fmt.Errorf("usage: authserver %s <command> [flags]", noun)
	}
	verb := args[0]
	fs := flag.NewFlagSet(noun+" "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	// The database is the server's, found by serve's own settings: the
	// flags, their IMAGEHOST_* variables, their defaults.
	var cfg Config
	database := slices.DeleteFunc(configVars(&cfg), func(v configVar) bool { return v.flag != "data-dir" && v.flag != "database-url" })
	if err := bindConfig(fs, database, getenv); err != nil {
		return "", nil, err
	}
	define(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return "", nil, err
	}
	if fs.NArg() > 0 {
		return "", nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	st, err := openStore(ctx, cfg.DatabaseURL, cfg.DataDir, slog.New(slog.NewTextHandler(stderr, nil)))
	return verb, st, err
}

func usersCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	var username, name, email string
	var admin, off bool
	verb, st, err := subcommand(ctx, "users", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&username, "username", "", "login name")
		fs.StringVar(&name, "name", "", "display name (add)")
		fs.StringVar(&email, "email", "", "email address (add)")
		fs.BoolVar(&admin, "admin", false, "add: an admin, who sees the class view and manages attendees and the join code")
		fs.BoolVar(&off, "off", false, "set-admin: take the admin's rights away instead")
	})
	if err != nil {
		return err
	}
	defer st.Close()
	switch verb {
	case "add":
		if username == "" {
			return errors.New("users add: -username is required; the password is read from standard input")
		}
		if len(username) > maxUsernameLength {
			return fmt.Errorf("users add: a username has at most %d characters", maxUsernameLength)
		}
		pw, err := bufio.NewReader(stdin).ReadString('\n')
		pw = strings.TrimRight(pw, "\r\n")
		if (err != nil && err != io.EOF) || len(pw) < 8 {
			return errors.New("users add: give a password of at least 8 characters on standard input")
		}
		if name == "" {
			name = username
		}
		u := store.User{ID: oauth.NewID(), Username: username, PasswordHash: password.Hash(pw), Name: name, Email: email, CreatedAt: time.Now(), Admin: admin}
		if err := st.CreateUser(ctx, u); errors.Is(err, store.ErrDuplicate) {
			return fmt.Errorf("users add: the username %q is taken (usernames are one name in any case of A to Z)", username)
		} else if err != nil {
			return fmt.Errorf("users add: %w", err)
		}
		kind := "user"
		if admin {
			kind = "admin"
		}
		fmt.Fprintf(stdout, "added %s %s (sub %s)\n", kind, username, u.ID)
	case "list":
		users, err := st.ListUsers(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tSUB\tNAME\tEMAIL\tROLE")
		for _, u := range users {
			var role []string
			if u.Admin {
				role = append(role, "admin")
			}
			if !u.JoinedAt.IsZero() {
				role = append(role, "joined "+u.JoinedAt.Format(time.DateOnly))
			}
			if u.Disabled() {
				role = append(role, "disabled")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Username, u.ID, u.Name, u.Email, strings.Join(role, ","))
		}
		return tw.Flush()
	case "remove":
		u, err := st.UserByUsername(ctx, username)
		if err != nil {
			return fmt.Errorf("users remove %q: %w", username, err)
		}
		if err := st.DeleteUser(ctx, u.ID, time.Now()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed user %s (a running server refuses their access tokens within a second)\n", username)
	case "set-admin":
		u, err := st.UserByUsername(ctx, username)
		if err != nil {
			return fmt.Errorf("users set-admin %q: %w", username, err)
		}
		if err := st.SetUserAdmin(ctx, u.ID, !off); err != nil {
			return fmt.Errorf("users set-admin %q: %w", username, err)
		}
		if off {
			fmt.Fprintf(stdout, "%s is no longer an admin\n", username)
		} else {
			fmt.Fprintf(stdout, "%s is an admin: they see the class view (/class) and manage attendees and the join code\n", username)
		}
	case "disable", "enable":
		u, err := st.UserByUsername(ctx, username)
		if err != nil {
			return fmt.Errorf("users %s %q: %w", verb, username, err)
		}
		if err := st.SetUserDisabled(ctx, u.ID, verb == "disable", time.Now()); err != nil {
			return fmt.Errorf("users %s %q: %w", verb, username, err)
		}
		if verb == "disable" {
			fmt.Fprintf(stdout, "disabled user %s: signed out, grants revoked (a running server refuses their access tokens within a second)\n", username)
		} else {
			fmt.Fprintf(stdout, "enabled user %s: they may sign in again\n", username)
		}
	default:
		return fmt.Errorf("unknown command users %q (want add, list, remove, set-admin, disable or enable)", verb)
	}
	return nil
}

func clientsCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var id, name, scope, backchannel string
	var public, resourceServer, off bool
	var ttl time.Duration
	var redirects, postLogout, grants stringList
	verb, st, err := subcommand(ctx, "clients", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "client_id (add: generated when empty)")
		fs.StringVar(&name, "name", "", "name shown on the consent page")
		fs.StringVar(&scope, "scope", "", "scopes the client may ask for (default: all)")
		fs.StringVar(&backchannel, "backchannel-logout-uri", "", "where to post logout tokens")
		fs.BoolVar(&public, "public", false, "a public client: no secret, PKCE required")
		fs.BoolVar(&resourceServer, "resource-server", false, "add: a resource server, which may introspect every client's tokens (RFC 7662 §4)")
		fs.BoolVar(&off, "off", false, "set-resource-server: clear the flag instead")
		fs.DurationVar(&ttl, "access-token-ttl", 0, "access token lifetime for this client (default: the server's)")
		fs.Var(&redirects, "redirect-uri", "registered redirect URI (repeatable)")
		fs.Var(&postLogout, "post-logout-redirect-uri", "registered post-logout redirect URI (repeatable)")
		fs.Var(&grants, "grant-type", "allowed grant type (repeatable; default authorization_code and refresh_token)")
	})
	if err != nil {
		return err
	}
	defer st.Close()
	switch verb {
	case "add":
		md := clientMetadata{RedirectURIs: redirects, PostLogoutRedirectURIs: postLogout, GrantTypes: grants,
			ClientName: name, Scope: scope, BackchannelLogoutURI: backchannel, TokenEndpointAuthMethod: "client_secret_basic"}
		if len(md.GrantTypes) == 0 {
			md.GrantTypes = []string{"authorization_code", "refresh_token"}
		}
		if public {
			md.TokenEndpointAuthMethod = "none"
		}
		// The operator may name any address; the running server still
		// checks it against its own policy at every call.
		c, e := newClientFromMetadata(&md, outbound.Policy{AllowLoopback: true, AllowLAN: true})
		if e != nil {
			return fmt.Errorf("clients add: %s", e.Description)
		}
		if ttl < 0 || ttl > 24*time.Hour {
			return errors.New("clients add: -access-token-ttl must be between 0 and 24h")
		}
		if resourceServer && public {
			return errors.New("clients add: a resource server must authenticate to introspect; it cannot be -public")
		}
		c.ID, c.AccessTokenTTL, c.ResourceServer, c.CreatedAt = id, ttl, resourceServer, time.Now()
		if c.ID == "" {
			c.ID = oauth.NewID()
		}
		secret := ""
		if !public {
			secret = oauth.NewToken()
			c.SecretHash = oauth.HashToken(secret)
		}
		if err := st.CreateClient(ctx, c); err != nil {
			return fmt.Errorf("clients add: %w", err)
		}
		fmt.Fprintf(stdout, "added client %s\n", c.ID)
		if secret != "" {
			fmt.Fprintf(stdout, "client secret (shown only now): %s\n", secret)
		}
	case "list":
		clients, err := st.ListClients(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT_ID\tNAME\tTYPE\tGRANTS\tREDIRECT URIS")
		for _, c := range clients {
			kind := "confidential"
			if c.Public() {
				kind = "public"
			}
			if c.ResourceServer {
				kind += ",resource-server"
			}
			if !c.ExpiresAt.IsZero() { // registered at /register
				kind += ",expires " + c.ExpiresAt.Format(time.DateOnly)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, kind, strings.Join(c.GrantTypes, ","), strings.Join(c.RedirectURIs, " "))
		}
		return tw.Flush()
	case "set-resource-server":
		// Only the operator decides which clients are resource servers;
		// registration and the developer console never can.
		c, err := st.ClientByID(ctx, id)
		if err != nil {
			return fmt.Errorf("clients set-resource-server %q: %w", id, err)
		}
		if c.Public() && !off {
			return fmt.Errorf("clients set-resource-server %q: a public client cannot authenticate to introspect", id)
		}
		if err := st.SetClientResourceServer(ctx, id, !off); err != nil {
			return fmt.Errorf("clients set-resource-server %q: %w", id, err)
		}
		if off {
			fmt.Fprintf(stdout, "client %s is no longer a resource server: introspection tells it about its own tokens only\n", id)
		} else {
			fmt.Fprintf(stdout, "client %s is a resource server: introspection tells it about every client's tokens\n", id)
		}
	case "remove":
		if err := st.DeleteClient(ctx, id, time.Now()); err != nil {
			return fmt.Errorf("clients remove %q: %w", id, err)
		}
		fmt.Fprintf(stdout, "removed client %s (a running server refuses its access tokens within a second)\n", id)
	default:
		return fmt.Errorf("unknown command clients %q (want add, list, set-resource-server or remove)", verb)
	}
	return nil
}

func keysCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	verb, st, err := subcommand(ctx, "keys", args, getenv, stderr, func(*flag.FlagSet) {})
	if err != nil {
		return err
	}
	defer st.Close()
	switch verb {
	case "rotate":
		now, publishFor := time.Now(), keyPublishDelay(st)
		if err := signing.Rotate(ctx, st, now, publishFor); err != nil {
			return fmt.Errorf("keys rotate: %w", err)
		}
		if publishFor > 0 {
			fmt.Fprintf(stdout, "new keys made: every running server publishes them within %v and signs with them from %s, when the old ones retire; the old ones verify until their tokens expire\n",
				followKeysEvery, now.Add(publishFor).Format(time.RFC3339))
		} else {
			fmt.Fprintf(stdout, "new keys made: the running server publishes and signs with them within %v; the old ones verify until their tokens expire\n", followKeysEvery)
		}
		fallthrough
	case "list":
		keys, err := st.SigningKeys(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KID\tALG\tCREATED\tRETIRED")
		for _, k := range keys {
			retired := "-"
			if !k.RetiredAt.IsZero() {
				retired = k.RetiredAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.CreatedAt.Format(time.RFC3339), retired)
		}
		return tw.Flush()
	default:
		return fmt.Errorf("unknown command keys %q (want rotate or list)", verb)
	}
}
