package main

// The settings of the upstream OpenID providers users may sign in through
// (upstream_login.go). IMAGEHOST_UPSTREAMS names them; each then has a
// variable per setting, named after it, so that a secret sits in a
// variable of its own:
//
//	IMAGEHOST_UPSTREAMS=corporate
//	IMAGEHOST_UPSTREAM_CORPORATE_ISSUER=https://sso.example.com
//	IMAGEHOST_UPSTREAM_CORPORATE_CLIENT_ID=imagehost
//	IMAGEHOST_UPSTREAM_CORPORATE_CLIENT_SECRET=...
//	IMAGEHOST_UPSTREAM_CORPORATE_DISPLAY_NAME=Corporate SSO
//
// On the command line, -upstream corporate.issuer=https://sso.example.com
// (one flag per setting) does the same, and wins over the variable.

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"oauthdemo/authserver/outbound"
	"oauthdemo/authserver/upstream"
)

// upstreamFields are the settings of one upstream, by their flag name.
var upstreamFields = []string{"issuer", "client_id", "client_secret", "display_name"}

// upstreamSettings collects the upstream settings of the command line and
// the environment until parseConfig reads them into Config.Upstreams.
type upstreamSettings struct {
	names []string          // IMAGEHOST_UPSTREAMS, or -upstreams
	flags map[string]string // "name.field" → value, from -upstream
}

// setNames reads a comma-separated list of upstream names.
func (s *upstreamSettings) setNames(list string) error {
	s.names = nil
	for _, name := range strings.Split(list, ",") {
		if name = strings.TrimSpace(name); name != "" && !slices.Contains(s.names, name) {
			s.names = append(s.names, name)
		}
	}
	return nil
}

// setFlag reads one -upstream name.field=value; "" (no flag) is nothing.
func (s *upstreamSettings) setFlag(v string) error {
	if v == "" {
		return nil
	}
	key, value, ok := strings.Cut(v, "=")
	name, field, dotted := strings.Cut(key, ".")
	if !ok || !dotted || name == "" || !slices.Contains(upstreamFields, field) {
		return fmt.Errorf("want name.field=value, field one of %s", strings.Join(upstreamFields, ", "))
	}
	if s.flags == nil {
		s.flags = map[string]string{}
	}
	s.flags[key] = value
	return nil
}

// configs returns the upstreams named by the list or by a flag, each with
// its variables, and its flags over them.
func (s upstreamSettings) configs(getenv func(string) string) []upstream.Config {
	names := slices.Clone(s.names)
	for key := range s.flags {
		if name, _, _ := strings.Cut(key, "."); !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names[len(s.names):]) // flags come in no order; the list's order is kept
	var out []upstream.Config
	for _, name := range names {
		value := func(field string) string {
			if v, ok := s.flags[name+"."+field]; ok {
				return v
			}
			return getenv(upstreamVariable(name, field))
		}
		out = append(out, upstream.Config{Name: name, Issuer: value("issuer"), ClientID: value("client_id"),
			ClientSecret: value("client_secret"), DisplayName: value("display_name")})
	}
	return out
}

// upstreamVariable is the variable of one setting of an upstream:
// IMAGEHOST_UPSTREAM_<NAME>_<FIELD>, hyphens in the name as underscores.
func upstreamVariable(name, field string) string {
	return "IMAGEHOST_UPSTREAM_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_" + strings.ToUpper(field)
}

// validateUpstreams checks each upstream, and that none is ImageHost.
func (c Config) validateUpstreams() error {
	for _, u := range c.Upstreams {
		if err := u.Validate(); err != nil {
			return err
		}
		if c.Issuer != "" && u.Issuer == c.Issuer {
			return fmt.Errorf("upstream %s: the issuer is ImageHost's own", u.Name)
		}
		// The browser goes to the upstream: one on this machine is out of
		// reach of every browser but this machine's.
		if issuer, err := url.Parse(u.Issuer); err == nil && loopbackHost(issuer.Host) && !loopbackOnly(c.Addr) {
			return fmt.Errorf("upstream %s: its issuer %s is on this machine, which browsers elsewhere cannot reach, "+
				"and ImageHost listens on %s (unset IMAGEHOST_UPSTREAMS, or give an upstream on the network)", u.Name, u.Issuer, c.Addr)
		}
	}
	return nil
}

// upstreamPolicy is where ImageHost's requests to an upstream may go: the
// operator chose the upstream, so it may sit in a private network (a
// company's sign-in service usually does); on this machine only if its
// issuer is, as the demo's Corporate SSO is, so that a provider elsewhere
// cannot point ImageHost at this machine's own ports.
func upstreamPolicy(cfg Config, u upstream.Config) outbound.Policy {
	issuer, err := url.Parse(u.Issuer)
	return outbound.Policy{AllowLoopback: err == nil && loopbackHost(issuer.Host), AllowLAN: true, NAT64: cfg.NAT64Prefixes}
}

// upstreamRedirectURI is where an upstream sends the browser back: a path
// of its own per upstream, so that an answer is only ever taken as the
// answer of the provider it was registered with (RFC 9700 §4.4.2).
func upstreamRedirectURI(issuer, name string) string {
	return issuer + "/upstream/" + name + "/callback"
}
