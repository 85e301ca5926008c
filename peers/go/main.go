// The go-amqp reference peer of amqp-interop: one program, one role per run, JSON Lines
// on stdout as peers/CONTRACT.md says.
//
// go-amqp is a client library with blocking calls (Dial, NewReceiver, SendWithReceipt,
// Receive) and no callbacks, so the contract's events are printed around those calls:
// connection_opened when Dial returns, link_opened when an attach was answered, and so
// on. What it cannot observe it declares in the result's `unreported` list: it has no
// listener (no --listen), and it never tells a sender about credit (no `sendable`: a
// send simply waits inside the library until credit comes). Reconnecting is the peer's
// own loop: a fresh connection, and everything not yet confirmed is sent again.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	amqp "github.com/Azure/go-amqp"
)

const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitTimeout = 3

	firstBackoff = 100 * time.Millisecond
	maxBackoff   = time.Second
	closeWait    = 2 * time.Second
)

// unreported are the events of the contract's vocabulary that go-amqp never lets us see.
var unreported = []string{"sendable"}

// role is one of the contract's roles, run over one connection at a time.
type role interface {
	// run does the role on one open session; nil means the role is done and its links
	// are closed. Any error ends this connection (see classify).
	run(ctx context.Context, s *amqp.Session) error
	// disconnected is called after a lost connection, before the next one.
	disconnected()
	// result is the role's fields of the result line.
	result() obj
	// waitingFor says what the role is waiting for, once connected (for the timeout line).
	waitingFor() string
	// countless roles (receive/serve with --count 0) end well when killed.
	countless() bool
}

type peer struct {
	opts *options
	out  *output
	role role

	mu          sync.Mutex // guards the fields below
	connUp      bool
	everOpened  bool
	reconnects  int
	done        bool
	lastProblem string
	finishOnce  sync.Once
}

// fatal is a problem that ends the role whatever --reconnect says (exit 1).
type fatal struct{ msg string }

func (f *fatal) Error() string { return f.msg }

func failf(format string, a ...any) error { return &fatal{fmt.Sprintf(format, a...)} }

func main() {
	opts, err := parseArgs(os.Args[1:])
	if errors.Is(err, errHelp) {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(exitOK)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s (%s)\n", usage, oneLine(err.Error()))
		os.Exit(exitUsage)
	}
	p := &peer{opts: opts, out: &output{quiet: opts.quiet}}
	p.role = newRole(p)
	defer func() {
		if r := recover(); r != nil {
			stderr("error: internal error: %v", r)
			p.finish(exitFailed, fmt.Sprintf("internal error: %v", r), "")
		}
	}()
	p.watch()
	p.loop()
}

func newRole(p *peer) role {
	switch p.opts.role {
	case "send":
		return newSend(p)
	case "receive":
		return newReceive(p)
	case "serve":
		return newServe(p)
	case "request":
		return newRequest(p)
	}
	return newHello(p)
}

// watch starts the deadline and the signal handlers.
func (p *peer) watch() {
	if p.opts.timeout > 0 {
		d := time.Duration(p.opts.timeout * float64(time.Second))
		time.AfterFunc(d, func() {
			p.finish(exitTimeout, fmt.Sprintf("timed out after %g s", p.opts.timeout), p.waitingFor())
		})
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		sig := <-signals
		p.mu.Lock()
		ok := p.done || p.role.countless()
		p.mu.Unlock()
		if ok {
			p.finish(exitOK, "", "")
		}
		p.finish(exitFailed, "terminated by "+sigName(sig), "")
	}()
}

func sigName(sig os.Signal) string {
	if sig == syscall.SIGINT {
		return "SIGINT"
	}
	return "SIGTERM"
}

func (p *peer) waitingFor() string {
	p.mu.Lock()
	up, problem := p.connUp, p.lastProblem
	p.mu.Unlock()
	if !up {
		why := ""
		if problem != "" {
			why = " (last: " + problem + ")"
		}
		return fmt.Sprintf("the connection to %s (its AMQP open)%s", p.opts.hostPort(), why)
	}
	return p.role.waitingFor()
}

