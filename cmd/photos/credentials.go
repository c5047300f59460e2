package main

// Where the command keeps the user's tokens between runs: one file in the
// user's configuration directory, readable and writable by the user only,
// as ssh keeps its keys. The refresh token in it is what lets the command
// act for the user for weeks; anyone who can read the file can too.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// credentials is what a sign-in leaves: the tokens, and whose they are.
type credentials struct {
	Issuer       string    `json:"issuer"`
	ClientID     string    `json:"client_id"`
	Subject      string    `json:"sub"`
	Username     string    `json:"username,omitempty"`
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type"`
	Expiry       time.Time `json:"expiry"`
	RefreshToken string    `json:"refresh_token,omitempty"`
}

// errNotSignedIn: there is no credentials file.
var errNotSignedIn = errors.New("not signed in: run photos login")

// configDir is os.UserConfigDir's answer, from getenv rather than the
// process's environment, joined with this program's directory.
func configDir(getenv func(string) string) (string, error) {
	var base string
	switch runtime.GOOS {
	case "windows":
		base = getenv("AppData")
	case "darwin", "ios":
		if home := getenv("HOME"); home != "" {
			base = filepath.Join(home, "Library", "Application Support")
		}
	default: // the XDG Base Directory Specification
		base = getenv("XDG_CONFIG_HOME")
		if !filepath.IsAbs(base) {
			base = ""
			if home := getenv("HOME"); home != "" {
				base = filepath.Join(home, ".config")
			}
		}
	}
	if base == "" {
		return "", errors.New("no configuration directory: set HOME (or XDG_CONFIG_HOME, or AppData on Windows)")
	}
	return filepath.Join(base, "imagehost-photos"), nil
}

// credentialsFile is the file in dir that holds the credentials.
func credentialsFile(dir string) string { return filepath.Join(dir, "credentials.json") }

// loadCredentials reads the credentials file. One that others may read is
// refused: its tokens must be taken as leaked.
func loadCredentials(path string) (credentials, error) { return readCredentials(path, true) }

// readCredentials reads the credentials file, refusing one that others may
// read if private is set.
func readCredentials(path string, private bool) (credentials, error) {
	var creds credentials
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return creds, errNotSignedIn
	} else if err != nil {
		return creds, fmt.Errorf("read credentials: %w", err)
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil {
		return creds, fmt.Errorf("read credentials: %w", err)
	} else if mode := info.Mode().Perm(); private && runtime.GOOS != "windows" && mode&0o077 != 0 {
		return creds, fmt.Errorf("%s can be read by others (mode %04o): its tokens may have leaked; run photos logout, then photos login", path, mode)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxJSONBytes))
	if err != nil {
		return creds, fmt.Errorf("read credentials: %w", err)
	}
	if err := json.Unmarshal(data, &creds); err != nil {
		return creds, fmt.Errorf("%s is damaged: %w; run photos login", path, err)
	}
	return creds, nil
}

// save writes the credentials file: the directory 0700, the file 0600,
// written beside it and renamed into place, so that a crash leaves the old
// file or the new one, never half of one.
func (creds credentials) save(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save credentials: %w", err)
	}
	// A directory made earlier, by hand or by another program, is
	// narrowed to its owner too.
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("save credentials: %w", err)
	}
	data, err := json.MarshalIndent(creds, "", "  ")
	if err != nil {
		return fmt.Errorf("save credentials: %w", err)
	}
	f, err := os.CreateTemp(dir, ".credentials-*") // created 0600
	if err != nil {
		return fmt.Errorf("save credentials: %w", err)
	}
	defer os.Remove(f.Name()) // after the rename there is nothing to remove
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("save credentials: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("save credentials: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save credentials: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("save credentials: %w", err)
	}
	return nil
}

// bound reports whether the tokens are bound to the command's DPoP key
// (RFC 9449 §5: token_type DPoP).
func (creds credentials) bound() bool { return strings.EqualFold(creds.TokenType, "DPoP") }

// token is the credentials' tokens, as x/oauth2 holds them.
func (creds credentials) token() *oauth2.Token {
	return &oauth2.Token{AccessToken: creds.AccessToken, TokenType: creds.TokenType, RefreshToken: creds.RefreshToken, Expiry: creds.Expiry}
}

// withToken returns the credentials with tok's tokens. A refresh that
// brings no new refresh token keeps the old one (RFC 6749 §6).
func (creds credentials) withToken(tok *oauth2.Token) credentials {
	creds.AccessToken, creds.TokenType, creds.Expiry = tok.AccessToken, tok.Type(), tok.Expiry
	if tok.RefreshToken != "" {
		creds.RefreshToken = tok.RefreshToken
	}
	return creds
}
