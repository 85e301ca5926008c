package main

// The contract's roles on go-amqp. Each role's counters are guarded by the peer's mutex
// (the result line may be printed from the deadline or signal goroutine at any time);
// no event is printed while that mutex is held.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	amqp "github.com/Azure/go-amqp"
)

// receiverCredit is the credit window of every receiving link (go-amqp's default is 1).
const receiverCredit = 100

func (p *peer) linkOpened(name, role, address string) {
	var addr any
	if address != "" {
		addr = address
	}
	p.out.event("link_opened", field{"link", name}, field{"role", role}, field{"address", addr})
}

func (p *peer) ready() {
	p.out.line(obj{{"kind", "ready"}, {"url", "amqp://" + p.opts.hostPort()}})
}

func (p *peer) locked(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f()
}

// settleModeRefused: go-amqp refuses an attach answer whose settlement mode differs from
// the one this peer asked for (link.go setSettleModes: it detaches the link, closed=true and
// no error, and returns an untyped error while the connection stays up). A new connection
// gets the same answer from the same remote, so this ends the role (exit 1) with go-amqp's
// words instead of a reconnect loop that lasts until the deadline.
func (p *peer) settleModeRefused(link string, err error) error {
	var connErr *amqp.ConnError
	var sessErr *amqp.SessionError
	var linkErr *amqp.LinkError
	if err == nil || errors.As(err, &connErr) || errors.As(err, &sessErr) || errors.As(err, &linkErr) ||
		!strings.Contains(err.Error(), "settlement mode") {
		return err
	}
	p.out.event("link_error", field{"link", link}, field{"condition", nil}, field{"description", err.Error()})
	return failf("go-amqp detached link %s: %v", link, err)
}

// closeLinks detaches links (the suite wants every link detached before the close).
func closeLinks(links ...interface{ Close(context.Context) error }) {
	ctx, cancel := context.WithTimeout(context.Background(), closeWait)
	defer cancel()
	for _, l := range links {
		_ = l.Close(ctx)
	}
}

// outcome prints the outcome of a sent delivery; it returns the event name.
func (p *peer) outcome(state amqp.DeliveryState, id any) (string, *amqp.Error) {
	name := "settled"
	var rejected *amqp.Error
	switch s := state.(type) {
	case *amqp.StateAccepted:
		name = "accepted"
	case *amqp.StateReleased:
		name = "released"
	case *amqp.StateModified:
		name = "modified"
	case *amqp.StateRejected:
		name = "rejected"
		rejected = s.Error
		if rejected == nil {
			rejected = &amqp.Error{}
		}
	}
	if name == "rejected" {
		p.out.event(name, field{"id", id}, field{"condition", string(rejected.Condition)})
	} else if name != "settled" {
		p.out.event(name, field{"id", id})
	}
	p.out.event("settled", field{"id", id})
	return name, rejected
}

// idKey is the text an id is remembered by (its JSON form).
func idKey(id any) string {
	data, _ := json.Marshal(jsonValue(id))
	return string(data)
}

// ------------------------------------------------------------------------ send

type send struct {
	p         *peer
	total     int
	confirmed map[int]bool
	everSent  map[int]bool
	sent      int
	resent    int
	stage     string
}

func newSend(p *peer) role {
	return &send{p: p, total: p.opts.count, confirmed: map[int]bool{}, everSent: map[int]bool{}}
}

type pending struct {
	id      int
	receipt amqp.SendReceipt
}

func (r *send) message(id int) *amqp.Message {
	return &amqp.Message{
		Header:     &amqp.MessageHeader{Durable: true}, // so a broker that persists keeps it
		Properties: &amqp.MessageProperties{MessageID: uint64(id)},
		Value:      map[string]any{"sequence": int64(id)},
	}
}

