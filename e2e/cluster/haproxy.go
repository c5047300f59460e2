package cluster

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

// ErrNoHAProxy: haproxy is not installed.
var ErrNoHAProxy = errors.New("cluster: haproxy is not installed (Debian: apt-get install haproxy)")

// HAProxyPath finds the haproxy program: on PATH, or where Debian puts it
// (/usr/sbin, which a user's PATH may lack).
func HAProxyPath() (string, error) {
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/haproxy", "/usr/local/sbin/haproxy"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", ErrNoHAProxy
}

// haproxyConfig is haproxy's configuration for the cluster. Each choice
// is explained where it is made; README.md shows one for a real
// deployment, with TLS.
var haproxyConfig = template.Must(template.New("haproxy.cfg").Parse(`# haproxy in front of the local cluster, written by e2e/cluster at every start.
global
	# The runtime API: the cluster asks it which instances are up.
	stats socket {{.Socket}} mode 600 level admin
	# A soft stop (SIGUSR1) waits for open connections at most this long.
	hard-stop-after 5s
	# Server state changes (an instance down or up again), not every request.
	log stderr format raw local0 notice
{{- if .User}}
	# Started as root: binds its ports, then drops to its own user.
	user {{.User}}
	group {{.Group}}
{{- end}}

defaults
	mode http
	log global
	timeout connect 2s
	timeout client 60s
	timeout server 60s
	timeout http-request 10s
	timeout http-keep-alive 10s
	timeout check 2s
	# The client's address in X-Forwarded-For, appended to what the client
	# sent: the instances take it from 127.0.0.1 only (*_TRUSTED_PROXIES),
	# reading from the right, for their sign-in limits and logs.
	option forwardfor
	# A request whose connection to one instance failed was never seen by
	# it: it goes to another, at once (redispatch on every retry).
	retries 3
	option redispatch 1
	# A request an instance received and then died under, without an
	# answer, is retried on another only if it is a GET (the backends say
	# so): a POST may have done its work (a code redeemed, a refresh token
	# rotated), and doing it twice would trip the single-use checks. A GET
	# can act once too (an upstream's callback, /authorize giving a code):
	# its first answer was lost with the instance, so the browser sees one
	# outcome. A slow answer is not retried (no response-timeout): that
	# instance is alive and still acting, and a copy at another would act
	# a second time, at once.
	retry-on conn-failure empty-response
	# Round-robin over the instances that answer /readyz, with no
	# stickiness: every instance serves every browser.
	balance roundrobin
	option httpchk GET /readyz
	http-check expect status 200
	default-server check inter {{.Inter}} fastinter {{.FastInter}} downinter {{.Inter}} fall 2 rise 2

# haproxy is the first proxy a request meets: an X-Forwarded-For it came
# with is the client's say-so, not a proxy's. Dropped, so that the one
# option forwardfor adds names the client as haproxy saw it, and a client
# cannot pass for another address (the instances' limits on sign-ins count
# by address).
frontend imagehost
	bind {{.IssuerAddr}}
	http-request del-header X-Forwarded-For
	default_backend imagehost

backend imagehost
	http-request disable-l7-retry unless METH_GET
{{- range .ImageHost}}
	server {{.Name}} {{.Addr}}
{{- end}}

frontend photoeditor
	bind {{.AppAddr}}
	http-request del-header X-Forwarded-For
	default_backend photoeditor

backend photoeditor
	# The callback redeems the code it carries, which works only once.
	http-request disable-l7-retry if !METH_GET || { path /callback }
{{- range .Apps}}
	server {{.Name}} {{.Addr}}
{{- end}}
`))

// haproxySettings fill in haproxyConfig.
type haproxySettings struct {
	Socket, User, Group string
	Inter, FastInter    string
	IssuerAddr, AppAddr string
	ImageHost, Apps     []backendServer
}

type backendServer struct{ Name, Addr string }

