package main

// The demo's secrets on a network. demo.env's passwords, client secrets and
// initial access token are published in the repository, so anyone who can
// reach a demo served beyond this machine could use them. When ImageHost
// serves the demo on a non-loopback address, it refuses them: it generates
// its own, prints them once, and keeps them in its data directory
// (demo-secrets, in demo.env's format) so that a restart keeps them and
// PhotoEditorApp, started by the same `go tool task demo`, can read its
// client secrets there (PHOTOEDITOR_DEMO_SECRETS). Once a data directory
// has generated secrets, the demo uses them on loopback too: its database
// holds them.
//
// Listening on loopback is not the whole story: a reverse proxy on the same
// machine can carry a loopback demo to the network. So while the published
// values are in use, each is good only for a local request, one from this
// machine's own browser or programs that no proxy passed on
// (clientaddr.go); from anywhere else it is refused (publishedSecrets).

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/password"
	"oauthdemo/authserver/store"
)

// demoSecretsFile is the file in the data directory that keeps them.
const demoSecretsFile = "demo-secrets"

// demoSecrets says where the demo's secrets come from.
type demoSecrets struct {
	// file is where generated secrets are kept; "" when the demo uses the
	// configured (published) ones.
	file string
	// fresh holds the values generated on this start: printed this once.
	fresh map[string]bool
	// published are the configured demo passwords, by username: on a
	// network, a demo user who still has one gets the generated one.
	published map[string]string
}

// show returns a secret for the start-up output, or where it is kept if it
// was printed on an earlier start.
func (d demoSecrets) show(v string) string {
	if d.file == "" || d.fresh[v] {
		return v
	}
	return "(in " + demoSecretsFile + ")"
}

// withDemoSecrets returns cfg with generated demo secrets in place of the
// configured ones when ImageHost listens beyond loopback, or generated them
// before in this data directory.
func withDemoSecrets(cfg Config) (Config, demoSecrets, error) {
	file := filepath.Join(cfg.DataDir, demoSecretsFile)
	kept, err := readEnvFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist) && loopbackOnly(cfg.Addr):
		cfg.demoPublished = true
		return cfg, demoSecrets{}, nil // demo.env's values, on this machine only
	case errors.Is(err, fs.ErrNotExist):
		kept = map[string]string{}
	case err != nil:
		return cfg, demoSecrets{}, err
	}
	d := demoSecrets{file: file, fresh: map[string]bool{}, published: map[string]string{}}
	value := func(key string, generate func() string) string {
		if kept[key] == "" {
			kept[key] = generate()
			d.fresh[kept[key]] = true
		}
		return kept[key]
	}

	// The same names as configured, each with a password of its own.
	users := map[string]string{}
	for _, entry := range strings.Split(kept["IMAGEHOST_DEMO_USERS"], ",") {
		if name, pw, ok := strings.Cut(entry, ":"); ok {
			users[name] = pw
		}
	}
	var entries []string
	for _, entry := range strings.Split(cfg.DemoUsers, ",") {
		name, pw, ok := strings.Cut(strings.TrimSpace(entry), ":")
		if !ok || name == "" || pw == "" {
			continue
		}
		d.published[name] = pw
		if users[name] == "" {
			users[name] = newDemoPassword()
			d.fresh[users[name]] = true
		}
		entries = append(entries, name+":"+users[name])
	}
	kept["IMAGEHOST_DEMO_USERS"] = strings.Join(entries, ",")
	cfg.DemoUsers = kept["IMAGEHOST_DEMO_USERS"]
	cfg.DemoAppClientSecret = value("IMAGEHOST_DEMO_APP_CLIENT_SECRET", oauth.NewToken)
	cfg.DemoM2MClientSecret = value("IMAGEHOST_DEMO_M2M_CLIENT_SECRET", oauth.NewToken)
	cfg.DemoExpiryClientSecret = value("IMAGEHOST_DEMO_EXPIRY_CLIENT_SECRET", oauth.NewToken)
	token := value("IMAGEHOST_INITIAL_ACCESS_TOKEN", oauth.NewToken)
	if cfg.InitialAccessToken != "" { // registration stays off if it was
		cfg.InitialAccessToken = token
	}
	// PhotoEditorApp's names for its side of the same secrets, as in demo.env.
	kept["PHOTOEDITOR_CLIENT_SECRET"] = cfg.DemoAppClientSecret
	kept["PHOTOEDITOR_MACHINE_CLIENT_SECRET"] = cfg.DemoM2MClientSecret
	kept["PHOTOEDITOR_EXPIRY_CLIENT_SECRET"] = cfg.DemoExpiryClientSecret

	if len(d.fresh) > 0 {
		if err := writeDemoSecrets(file, cfg.Addr, kept); err != nil {
			return cfg, d, err
		}
	}
	return cfg, d, nil
}

// publishedSecrets are demo.env's published values while the demo uses
// them: the demo users' passwords, the demo clients' secrets and the
// initial access token. Each is refused for a request that is not local.
// The zero value refuses nothing.
type publishedSecrets struct {
	passwords          map[string]string // by username, in lower case
	clientSecrets      map[string]string // by client_id
	initialAccessToken string
}