func (r *send) run(ctx context.Context, s *amqp.Session) error {
	p := r.p
	p.locked(func() { r.stage = "the attach of the sender link to " + p.opts.address })
	name := "send-" + p.opts.address
	sender, err := s.NewSender(ctx, p.opts.address, &amqp.SenderOptions{Name: name})
	if err != nil {
		return err
	}
	p.linkOpened(name, "sender", sender.Address())
	// the tutorial's simple_send: sent = confirmed; everything not confirmed goes again
	var queue []int
	p.locked(func() {
		for id := 1; id <= r.total; id++ {
			if !r.confirmed[id] {
				queue = append(queue, id)
			}
		}
	})
	requeue := make(chan int, r.total)
	receipts := make(chan pending, r.total)
	failed := make(chan error, 1)
	allDone := make(chan struct{})
	go r.outcomes(ctx, receipts, requeue, failed, allDone)
	for {
		if len(queue) == 0 {
			p.locked(func() { r.stage = "accepted outcomes" })
			select {
			case id := <-requeue:
				queue = append(queue, id)
			case <-allDone:
				closeLinks(sender)
				return nil
			case err := <-failed:
				return err
			}
			continue
		}
		id := queue[0]
		queue = queue[1:]
		p.locked(func() { r.stage = "credit on the sender link to " + p.opts.address })
		receipt, err := sender.SendWithReceipt(ctx, r.message(id), nil)
		if err != nil {
			return err
		}
		p.locked(func() {
			r.sent++
			if r.everSent[id] {
				r.resent++
			}
			r.everSent[id] = true
		})
		p.out.event("sent", field{"id", id})
		receipts <- pending{id, receipt}
	}
}

// outcomes waits for each delivery's settlement, in order: accepted counts, released and
// modified go again (at-least-once), rejected fails the role.
func (r *send) outcomes(ctx context.Context, receipts <-chan pending, requeue chan<- int,
	failed chan<- error, allDone chan<- struct{}) {
	for {
		var pd pending
		select {
		case pd = <-receipts:
		case <-ctx.Done():
			return
		}
		state, err := pd.receipt.Wait(ctx)
		if err != nil {
			failed <- err
			return
		}
		name, rejected := r.p.outcome(state, pd.id)
		switch name {
		case "accepted":
			all := false
			r.p.locked(func() {
				r.confirmed[pd.id] = true
				all = len(r.confirmed) == r.total
			})
			if all {
				close(allDone)
				return
			}
		case "rejected":
			failed <- failf("message %d rejected: %s %s", pd.id, rejected.Condition, rejected.Description)
			return
		default: // released, modified, or settled without an outcome: not delivered
			requeue <- pd.id
		}
	}
}

func (r *send) disconnected() {}

func (r *send) result() obj {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	return obj{{"count", r.total}, {"sent", r.sent}, {"confirmed", len(r.confirmed)},
		{"resent", r.resent}, {"reconnects", r.p.reconnects}}
}

func (r *send) waitingFor() string {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	return fmt.Sprintf("%s (confirmed %d of %d)", r.stage, len(r.confirmed), r.total)
}

func (r *send) countless() bool { return false }

// --------------------------------------------------------------------- receive

type receive struct {
	p          *peer
	total      int
	seen       map[string]bool
	duplicates int
	readyOnce  bool
	attached   bool
}

func newReceive(p *peer) role {
	return &receive{p: p, total: p.opts.count, seen: map[string]bool{}}
}

func (r *receive) run(ctx context.Context, s *amqp.Session) error {
	p := r.p
	name := "receive-" + p.opts.address
	// at-least-once: ask for unsettled deliveries, so nothing is settled on the way (2.7.3)
	receiver, err := s.NewReceiver(ctx, p.opts.address, &amqp.ReceiverOptions{
		Name: name, Credit: receiverCredit, RequestedSenderSettleMode: amqp.SenderSettleModeUnsettled.Ptr(),
	})
	if err != nil {
		return p.settleModeRefused(name, err)
	}
	p.linkOpened(name, "receiver", receiver.Address())
	first := false
	p.locked(func() { first, r.readyOnce, r.attached = !r.readyOnce, true, true })
	if first {
		p.ready()
	}
	for {
		msg, err := receiver.Receive(ctx, nil)
		if err != nil {
			return err
		}
		key := idKey(messageID(msg))
		duplicate, finished := false, false
		p.locked(func() {
			duplicate = r.seen[key]
			if duplicate {
				r.duplicates++
			}
			r.seen[key] = true
			finished = r.total > 0 && len(r.seen) >= r.total
		})
		p.out.event("message", append(messageFields(msg), field{"duplicate", duplicate})...)
		if err := receiver.AcceptMessage(ctx, msg); err != nil {
			return err
		}
		if finished {
			closeLinks(receiver)
			return nil
		}
	}
}

