package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"runtime/debug"
	"time"
)

// shutdownGrace is how long requests under way may take to finish once the
// app is told to stop.
const shutdownGrace = 10 * time.Second

// serve runs PhotoEditorApp until ctx is cancelled, then shuts down gracefully.
func serve(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return fmt.Errorf("log level %q: %w", cfg.LogLevel, err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	// Editing photos is what takes memory here, editMemory at most. A soft
	// limit a little above it has the garbage collector give back what one
	// edit used before the next one grows the process; GOMEMLIMIT, when
	// set, wins.
	if debug.SetMemoryLimit(-1) == math.MaxInt64 {
		debug.SetMemoryLimit(editMemory + 32<<20)
	}
	if err := privateDataDir(cfg.DataDir, log); err != nil {
		return err
	}
	authKey, encKey, err := sessionKeys(cfg)
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.close()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	cfg = cfg.withInstance(ln.Addr())
	httpClient := &http.Client{Timeout: 10 * time.Second}
	var draining drain
	srv := &http.Server{
		Handler:           draining.readiness(newServer(cfg, db, authKey, encKey, httpClient, time.Now, log)),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				db.sessions.DeleteOlderThan(ctx, time.Now().Add(-sessionMaxAge))
			}
		}
	}()
	fmt.Fprintf(stdout, "PhotoEditorApp is listening on http://%s\n  open %s/ and click Connect with ImageHost\n  ImageHost: %s\n",
		ln.Addr(), cfg.BaseURL, cfg.Issuer)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// SIGTERM or Ctrl-C (main). Behind a load balancer, first out of
	// rotation (drain.go): go on serving for the shutdown delay, /readyz
	// answering 503.
	if cfg.ShutdownDelay > 0 {
		log.Info("draining: /readyz answers 503 until the listener closes", "delay", cfg.ShutdownDelay)
		draining.start()
		select {
		case err := <-errc:
			return fmt.Errorf("serve: %w", err)
		case <-time.After(cfg.ShutdownDelay):
		}
	}
	// Then stop accepting connections, so a load balancer sends browsers
	// to another instance, and give the requests under way shutdownGrace
	// to finish.
	log.Info("shutting down", "grace", shutdownGrace)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