// haproxyUser is who haproxy drops to when started as root: Debian's
// package creates the haproxy user.
func haproxyUser() (string, string) {
	if os.Geteuid() != 0 {
		return "", ""
	}
	u, err := user.Lookup("haproxy")
	if err != nil {
		return "", ""
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		return "", ""
	}
	return u.Username, g.Name
}

// millis writes a duration as haproxy reads it.
func millis(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }

// ServerState is one instance as haproxy sees it.
type ServerState struct {
	Backend, Server string
	Status          string // UP, DOWN, "UP 1/2" (going down), "DOWN 1/2" (going up), MAINT
	CheckStatus     string // L7OK, L7STS (a status other than 200), L4CON (refused), ...
}

// Servers asks haproxy's runtime API for the state of every instance.
func (c *Cluster) Servers(ctx context.Context) ([]ServerState, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		return nil, fmt.Errorf("cluster: haproxy's runtime API: %w", err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	} else {
		conn.SetDeadline(time.Now().Add(5 * time.Second))
	}
	if _, err := io.WriteString(conn, "show stat\n"); err != nil {
		return nil, fmt.Errorf("cluster: haproxy's runtime API: %w", err)
	}
	// CSV, whose header line starts with "# ".
	r := bufio.NewReader(conn)
	head, err := r.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("cluster: haproxy's runtime API: %w", err)
	}
	cols := map[string]int{}
	for i, name := range strings.Split(strings.TrimSpace(strings.TrimPrefix(head, "# ")), ",") {
		cols[name] = i
	}
	rows := csv.NewReader(r)
	rows.FieldsPerRecord = -1
	var out []ServerState
	for {
		rec, err := rows.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("cluster: haproxy's runtime API: %w", err)
		}
		field := func(name string) string {
			if i, ok := cols[name]; ok && i < len(rec) {
				return rec[i]
			}
			return ""
		}
		if sv := field("svname"); sv != "FRONTEND" && sv != "BACKEND" {
			out = append(out, ServerState{Backend: field("pxname"), Server: sv, Status: field("status"), CheckStatus: field("check_status")})
		}
	}
	return out, nil
}

// WaitUntil waits until haproxy sees the instance named server as UP
// (up = true), its last check passed, or as DOWN (up = false).
func (c *Cluster) WaitUntil(ctx context.Context, server string, up bool) error {
	for {
		states, err := c.Servers(ctx)
		if err == nil {
			for _, s := range states {
				if s.Server != server {
					continue
				}
				if up && s.Status == "UP" && s.CheckStatus == "L7OK" || !up && s.Status == "DOWN" {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: haproxy never saw %s %s: %v (last: %v)", server, map[bool]string{true: "up", false: "down"}[up], ctx.Err(), states)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// startHAProxy writes the configuration and starts haproxy in the
// foreground, after checking the configuration.
func (c *Cluster) startHAProxy(ctx context.Context, bin string, s haproxySettings) error {
	file := filepath.Join(c.dir, "haproxy.cfg")
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if err := haproxyConfig.Execute(f, s); err != nil {
		f.Close()
		return fmt.Errorf("cluster: haproxy's configuration: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if out, err := exec.CommandContext(ctx, bin, "-c", "-q", "-f", file).CombinedOutput(); err != nil {
		return fmt.Errorf("cluster: haproxy refuses its configuration %s: %v\n%s", file, err, out)
	}
	os.Remove(c.socket) // one left by a haproxy that was killed
	c.HAProxy = &Process{Name: "haproxy", binary: bin, args: []string{"-db", "-f", file}, out: c.out}
	if err := c.HAProxy.Start(ctx); err != nil {
		return err
	}
	// Ready once its runtime API answers: by then it listens.
	for {
		if _, err := c.Servers(ctx); err == nil {
			return nil
		}
		select {
		case <-c.HAProxy.Done():
			return fmt.Errorf("cluster: haproxy ended at its start (exit code %d)", c.HAProxy.ExitCode())
		case <-ctx.Done():
			return fmt.Errorf("cluster: haproxy's runtime API never answered: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