func (r *receive) disconnected() { r.p.locked(func() { r.attached = false }) }

func (r *receive) result() obj {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	out := obj{{"count", r.total}, {"received", len(r.seen)}, {"duplicates", r.duplicates}}
	if r.total > 0 {
		missing := []int{}
		for i := 1; i <= r.total; i++ {
			if !r.seen[strconv.Itoa(i)] {
				missing = append(missing, i)
			}
		}
		out = append(out, field{"missing", missing})
	}
	return append(out, field{"reconnects", r.p.reconnects})
}

func (r *receive) waitingFor() string {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	if !r.attached {
		return "the attach of the receiver link from " + r.p.opts.address
	}
	of := ""
	if r.total > 0 {
		of = fmt.Sprintf(" of %d", r.total)
	}
	return fmt.Sprintf("messages on %s (received %d%s distinct ids)", r.p.opts.address, len(r.seen), of)
}

func (r *receive) countless() bool { return r.total == 0 }

// ----------------------------------------------------------------------- serve

type serve struct {
	p         *peer
	total     int
	served    int
	readyOnce bool
	stage     string
}

func newServe(p *peer) role { return &serve{p: p, total: p.opts.count} }

func (r *serve) run(ctx context.Context, s *amqp.Session) error {
	p := r.p
	p.locked(func() { r.stage = "the attach of the request receiver from " + p.opts.address })
	name := "serve-" + p.opts.address
	receiver, err := s.NewReceiver(ctx, p.opts.address, &amqp.ReceiverOptions{Name: name, Credit: receiverCredit})
	if err != nil {
		return err
	}
	p.linkOpened(name, "receiver", receiver.Address())
	first := false
	p.locked(func() { first, r.readyOnce = !r.readyOnce, true })
	if first {
		p.ready()
	}
	// go-amqp does not show the remote's offered capabilities, so ANONYMOUS-RELAY is
	// never known: one sender per reply_to, as the contract says for that case.
	senders := map[string]*amqp.Sender{}
	links := func() []interface{ Close(context.Context) error } {
		out := []interface{ Close(context.Context) error }{receiver}
		for _, snd := range senders {
			out = append(out, snd)
		}
		return out
	}
	for {
		done := false
		p.locked(func() {
			done = r.total > 0 && r.served >= r.total
			r.stage = fmt.Sprintf("requests on %s (served %d)", p.opts.address, r.served)
		})
		if done {
			closeLinks(links()...)
			return nil
		}
		msg, err := receiver.Receive(ctx, nil)
		if err != nil {
			return err
		}
		p.out.event("message", messageFields(msg)...)
		if msg.Properties == nil || msg.Properties.ReplyTo == nil {
			stderr("serve: request without reply_to ignored")
			if err := receiver.AcceptMessage(ctx, msg); err != nil {
				return err
			}
			continue
		}
		replyTo := *msg.Properties.ReplyTo
		correlation := msg.Properties.CorrelationID
		if correlation == nil {
			correlation = msg.Properties.MessageID
		}
		sender := senders[replyTo]
		if sender == nil {
			linkName := "serve-reply-" + replyTo
			if sender, err = s.NewSender(ctx, replyTo, &amqp.SenderOptions{Name: linkName}); err != nil {
				return err
			}
			senders[replyTo] = sender
			p.linkOpened(linkName, "sender", sender.Address())
		}
		text := strings.ToUpper(bodyText(msg))
		reply := &amqp.Message{
			Properties: &amqp.MessageProperties{To: &replyTo, CorrelationID: correlation},
			Value:      text,
		}
		p.locked(func() { r.stage = "credit for a reply to " + replyTo })
		receipt, err := sender.SendWithReceipt(ctx, reply, nil)
		if err != nil {
			return err
		}
		p.locked(func() { r.served++ })
		p.out.event("sent", field{"id", nil}, field{"body", text}, field{"to", replyTo},
			field{"correlation_id", jsonValue(correlation)})
		if err := receiver.AcceptMessage(ctx, msg); err != nil {
			return err
		}
		p.locked(func() { r.stage = "the outcome of a reply to " + replyTo })
		state, err := receipt.Wait(ctx)
		if err != nil {
			return err
		}
		p.outcome(state, nil)
	}
}