// finish prints the timeout line (if any) and the result, and exits. Only the first call
// counts; a later one (from another goroutine) waits here until the process is gone.
func (p *peer) finish(code int, errText string, waitingFor string) {
	p.finishOnce.Do(func() {
		result := obj{{"role", p.opts.role}, {"ok", code == exitOK}}
		if errText != "" {
			result = append(result, field{"error", oneLine(errText)})
		}
		result = append(result, p.role.result()...)
		result = append(result, field{"unreported", unreported}, field{"options", p.opts.effective()})
		p.out.last(waitingFor, result)
		os.Exit(code)
	})
	select {} // the first caller is exiting
}

// loop connects, runs the role, and reconnects after a lost connection.
func (p *peer) loop() {
	backoff := firstBackoff
	for {
		err := p.connection()
		if err == nil {
			p.finish(exitOK, "", "")
		}
		var f *fatal
		if errors.As(err, &f) {
			p.finish(exitFailed, f.msg, "")
		}
		reason := oneLine(err.Error())
		p.mu.Lock()
		wasUp := p.connUp
		p.connUp = false
		p.lastProblem = reason
		p.mu.Unlock()
		p.out.event("disconnected", field{"reason", reason})
		p.role.disconnected()
		if !p.opts.reconnect {
			p.finish(exitFailed, "disconnected: "+reason, "")
		}
		if wasUp {
			backoff = firstBackoff
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, maxBackoff)
	}
}

// connection is one connection's life: open, session, the role, a clean close.
func (p *peer) connection() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sasl := amqp.SASLTypeAnonymous()
	if p.opts.user != nil && p.opts.password != nil {
		sasl = amqp.SASLTypePlain(*p.opts.user, *p.opts.password)
	}
	conn, err := amqp.Dial(ctx, "amqp://"+p.opts.hostPort(), &amqp.ConnOptions{
		ContainerID: fmt.Sprintf("amqp-interop-go-%s-%d", p.opts.role, os.Getpid()),
		HostName:    p.opts.host,
		SASLType:    sasl,
	})
	if err != nil {
		return p.classify(err)
	}
	defer conn.Close()
	p.mu.Lock()
	if p.everOpened {
		p.reconnects++
	}
	p.everOpened = true
	p.connUp = true
	p.lastProblem = ""
	p.mu.Unlock()
	// go-amqp keeps the remote open's container-id to itself
	p.out.event("connection_opened", field{"container", nil})
	session, err := conn.NewSession(ctx, nil)
	if err != nil {
		return p.classify(err)
	}
	if err := p.role.run(ctx, session); err != nil {
		return p.classify(err)
	}
	p.mu.Lock()
	p.done = true
	p.mu.Unlock()
	closeCtx, stop := context.WithTimeout(context.Background(), closeWait)
	defer stop()
	_ = session.Close(closeCtx)
	if err := conn.Close(); err != nil {
		stderr("closing the connection: %v", err)
	}
	p.out.event("connection_closed")
	return nil
}

// classify turns a go-amqp error into the contract's events: an error the remote sent
// ends the role (exit 1); anything else is a lost connection, to reconnect after.
func (p *peer) classify(err error) error {
	var f *fatal
	if errors.As(err, &f) {
		return err
	}
	var connErr *amqp.ConnError
	var sessErr *amqp.SessionError
	var linkErr *amqp.LinkError
	switch {
	case errors.As(err, &connErr) && connErr.RemoteErr != nil:
		e := connErr.RemoteErr
		p.out.event("connection_error", field{"condition", string(e.Condition)}, field{"description", e.Description})
		if e.Condition == amqp.ErrCondConnectionForced && p.opts.reconnect {
			return err // the broker is going away: a lost connection
		}
		return failf("connection error %s: %s", e.Condition, e.Description)
	case errors.As(err, &sessErr) && sessErr.RemoteErr != nil:
		e := sessErr.RemoteErr
		p.out.event("link_error", field{"link", nil}, field{"scope", "session"},
			field{"condition", string(e.Condition)}, field{"description", e.Description})
		return failf("session ended with %s: %s", e.Condition, e.Description)
	case errors.As(err, &linkErr) && linkErr.RemoteErr != nil:
		e := linkErr.RemoteErr
		p.out.event("link_error", field{"link", nil},
			field{"condition", string(e.Condition)}, field{"description", e.Description})
		return failf("link closed with %s: %s", e.Condition, e.Description)
	}
	return err
}