// publishedSecretsOf returns the published values cfg runs with, if any.
func publishedSecretsOf(cfg Config) publishedSecrets {
	if !cfg.Demo || !cfg.demoPublished {
		return publishedSecrets{}
	}
	p := publishedSecrets{passwords: map[string]string{}, clientSecrets: map[string]string{
		demoAppClientID: cfg.DemoAppClientSecret, demoM2MClientID: cfg.DemoM2MClientSecret,
		demoExpiryClientID: cfg.DemoExpiryClientSecret, demoSSOClientID: cfg.DemoSSOClientSecret},
		initialAccessToken: cfg.InitialAccessToken}
	for _, entry := range strings.Split(cfg.DemoUsers, ",") {
		if name, pw, ok := strings.Cut(strings.TrimSpace(entry), ":"); ok {
			p.passwords[store.FoldUsername(name)] = pw
		}
	}
	return p
}

// refusesPassword reports whether pw is username's published password and
// r is not local.
func (p publishedSecrets) refusesPassword(r *http.Request, username, pw string) bool {
	return published(p.passwords[store.FoldUsername(username)], pw) && !isLocal(r)
}

// refusesClientSecret reports whether secret is clientID's published
// secret and r is not local.
func (p publishedSecrets) refusesClientSecret(r *http.Request, clientID, secret string) bool {
	return published(p.clientSecrets[clientID], secret) && !isLocal(r)
}

// refusesInitialAccessToken reports whether token is the published initial
// access token and r is not local.
func (p publishedSecrets) refusesInitialAccessToken(r *http.Request, token string) bool {
	return published(p.initialAccessToken, token) && !isLocal(r)
}

// published reports whether a presented value is the published one, in
// constant time.
func published(value, presented string) bool {
	return value != "" && subtle.ConstantTimeCompare([]byte(value), []byte(presented)) == 1
}

// resetPublishedPassword gives a demo user who still has the published
// password (seeded on an earlier run on loopback) the generated one.
func resetPublishedPassword(ctx context.Context, st store.Store, d demoSecrets, u store.User, generated string) (bool, error) {
	published, ok := d.published[u.Username]
	if d.file == "" || !ok || published == generated {
		return false, nil
	}
	hasher := password.NewHasher(password.HashMemory, time.Minute, 1)
	if same, err := hasher.Verify(ctx, published, u.PasswordHash); err != nil || !same {
		return false, err
	}
	if err := st.SetUserPassword(ctx, u.ID, password.Hash(generated)); err != nil {
		return false, fmt.Errorf("replace %s's published password: %w", u.Username, err)
	}
	return true, nil
}

// newDemoPassword makes a password an attendee can type: 16 characters
// from 32 that do not look alike (80 bits), in groups of four.
func newDemoPassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
	b := make([]byte, 16)
	rand.Read(b)
	var sb strings.Builder
	for i, c := range b {
		if i > 0 && i%4 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(alphabet[int(c)%len(alphabet)]) // 256 is a multiple of 32: no bias
	}
	return sb.String()
}

// demoSecretsKeys is the order the file lists them in.
var demoSecretsKeys = []string{"IMAGEHOST_DEMO_USERS", "IMAGEHOST_DEMO_APP_CLIENT_SECRET", "IMAGEHOST_DEMO_M2M_CLIENT_SECRET",
	"IMAGEHOST_DEMO_EXPIRY_CLIENT_SECRET", "IMAGEHOST_INITIAL_ACCESS_TOKEN", "PHOTOEDITOR_CLIENT_SECRET",
	"PHOTOEDITOR_MACHINE_CLIENT_SECRET", "PHOTOEDITOR_EXPIRY_CLIENT_SECRET"}

// writeDemoSecrets writes the file readable by its owner only, replacing
// it whole, so that a reader never sees half of it.
func writeDemoSecrets(file, addr string, values map[string]string) error {
	var sb strings.Builder
	fmt.Fprintf(&sb, "# ImageHost's demo secrets, generated because it served the demo on %s,\n", addr)
	sb.WriteString("# beyond this machine, where demo.env's published values would let anyone in.\n")
	sb.WriteString("# ImageHost uses them with this data directory from now on; PhotoEditorApp reads\n")
	sb.WriteString("# its client secrets here (PHOTOEDITOR_DEMO_SECRETS). Delete the data directory\n")
	sb.WriteString("# to start over.\n")
	for _, k := range demoSecretsKeys {
		fmt.Fprintf(&sb, "%s=%s\n", k, values[k])
	}
	tmp := file + ".new"
	if err := os.WriteFile(tmp, []byte(sb.String()), 0o600); err != nil {
		return fmt.Errorf("write demo secrets: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("write demo secrets: %w", err)
	}
	return nil
}

// readEnvFile reads KEY=VALUE lines; # starts a comment line.
func readEnvFile(file string) (map[string]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read demo secrets: %w", err)
	}
	values := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			values[k] = v
		}
	}
	return values, nil
}