func (r *serve) disconnected() {}

func (r *serve) result() obj {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	return obj{{"served", r.served}}
}

func (r *serve) waitingFor() string {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	return r.stage
}

func (r *serve) countless() bool { return r.total == 0 }

// --------------------------------------------------------------------- request

type request struct {
	p        *peer
	requests []string
	answered map[int]bool
	replyTo  string
	stage    string
}

func newRequest(p *peer) role {
	return &request{p: p, requests: p.opts.requests, answered: map[int]bool{}}
}

func correlationOf(i int) string { return fmt.Sprintf("request-%d", i+1) }

// replyReceiverOptions: the tutorial's dynamic source; with --dynamic-capability it names
// the broker's own kind of node (RabbitMQ 4.2+: rabbitmq:volatile-queue), which lives as
// long as the link and delivers pre-settled: expiry-policy link-detach, snd-settle-mode
// settled (peers/CONTRACT.md).
func replyReceiverOptions(caps []string) *amqp.ReceiverOptions {
	o := &amqp.ReceiverOptions{Name: "request-replies", DynamicAddress: true, Credit: receiverCredit}
	if len(caps) > 0 {
		o.SourceCapabilities = caps
		o.SourceExpiryPolicy = amqp.ExpiryPolicyLinkDetach
		o.RequestedSenderSettleMode = amqp.SenderSettleModeSettled.Ptr()
	}
	return o
}

func (r *request) run(ctx context.Context, s *amqp.Session) error {
	p := r.p
	p.locked(func() { r.stage = "the attach of the dynamic reply receiver (its address)" })
	replies, err := s.NewReceiver(ctx, "", replyReceiverOptions(p.opts.dynamicCaps))
	if err != nil {
		return p.settleModeRefused("request-replies", err)
	}
	replyTo := replies.Address()
	p.linkOpened("request-replies", "receiver", replyTo)
	if replyTo == "" {
		return failf("the dynamic reply receiver was attached without an address")
	}
	p.locked(func() {
		r.replyTo = replyTo
		r.stage = "the attach of the request sender to " + p.opts.address
	})
	name := "request-" + p.opts.address
	sender, err := s.NewSender(ctx, p.opts.address, &amqp.SenderOptions{Name: name})
	if err != nil {
		return err
	}
	p.linkOpened(name, "sender", sender.Address())
	var sentIDs []int
	var receipts []amqp.SendReceipt
	for i, text := range r.requests {
		answered := false
		p.locked(func() {
			answered = r.answered[i]
			r.stage = "credit on the request sender to " + p.opts.address
		})
		if answered {
			continue
		}
		msg := &amqp.Message{
			Properties: &amqp.MessageProperties{
				MessageID: uint64(i + 1), CorrelationID: correlationOf(i), ReplyTo: &replyTo,
			},
			Value: text,
		}
		receipt, err := sender.SendWithReceipt(ctx, msg, nil)
		if err != nil {
			return err
		}
		p.out.event("sent", field{"id", i + 1}, field{"body", text}, field{"correlation_id", correlationOf(i)})
		sentIDs = append(sentIDs, i+1)
		receipts = append(receipts, receipt)
	}
	go func() { // outcomes of the requests, as they come
		for k := range receipts {
			state, err := receipts[k].Wait(ctx)
			if err != nil {
				return
			}
			p.outcome(state, sentIDs[k])
		}
	}()
	for {
		done := false
		p.locked(func() {
			done = len(r.answered) == len(r.requests)
			r.stage = fmt.Sprintf("replies (%d of %d)", len(r.answered), len(r.requests))
		})
		if done {
			closeLinks(sender, replies)
			return nil
		}
		msg, err := replies.Receive(ctx, nil)
		if err != nil {
			return err
		}
		var corr any
		if msg.Properties != nil {
			corr = msg.Properties.CorrelationID
		}
		index := -1
		for i := range r.requests {
			if corr == correlationOf(i) {
				index = i
			}
		}
		fields := messageFields(msg)
		if index < 0 {
			p.out.event("message", fields...)
			_ = replies.AcceptMessage(ctx, msg)
			return failf("reply with an unknown correlation_id: %s", idKey(corr))
		}
		p.out.event("message", append(fields, field{"request", r.requests[index]})...)
		if err := replies.AcceptMessage(ctx, msg); err != nil {
			return err
		}
		want, got := strings.ToUpper(r.requests[index]), bodyText(msg)
		if got != want {
			return failf("reply to %q was %q, expected %q", r.requests[index], got, want)
		}
		p.locked(func() { r.answered[index] = true })
	}
}

