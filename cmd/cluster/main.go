// Command cluster runs the demo as an organisation would run it in
// production, on this machine: PostgreSQL, two instances of ImageHost and
// two of PhotoEditorApp on it, and haproxy in front, round-robin, with no
// sticky sessions, at the demo's usual addresses.
//
//	go tool task cluster       (builds bin/authserver and bin/app, then runs this)
//
// PostgreSQL's data lives in .data/pg and the cluster's own files in
// .data/cluster, both kept across runs. Ctrl-C stops it all in order:
// haproxy, the instances (each drains, then finishes what it is doing),
// PostgreSQL. e2e/cluster does the work; this command adds PostgreSQL, the
// addresses and what it prints.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"oauthdemo/authserver/store/postgres/pgtest"
	"oauthdemo/e2e/cluster"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

// run is the whole program; main only hands it the outside world.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("bin", "bin", "the directory with the built authserver and app")
	data := fs.String("data", ".data", "where PostgreSQL (pg/) and the cluster (cluster/) keep their files")
	issuerAddr := fs.String("issuer-addr", "127.0.0.1:9090", "where haproxy serves ImageHost; the issuer is http://<issuer-addr>")
	appPort := fs.Int("app-port", 8080, "the port where haproxy serves PhotoEditorApp, as http://localhost:<app-port>")
	instances := fs.Int("instances", 2, "instances of each party")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := cluster.HAProxyPath(); err != nil {
		return errors.New("haproxy is not installed: go tool task cluster installs it when run as root; otherwise: sudo apt-get install haproxy")
	}
	if err := dataRoot(*data, stdout); err != nil {
		return err
	}

	fmt.Fprintf(stdout, "Starting PostgreSQL in %s\n", filepath.Join(*data, "pg"))
	pg, err := pgtest.Open(ctx, filepath.Join(*data, "pg"))
	if errors.Is(err, pgtest.ErrNotInstalled) {
		return errors.New("PostgreSQL is not installed: go tool task cluster installs it when run as root; otherwise: sudo apt-get install postgresql")
	}
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(stdout, "Stopping PostgreSQL")
		pg.Stop()
	}()
	imageHostDB, err := pg.Database(ctx, "imagehost")
	if err != nil {
		return err
	}
	appDB, err := pg.Database(ctx, "photoeditor")
	if err != nil {
		return err
	}

	fmt.Fprintf(stdout, "Starting %d instances of ImageHost and %d of PhotoEditorApp, then haproxy\n", *instances, *instances)
	c, err := cluster.Start(ctx, cluster.Settings{Binaries: *bin, Dir: filepath.Join(*data, "cluster"),
		ImageHostDatabase: imageHostDB, AppDatabase: appDB, IssuerAddr: *issuerAddr, AppPort: *appPort,
		Instances: *instances, Output: stdout})
	if err != nil {
		return err
	}
	describe(stdout, c)

	select {
	case <-ctx.Done():
	case <-c.HAProxy.Done():
		c.Stop()
		return fmt.Errorf("haproxy ended (exit code %d)", c.HAProxy.ExitCode())
	}
	fmt.Fprintln(stdout, "\nStopping haproxy, then the instances")
	return c.Stop()
}

// dataRoot makes the data directory. As root, PostgreSQL runs as the
// postgres user, who must get through it to pg/: it is made searchable by
// others (o+x), which lists nothing; each party's directory in it stays
// closed.
func dataRoot(dir string, out io.Writer) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o001 == 0 {
		fmt.Fprintf(out, "Making %s searchable by others (%v to %v): PostgreSQL runs as the postgres user\n", dir, perm, perm|0o001)
		return os.Chmod(dir, perm|0o001)
	}
	return nil
}

// describe prints where the cluster answers, and how to sign in.
func describe(out io.Writer, c *cluster.Cluster) {
	names := func(ps []*cluster.Process) string {
		var s []string
		for _, p := range ps {
			s = append(s, fmt.Sprintf("%s %s (pid %d)", p.Name, p.URL, p.Pid()))
		}
		return strings.Join(s, ", ")
	}
	fmt.Fprintf(out, "\nThe cluster is up, behind haproxy (round-robin, no stickiness):\n")
	fmt.Fprintf(out, "  PhotoEditorApp  %-24s %s\n", c.AppURL, names(c.Apps))
	fmt.Fprintf(out, "  ImageHost       %-24s %s\n", c.IssuerURL, names(c.ImageHost))
	fmt.Fprintf(out, "  Every response names the instance that answered: curl -sI %s/jwks | grep -i x-instance\n", c.IssuerURL)
	fmt.Fprintf(out, "Through a proxy ImageHost refuses demo.env's published secrets, so the cluster has its own")
	if !c.Fresh {
		fmt.Fprintf(out, ", in %s:\n  the users' passwords (IMAGEHOST_DEMO_USERS) and the machine client's secret (IMAGEHOST_DEMO_M2M_CLIENT_SECRET).\n", c.SecretsFile)
	} else {
		fmt.Fprintf(out, ", generated now, shown this once and kept in %s:\n", c.SecretsFile)
		users := make([]string, 0, len(c.Secrets.Passwords))
		for name := range c.Secrets.Passwords {
			users = append(users, name)
		}
		sort.Strings(users)
		for _, name := range users {
			fmt.Fprintf(out, "  user %-6s password %s\n", name, c.Secrets.Passwords[name])
		}
		fmt.Fprintf(out, "  machine client %s, secret %s\n", cluster.MachineClientID, c.Secrets.MachineClientSecret)
	}
	fmt.Fprintln(out, "Ctrl-C stops it all.")
}
