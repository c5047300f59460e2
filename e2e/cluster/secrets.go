package cluster

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The demo's clients, as ImageHost's demo seeds them.
const (
	AppClientID     = "photoeditorapp"
	MachineClientID = "photo-sync"
	ExpiryClientID  = "photoeditorapp-expiry"
)

// DemoUsers are the demo's users, alice and bob, with their photos.
var DemoUsers = []string{"alice", "bob"}

// Secrets are the demo's secrets in a cluster: ImageHost's users'
// passwords, client secrets and registration token, in the file that
// ImageHost keeps its generated demo secrets in (demo-secrets in its data
// directory, demo.env's format); and PhotoEditorApp's session cookie keys,
// in the file where the app keeps the keys it generated (session-keys in
// its data directory). With that file, ImageHost takes them as its own,
// not as demo.env's published values, which it refuses to anyone but this
// machine's browser with no proxy between.
type Secrets struct {
	// Passwords of the demo's users, by name.
	Passwords map[string]string
	// The demo clients' secrets.
	AppClientSecret, MachineClientSecret, ExpiryClientSecret string
	// InitialAccessToken is the bearer token of /register.
	InitialAccessToken string
	// The session cookie's keys, hex: 64 bytes to authenticate, 32 to
	// encrypt.
	SessionAuthKey, SessionEncryptionKey string
}

// File names in the data directories, as each party names them.
const (
	demoSecretsFile = "demo-secrets"
	sessionKeysFile = "session-keys"
)

// users is the demo's users in IMAGEHOST_DEMO_USERS's form.
func (s Secrets) users() string {
	var entries []string
	for _, name := range DemoUsers {
		if pw := s.Passwords[name]; pw != "" {
			entries = append(entries, name+":"+pw)
		}
	}
	return strings.Join(entries, ",")
}

// imageHostEnv are ImageHost's settings for the secrets: the same as the
// file, which wins anyway.
func (s Secrets) imageHostEnv() []string {
	return []string{
		"IMAGEHOST_DEMO_USERS=" + s.users(),
		"IMAGEHOST_DEMO_APP_CLIENT_SECRET=" + s.AppClientSecret,
		"IMAGEHOST_DEMO_M2M_CLIENT_SECRET=" + s.MachineClientSecret,
		"IMAGEHOST_DEMO_EXPIRY_CLIENT_SECRET=" + s.ExpiryClientSecret,
		"IMAGEHOST_INITIAL_ACCESS_TOKEN=" + s.InitialAccessToken,
	}
}

// appEnv are PhotoEditorApp's: every instance needs the same cookie keys.
func (s Secrets) appEnv() []string {
	return []string{
		"PHOTOEDITOR_CLIENT_SECRET=" + s.AppClientSecret,
		"PHOTOEDITOR_MACHINE_CLIENT_SECRET=" + s.MachineClientSecret,
		"PHOTOEDITOR_EXPIRY_CLIENT_SECRET=" + s.ExpiryClientSecret,
		"PHOTOEDITOR_SESSION_AUTH_KEY=" + s.SessionAuthKey,
		"PHOTOEDITOR_SESSION_ENCRYPTION_KEY=" + s.SessionEncryptionKey,
	}
}