func (r *request) disconnected() {}

func (r *request) result() obj {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	var replyTo any
	if r.replyTo != "" {
		replyTo = r.replyTo
	}
	return obj{{"requests", len(r.requests)}, {"replies", len(r.answered)}, {"reply_to", replyTo}}
}

func (r *request) waitingFor() string {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	return r.stage
}

func (r *request) countless() bool { return false }

// ----------------------------------------------------------------------- hello

const helloBody = "Hello World!"

type hello struct {
	p        *peer
	received []any
	stage    string
}

func newHello(p *peer) role { return &hello{p: p, received: []any{}} }

func (r *hello) run(ctx context.Context, s *amqp.Session) error {
	p := r.p
	p.locked(func() { r.stage = "the attach of the receiver link from " + p.opts.address })
	receiver, err := s.NewReceiver(ctx, p.opts.address, &amqp.ReceiverOptions{Name: "hello-receiver"})
	if err != nil {
		return err
	}
	p.linkOpened("hello-receiver", "receiver", receiver.Address())
	// only once the receiver is attached: the sender (NewReceiver returned on the answer)
	p.locked(func() { r.stage = "the attach of the sender link to " + p.opts.address })
	sender, err := s.NewSender(ctx, p.opts.address, &amqp.SenderOptions{Name: "hello-sender"})
	if err != nil {
		return err
	}
	p.linkOpened("hello-sender", "sender", sender.Address())
	p.locked(func() { r.stage = "credit on the sender link to " + p.opts.address })
	// SendWithReceipt waits inside go-amqp until the link has credit
	receipt, err := sender.SendWithReceipt(ctx, &amqp.Message{Value: helloBody}, nil)
	if err != nil {
		return err
	}
	p.out.event("sent", field{"body", helloBody})
	outcome := make(chan string, 1)
	go func() {
		state, err := receipt.Wait(ctx)
		if err != nil {
			outcome <- ""
			return
		}
		name, _ := p.outcome(state, nil)
		outcome <- name
	}()
	p.locked(func() { r.stage = "the message back from " + p.opts.address })
	msg, err := receiver.Receive(ctx, nil)
	if err != nil {
		return err
	}
	p.locked(func() { r.received = append(r.received, body(msg)) })
	p.out.event("message", messageFields(msg)...)
	if err := receiver.AcceptMessage(ctx, msg); err != nil {
		return err
	}
	select { // the outcome of our own message, if it has not come yet
	case name := <-outcome:
		if name == "rejected" {
			return failf("the hello message was rejected")
		}
	case <-time.After(closeWait):
	}
	closeLinks(sender, receiver)
	return nil
}

func (r *hello) disconnected() {}

func (r *hello) result() obj {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	return obj{{"received", append([]any{}, r.received...)}}
}

func (r *hello) waitingFor() string {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	return r.stage
}

func (r *hello) countless() bool { return false }
