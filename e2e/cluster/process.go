package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// Timing of an instance's start and stop.
const (
	readyWithin = 60 * time.Second       // a process not answering by then failed to start
	readyPoll   = 20 * time.Millisecond  // how often /healthz is asked during a start
	pollTimeout = 500 * time.Millisecond // one /healthz request
	killAfter   = 30 * time.Second       // a stop not over by then ends in SIGKILL
)

// Process is one process of the cluster: an instance of ImageHost or
// PhotoEditorApp, or haproxy. It can be stopped, killed and started
// again with the same settings, on the same address.
type Process struct {
	// Name is the instance's name: its X-Instance header and its server
	// name in haproxy's configuration.
	Name string
	// URL is where it listens itself, behind haproxy (empty for haproxy).
	URL string

	binary string
	args   []string
	env    []string
	out    io.Writer

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed once the current run has ended
}

// Start runs the process, and waits until it answers URL/healthz (unless it
// has no URL), for at most a minute or until ctx is done. ctx bounds the
// wait only. A process that ended may be started again.
func (p *Process) Start(ctx context.Context) error {
	p.mu.Lock()
	if p.exited != nil {
		select {
		case <-p.exited:
		default:
			p.mu.Unlock()
			return fmt.Errorf("cluster: %s is running already", p.Name)
		}
	}
	cmd := exec.Command(p.binary, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	out := &lineWriter{prefix: p.Name + " | ", w: p.out}
	cmd.Stdout, cmd.Stderr = out, out
	// A process group of its own, so that the terminal's Ctrl-C reaches
	// the launcher alone, which stops the cluster in order; and the kernel
	// ends the process (SIGTERM, its graceful stop) if the launcher dies
	// without doing so.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	exited, started := make(chan struct{}), make(chan error, 1)
	go func() {
		// The parent-death signal belongs to the thread that started the
		// child: that thread stays with this goroutine, which lives as
		// long as the child (and is never unlocked, so the thread ends
		// with it).
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(exited)
			return
		}
		started <- nil
		cmd.Wait()
		out.Flush()
		close(exited)
	}()
	if err := <-started; err != nil {
		p.mu.Unlock()
		return fmt.Errorf("cluster: start %s: %w", p.Name, err)
	}
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	if p.URL == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, readyWithin)
	defer cancel()
	for !answers(ctx, p.URL+"/healthz") {
		select {
		case <-ctx.Done():
			p.Kill()
			return fmt.Errorf("cluster: %s did not answer at %s", p.Name, p.URL)
		case <-exited:
			return fmt.Errorf("cluster: %s ended before it answered (exit code %d)", p.Name, cmd.ProcessState.ExitCode())
		case <-time.After(readyPoll):
		}
	}
	return nil
}

// answers reports whether url answers 200.
func answers(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// running returns the current run, or an error if there is none.
func (p *Process) running() (*exec.Cmd, chan struct{}, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil, nil, fmt.Errorf("cluster: %s was never started", p.Name)
	}
	return p.cmd, p.exited, nil
}

// Signal sends the process sig and does not wait; Done says when it ended.
func (p *Process) Signal(sig os.Signal) error {
	cmd, _, err := p.running()
	if err != nil {
		return err
	}
	return cmd.Process.Signal(sig)
}

// Done is closed once the current run has ended.
func (p *Process) Done() <-chan struct{} {
	_, exited, err := p.running()
	if err != nil {
		closed := make(chan struct{})
		close(closed)
		return closed
	}
	return exited
}

// ExitCode is the exit code of the run that ended (Done), -1 if a signal
// ended it.
func (p *Process) ExitCode() int {
	cmd, _, err := p.running()
	if err != nil || cmd.ProcessState == nil {
		return -1
	}
	return cmd.ProcessState.ExitCode()
}

// Kill ends the process at once with SIGKILL, as a crash would, and waits.
func (p *Process) Kill() {
	cmd, exited, err := p.running()
	if err != nil {
		return
	}
	cmd.Process.Kill()
	<-exited
}

// Stop sends sig (SIGTERM for a server's graceful stop) and waits for the
// end; a process still running 30 seconds later is killed. Stopping one
// that ended is harmless.
func (p *Process) Stop(sig os.Signal) error {
	cmd, exited, err := p.running()
	if err != nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	cmd.Process.Signal(sig)
	select {
	case <-exited:
		return nil
	case <-time.After(killAfter):
		p.Kill()
		return fmt.Errorf("cluster: %s did not stop within %v: killed", p.Name, killAfter)
	}
}

// Pid is the process id of the current run.
func (p *Process) Pid() int {
	cmd, _, err := p.running()
	if err != nil {
		return 0
	}
	return cmd.Process.Pid
}

// lineWriter writes whole lines to w, each after prefix, so that the
// output of several processes interleaves by lines.
type lineWriter struct {
	prefix string
	w      io.Writer
	mu     sync.Mutex
	buf    []byte
}

func (l *lineWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.write(l.buf[:i+1])
		l.buf = l.buf[i+1:]
	}
	// A line that never ends is written in pieces rather than kept.
	if len(l.buf) > 64<<10 {
		l.write(append(l.buf, '\n'))
		l.buf = nil
	}
	return len(b), nil
}

// Flush writes what is left of an unfinished line.
func (l *lineWriter) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.write(append(l.buf, '\n'))
		l.buf = nil
	}
}

func (l *lineWriter) write(line []byte) {
	if l.w != nil {
		l.w.Write(append([]byte(l.prefix), line...))
	}
}