// write writes both files, readable by their owner only.
func (s Secrets) write(imageHostDir, appDir string) error {
	var sb strings.Builder
	sb.WriteString("# The demo's secrets in the cluster (go tool task cluster): through haproxy no request\n")
	sb.WriteString("# is local, and ImageHost refuses demo.env's published values to it. Generated on the\n")
	sb.WriteString("# cluster's first start; delete .data/cluster and .data/pg to start over.\n")
	for _, kv := range [][2]string{
		{"IMAGEHOST_DEMO_USERS", s.users()},
		{"IMAGEHOST_DEMO_APP_CLIENT_SECRET", s.AppClientSecret},
		{"IMAGEHOST_DEMO_M2M_CLIENT_SECRET", s.MachineClientSecret},
		{"IMAGEHOST_DEMO_EXPIRY_CLIENT_SECRET", s.ExpiryClientSecret},
		{"IMAGEHOST_INITIAL_ACCESS_TOKEN", s.InitialAccessToken},
		{"PHOTOEDITOR_CLIENT_SECRET", s.AppClientSecret},
		{"PHOTOEDITOR_MACHINE_CLIENT_SECRET", s.MachineClientSecret},
		{"PHOTOEDITOR_EXPIRY_CLIENT_SECRET", s.ExpiryClientSecret},
	} {
		fmt.Fprintf(&sb, "%s=%s\n", kv[0], kv[1])
	}
	if err := writePrivate(filepath.Join(imageHostDir, demoSecretsFile), sb.String()); err != nil {
		return err
	}
	return writePrivate(filepath.Join(appDir, sessionKeysFile), s.SessionAuthKey+"\n"+s.SessionEncryptionKey+"\n")
}

// writePrivate replaces file whole, readable by its owner only.
func writePrivate(file, content string) error {
	tmp := file + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}

// keptSecrets reads the secrets kept in the data directories, and
// generates and writes them when there are none yet (fresh).
func keptSecrets(imageHostDir, appDir string) (s Secrets, fresh bool, err error) {
	kept, err1 := readEnvFile(filepath.Join(imageHostDir, demoSecretsFile))
	keys, err2 := os.ReadFile(filepath.Join(appDir, sessionKeysFile))
	if errors.Is(err1, fs.ErrNotExist) && errors.Is(err2, fs.ErrNotExist) {
		s = GenerateSecrets()
		return s, true, s.write(imageHostDir, appDir)
	}
	if err := errors.Join(err1, err2); err != nil {
		return s, false, fmt.Errorf("cluster: the kept secrets: %w", err)
	}
	s = Secrets{Passwords: map[string]string{}, AppClientSecret: kept["IMAGEHOST_DEMO_APP_CLIENT_SECRET"],
		MachineClientSecret: kept["IMAGEHOST_DEMO_M2M_CLIENT_SECRET"], ExpiryClientSecret: kept["IMAGEHOST_DEMO_EXPIRY_CLIENT_SECRET"],
		InitialAccessToken: kept["IMAGEHOST_INITIAL_ACCESS_TOKEN"]}
	for _, entry := range strings.Split(kept["IMAGEHOST_DEMO_USERS"], ",") {
		if name, pw, ok := strings.Cut(entry, ":"); ok {
			s.Passwords[name] = pw
		}
	}
	if lines := strings.Fields(string(keys)); len(lines) == 2 {
		s.SessionAuthKey, s.SessionEncryptionKey = lines[0], lines[1]
	}
	if s.users() == "" || s.AppClientSecret == "" || s.MachineClientSecret == "" || s.ExpiryClientSecret == "" ||
		s.InitialAccessToken == "" || s.SessionAuthKey == "" {
		return s, false, fmt.Errorf("cluster: the kept secrets in %s and %s are incomplete: delete both to start over", imageHostDir, appDir)
	}
	return s, false, nil
}

// readEnvFile reads KEY=VALUE lines; # starts a comment line.
func readEnvFile(file string) (map[string]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
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

// GenerateSecrets makes new secrets: 256 random bits for each client
// secret and the registration token, passwords a person can type.
func GenerateSecrets() Secrets {
	token := func() string {
		b := make([]byte, 32)
		rand.Read(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	key := func(n int) string {
		b := make([]byte, n)
		rand.Read(b)
		return hex.EncodeToString(b)
	}
	s := Secrets{Passwords: map[string]string{}, AppClientSecret: token(), MachineClientSecret: token(),
		ExpiryClientSecret: token(), InitialAccessToken: token(), SessionAuthKey: key(64), SessionEncryptionKey: key(32)}
	for _, name := range DemoUsers {
		s.Passwords[name] = password()
	}
	return s
}

// password is 16 characters from 32 that do not look alike (80 bits), in
// groups of four, as ImageHost generates them for a demo on a network.
func password() string {
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
