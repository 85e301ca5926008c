#!/usr/bin/env node
'use strict';
/*
 * The rhea reference peer of amqp-interop: one program, one role per run,
 * JSON Lines on stdout exactly as peers/CONTRACT.md says. The harness reads
 * these lines (never rhea's own log), so every rhea callback that matters is
 * mapped to the harness's event vocabulary here.
 */

const { USAGE, UsageError, effectiveOptions, parseArgs } = require('./args.js');

let opts;
try {
    opts = parseArgs(process.argv.slice(2));
} catch (e) {
    if (!(e instanceof UsageError)) throw e;
    const help = e.message === 'help';
    process.stderr.write(help ? `${USAGE}\n` : `${USAGE} (${e.message})\n`);
    process.exitCode = help ? 0 : 2;
    return;
}

/* ---------------------------------------------------------------- output */

const PER_MESSAGE = new Set(['sent', 'accepted', 'message', 'settled', 'sendable']);
let finished = false;
let role = null;

function writeLine(obj) {
    if (!finished) process.stdout.write(`${JSON.stringify(obj)}\n`);
}

function event(name, fields) {
    if (opts.quiet && PER_MESSAGE.has(name)) return;
    writeLine({ kind: 'event', name, ...fields });
}

function oneLine(text) {
    return String(text).replace(/\s+/g, ' ').trim();
}

/**
 * Print the timeout line (if any) and the single result line, then exit once
 * stdout has taken the line: process.exit would otherwise drop a pending write.
 */
function finish(code, error, waitingFor) {
    if (finished) return;
    if (waitingFor !== undefined) writeLine({ kind: 'timeout', waiting_for: waitingFor });
    const result = { kind: 'result', role: opts.role, ok: code === 0 };
    if (error) result.error = oneLine(error);
    Object.assign(result, role ? role.result() : {});
    result.options = effectiveOptions(opts);
    finished = true;
    process.exitCode = code;
    process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(code));
    setTimeout(() => process.exit(code), 1000);
}

process.stdout.on('error', () => process.exit(process.exitCode || 1));

process.on('uncaughtException', (e) => {
    process.stderr.write(`error: ${oneLine(e && e.message ? e.message : e)}\n`);
    if (finished) process.exit(1);
    finish(1, `internal error: ${e && e.message ? e.message : e}`);
});

let rhea;
try {
    rhea = require('rhea');
} catch (e) {
    process.stderr.write('error: the rhea module is missing; run `npm ci` in peers/js\n');
    finish(1, 'rhea is not installed');
    return;
}
const values = require('./values.js');

values.installIdTypeRecorder();

/* ------------------------------------------------------------- rhea setup */

const container = rhea.create_container({
    id: `amqp-interop-js-${opts.role}-${process.pid}`,
    // The contract reports `modified` as its own outcome; rhea folds it into
    // `released` unless told otherwise.
    treat_modified_as_released: false,
    // Accept explicitly, so that messages arriving after the role is done can be
    // released instead of silently accepted and lost.
    autoaccept: false,
});

const display = `${opts.host.includes(':') ? `[${opts.host}]` : opts.host}`;
const rt = {
    conn: null,
    server: null,
    listenUrl: null,
    done: false,
    closing: false,
    everOpened: false,
    reconnects: 0,
    lastProblem: undefined,
    ours: new WeakSet(),
    dynamicCounter: 0,
};

function clientSasl() {
    // rhea sends no SASL layer at all without a username, and ANONYMOUS with a
    // username but no password. Proton always starts with SASL (ANONYMOUS by
    // default), and brokers that require SASL refuse a bare AMQP header, so the
    // peer chooses the mechanism itself.
    const mechs = container.sasl.client_mechanisms();
    if (opts.user !== undefined && opts.password !== undefined) {
        mechs.enable_plain(opts.user, opts.password);
    } else {
        mechs.enable_anonymous(opts.user);
    }
    return mechs;
}

/**
 * The request role's reply receiver: a dynamic source, the tutorial's. With
 * --dynamic-capability it names the broker's own kind of node (RabbitMQ 4.2+:
 * rabbitmq:volatile-queue), which lives as long as the link and delivers
 * pre-settled: expiry-policy link-detach, snd-settle-mode settled (peers/CONTRACT.md).
 */
function dynamicReplyOptions(opts) {
    if (!opts.dynamicCapabilities.length) return { name: 'request-replies', source: { dynamic: true } };
    return {
        name: 'request-replies',
        snd_settle_mode: 1,
        source: { dynamic: true, capabilities: [...opts.dynamicCapabilities], expiry_policy: 'link-detach' },
    };
}

function openLink(conn, kind, options) {
    const link = kind === 'sender' ? conn.open_sender(options) : conn.open_receiver(options);
    rt.ours.add(link);
    return link;
}

function remoteAddress(terminus) {
    return terminus && terminus.address !== undefined ? terminus.address : null;
}

/**
 * The node address of a link. For links we opened: a receiver's remote source
 * (the dynamic address included), a sender's remote target. For links the
 * remote opened to us (listen mode): the address the remote named.
 */
function linkAddress(link) {
    if (link.peer_address !== undefined) return link.peer_address;
    if (rt.ours.has(link)) {
        return link.is_receiver() ? remoteAddress(link.source) : remoteAddress(link.target);
    }
    return link.is_receiver() ? remoteAddress(link.target) : remoteAddress(link.source);
}

/** Deliveries queued in rhea for this sender but not yet written (rhea sends on the next tick). */
function untransmitted(sender) {
    const out = sender.session.outgoing;
    let n = 0;
    for (let id = out.next_pending_delivery; id < out.next_delivery_id; id++) {
        const d = out.deliveries.by_id(id);
        if (d && d.link === sender) n++;
    }
    return n;
}

/**
 * How many messages may be sent now: the link credit not yet used by queued deliveries, and no
 * more than the session's outgoing buffer still holds (rhea keeps each unsettled delivery there,
 * 2048 by default, and throws "circular buffer overflow" past it: a broker that grants more credit
 * than that, as RabbitMQ does, and settles later would otherwise crash a long send).
 */
function budget(sender) {
    if (!sender || !sender.is_open() || !sender.sendable()) return 0;
    const room = sender.session.outgoing.available();
    return Math.max(0, Math.min(sender.credit - untransmitted(sender), room));
}

function messageFields(msg) {
    const f = {
        id: values.idToJson(msg, 'message_id'),
        body: values.bodyToJson(msg.body),
    };
    if (msg.reply_to !== undefined) f.reply_to = msg.reply_to;
    if (msg.correlation_id !== undefined) f.correlation_id = values.idToJson(msg, 'correlation_id');
    if (msg.to !== undefined) f.to = msg.to;
    return f;
}

function fail(error) {
    finish(1, error);
}

function connectWaiting() {
    if (opts.listen) {
        return `a connection on ${rt.listenUrl || `${display}:${opts.port}`}`;
    }
    const why = rt.lastProblem ? ` (last: ${rt.lastProblem})` : '';
    return `the AMQP open from ${display}:${opts.port}${why}`;
}

function connectionUp() {
    return rt.conn && rt.conn.is_remote_open() && !rt.conn.is_closed();
}

/* ----------------------------------------------------------- completion */

/** Finish successfully: the role is done and its connection has closed. */
function finishDone() {
    if (rt.server) rt.server.close();
    finish(0);
}

/**
 * Detach our links and end our sessions, then close. The tutorial just closes
 * (AMQP allows it), but the suite holds every reference peer to a clean
 * shutdown (invariant detach-before-close). rhea writes, per session, the
 * detaches and then the end, and the close after all sessions: the right order.
 */
function closeCleanly(conn) {
    for (const ssn of Object.values(conn.local_channel_map)) {
        ssn.each_link((link) => link.close());
        ssn.close();
    }
    conn.close();
}

/** The role succeeded: close the connection (and acceptor), exit once the close completes. */
function complete(conn) {
    if (rt.done) return;
    rt.done = true;
    rt.closing = true;
    if (rt.server) rt.server.close();
    if (conn && !conn.is_closed()) closeCleanly(conn);
    else finishDone();
    // A remote that never answers our close must not turn success into a timeout.
    setTimeout(finishDone, 2000);
}

/** After the close handshake, let rhea flush its close frame and end the socket first. */
function finishAfterSocket(conn) {
    const socket = conn && conn.socket;
    if (socket && !socket.destroyed && typeof socket.once === 'function') {
        socket.once('close', finishDone);
        setTimeout(finishDone, 500);
    } else {
        setImmediate(finishDone);
    }
}

/* ------------------------------------------------------------------ roles */

function sendRole() {
    const total = opts.count;
    const confirmed = new Set();
    const everSent = new Set();
    let queue = [];
    let head = 0;
    let sent = 0;
    let resent = 0;
    let sender = null;

    function requeueUnconfirmed() {
        // The tutorial's simple_send: sent = confirmed; everything after it goes again.
        queue = [];
        head = 0;
        for (let i = 1; i <= total; i++) if (!confirmed.has(i)) queue.push(i);
    }
    requeueUnconfirmed();

    function pump() {
        let n = budget(sender);
        while (n > 0 && head < queue.length) {
            const id = queue[head++];
            if (confirmed.has(id)) continue;
            const d = sender.send({
                message_id: id,
                durable: true, // so a broker that persists keeps it across a restart
                body: { sequence: rhea.types.wrap_long(id) },
            });
            d.peer_id = id;
            sent++;
            if (everSent.has(id)) resent++;
            else everSent.add(id);
            event('sent', { id });
            n--;
        }
    }

    return {
        start(conn) {
            sender = openLink(conn, 'sender', {
                name: `send-${opts.address}`,
                target: { address: opts.address },
            });
        },
        linkOpened(ctx, link) {
            if (opts.listen && !rt.ours.has(link) && link.is_sender() && !sender) sender = link;
        },
        sendable(ctx) {
            if (ctx.sender === sender) pump();
        },
        outcome(name, ctx) {
            const id = ctx.delivery.peer_id;
            if (id === undefined) return;
            if (name === 'settled') {
                event('settled', { id });
            } else if (name === 'accepted') {
                event('accepted', { id });
                confirmed.add(id);
                if (confirmed.size === total) complete(ctx.connection);
            } else if (name === 'rejected') {
                const err = ctx.delivery.remote_state && ctx.delivery.remote_state.error;
                event('rejected', { id, condition: err ? err.condition : null });
                fail(`message ${id} rejected${err ? `: ${err.condition} ${err.description || ''}` : ''}`);
            } else {
                // released / modified: not delivered; at-least-once means sending it again.
                event(name, { id });
                if (!rt.done) {
                    queue.push(id);
                    pump();
                }
            }
        },
        disconnected() {
            requeueUnconfirmed();
            if (opts.listen) sender = null;
        },
        result() {
            return { count: total, sent, confirmed: confirmed.size, resent, reconnects: rt.reconnects };
        },
        waitingFor() {
            if (!connectionUp()) return connectWaiting();
            const progress = `confirmed ${confirmed.size} of ${total}`;
            if (!sender || !sender.is_remote_open()) {
                return `the attach of the sender link to ${opts.address} (${progress})`;
            }
            if (head < queue.length && budget(sender) === 0) {
                return `credit on the sender link to ${opts.address} (${progress})`;
            }
            return `accepted outcomes (${progress})`;
        },
        countless: false,
    };
}

function receiveRole() {
    const total = opts.count;
    const seen = new Set();
    let duplicates = 0;
    let receiver = null;
    let readyPrinted = false;

    return {
        start(conn) {
            // at-least-once: snd-settle-mode unsettled (0), so the broker may not deliver
            // pre-settled (a message settled on the way is lost with the connection)
            receiver = openLink(conn, 'receiver', {
                name: `receive-${opts.address}`,
                source: { address: opts.address },
                snd_settle_mode: 0,
                rcv_settle_mode: 0,
            });
        },
        linkOpened(ctx, link) {
            if (link === receiver && !readyPrinted) {
                readyPrinted = true;
                writeLine({ kind: 'ready', url: `amqp://${display}:${opts.port}` });
            }
        },
        message(ctx) {
            if (rt.done) return 'release';
            const msg = ctx.message;
            const id = values.idToJson(msg, 'message_id');
            const key = JSON.stringify(id);
            const duplicate = seen.has(key);
            if (duplicate) duplicates++;
            else seen.add(key);
            event('message', { ...messageFields(msg), duplicate });
            if (total > 0 && seen.size >= total) {
                ctx.delivery.accept();
                complete(ctx.connection);
                return 'done';
            }
            return 'accept';
        },
        result() {
            const r = { count: total, received: seen.size, duplicates };
            if (total > 0) {
                r.missing = [];
                for (let i = 1; i <= total; i++) if (!seen.has(String(i))) r.missing.push(i);
            }
            r.reconnects = rt.reconnects;
            return r;
        },
        waitingFor() {
            if (!connectionUp()) return connectWaiting();
            if (!opts.listen && (!receiver || !receiver.is_remote_open())) {
                return `the attach of the receiver link from ${opts.address}`;
            }
            const of = total > 0 ? ` of ${total}` : '';
            return `messages on ${opts.address} (received ${seen.size}${of} distinct ids)`;
        },
        countless: total === 0,
    };
}

function serveRole() {
    const total = opts.count;
    let receiver = null;
    let relay = false;
    let anonymous = null;
    const bySender = new Map(); // sender -> queued replies
    const cache = new Map(); // reply_to -> sender (no relay)
    const routes = new Map(); // listen mode: address -> our sender link
    let served = 0;
    let outstanding = 0;
    let readyPrinted = false;

    function maybeDone(conn) {
        if (total > 0 && served >= total && outstanding === 0) complete(conn);
    }

    function pump(sender) {
        const q = bySender.get(sender);
        if (!q) return;
        let n = budget(sender);
        while (n > 0 && q.length) {
            const reply = q.shift();
            const d = sender.send(reply);
            d.peer_reply = true;
            served++;
            outstanding++;
            event('sent', {
                id: null,
                body: reply.body,
                to: reply.to,
                correlation_id: values.toJson(reply.correlation_id),
            });
            n--;
        }
    }

    function route(replyTo, conn) {
        if (opts.listen) return routes.get(replyTo);
        if (relay) {
            if (!anonymous) {
                anonymous = openLink(conn, 'sender', { name: 'serve-replies', target: {} });
            }
            return anonymous;
        }
        let s = cache.get(replyTo);
        if (!s) {
            s = openLink(conn, 'sender', { name: `serve-reply-${replyTo}`, target: { address: replyTo } });
            cache.set(replyTo, s);
        }
        return s;
    }

    return {
        start(conn) {
            receiver = openLink(conn, 'receiver', {
                name: `serve-${opts.address}`,
                source: { address: opts.address },
            });
        },
        connectionOpened(ctx) {
            if (opts.listen) return;
            const caps = ctx.connection.offered_capabilities;
            const list = Array.isArray(caps) ? caps : caps ? [caps] : [];
            relay = list.map(String).includes('ANONYMOUS-RELAY');
            if (relay && !anonymous) route(null, ctx.connection); // attach it before any request
        },
        linkOpened(ctx, link, address) {
            if (link === receiver && !readyPrinted) {
                readyPrinted = true;
                writeLine({ kind: 'ready', url: `amqp://${display}:${opts.port}` });
            }
            if (opts.listen && !rt.ours.has(link) && link.is_sender() && address !== null) {
                routes.set(address, link);
            }
        },
        sendable(ctx) {
            pump(ctx.sender);
        },
        message(ctx) {
            if (rt.done) return 'release';
            const msg = ctx.message;
            event('message', messageFields(msg));
            if (msg.reply_to === undefined || msg.reply_to === null) {
                process.stderr.write('serve: request without reply_to ignored\n');
                return 'accept';
            }
            const hasCorrelation = msg.correlation_id !== undefined && msg.correlation_id !== null;
            const reply = {
                to: msg.reply_to,
                body: values.bodyText(msg.body).toUpperCase(),
                correlation_id: values.idForSending(msg, hasCorrelation ? 'correlation_id' : 'message_id'),
            };
            const sender = route(msg.reply_to, ctx.connection);
            if (!sender) {
                process.stderr.write(`serve: no link for reply_to ${msg.reply_to}; reply dropped\n`);
                return 'accept';
            }
            if (!bySender.has(sender)) bySender.set(sender, []);
            bySender.get(sender).push(reply);
            pump(sender);
            return 'accept';
        },
        outcome(name, ctx) {
            const d = ctx.delivery;
            if (!d.peer_reply) return;
            if (name !== 'settled') event(name, { id: null });
            else event('settled', { id: null });
            if (!d.peer_done) {
                d.peer_done = true;
                outstanding--;
                maybeDone(ctx.connection);
            }
        },
        disconnected() {
            // Unsettled replies are gone with rhea's session; they cannot complete.
            outstanding = 0;
            if (opts.listen) routes.clear();
        },
        result() {
            return { served };
        },
        waitingFor() {
            if (!connectionUp()) return connectWaiting();
            if (!opts.listen && (!receiver || !receiver.is_remote_open())) {
                return `the attach of the request receiver from ${opts.address}`;
            }
            const queued = [...bySender.values()].reduce((a, q) => a + q.length, 0);
            if (queued) return `credit for ${queued} replies (served ${served})`;
            const of = total > 0 ? ` of ${total}` : '';
            return `requests on ${opts.address} (served ${served}${of})`;
        },
        countless: total === 0,
    };
}

function requestRole() {
    const requests = opts.requests;
    const correlation = new Map(); // JSON of correlation id -> request index
    requests.forEach((_, i) => correlation.set(JSON.stringify(`request-${i + 1}`), i));
    const answered = new Set();
    let queue = requests.map((_, i) => i);
    let head = 0;
    let replyReceiver = null;
    let sender = null;
    let replyTo = null;
    let replyReady = false;

    function pump() {
        if (!replyReady) return;
        let n = budget(sender);
        while (n > 0 && head < queue.length) {
            const i = queue[head++];
            if (answered.has(i)) continue;
            sender.send({
                message_id: i + 1,
                correlation_id: `request-${i + 1}`,
                reply_to: replyTo,
                body: requests[i],
            });
            event('sent', { id: i + 1, body: requests[i], correlation_id: `request-${i + 1}` });
            n--;
        }
    }

    return {
        start(conn) {
            replyReceiver = openLink(conn, 'receiver', dynamicReplyOptions(opts));
        },
        linkOpened(ctx, link, address) {
            if (link !== replyReceiver) return;
            if (!address) {
                fail('the dynamic reply receiver was attached without an address');
                return;
            }
            replyTo = address;
            replyReady = true;
            if (!sender) {
                sender = openLink(ctx.connection, 'sender', {
                    name: `request-${opts.address}`,
                    target: { address: opts.address },
                });
            } else {
                pump();
            }
        },
        sendable(ctx) {
            if (ctx.sender === sender) pump();
        },
        message(ctx) {
            const msg = ctx.message;
            const corr = values.idToJson(msg, 'correlation_id');
            const i = correlation.get(JSON.stringify(corr));
            const fields = messageFields(msg);
            if (i === undefined) {
                event('message', fields);
                fail(`reply with an unknown correlation_id: ${JSON.stringify(corr)}`);
                return 'accept';
            }
            const text = values.bodyText(msg.body);
            event('message', { ...fields, request: requests[i] });
            if (answered.has(i)) return 'accept';
            if (text !== requests[i].toUpperCase()) {
                fail(`reply to "${requests[i]}" was "${text}", expected "${requests[i].toUpperCase()}"`);
                return 'accept';
            }
            answered.add(i);
            if (answered.size === requests.length) {
                ctx.delivery.accept();
                complete(ctx.connection);
                return 'done';
            }
            return 'accept';
        },
        disconnected() {
            // The dynamic address dies with the connection: wait for the new one,
            // then send every unanswered request again.
            replyReady = false;
            queue = requests.map((_, i) => i).filter((i) => !answered.has(i));
            head = 0;
        },
        result() {
            return { requests: requests.length, replies: answered.size, reply_to: replyTo };
        },
        waitingFor() {
            if (!connectionUp()) return connectWaiting();
            if (!replyReady) return 'the attach of the dynamic reply receiver (its address)';
            if (!sender || !sender.is_remote_open()) {
                return `the attach of the request sender to ${opts.address}`;
            }
            if (head < queue.length) return `credit on the request sender to ${opts.address}`;
            return `replies (${answered.size} of ${requests.length})`;
        },
        countless: false,
    };
}

function helloRole() {
    const received = [];
    let receiver = null;
    let sender = null;
    let helloSent = false;
    let helloAccepted = false;

    return {
        start(conn) {
            receiver = openLink(conn, 'receiver', {
                name: 'hello-receiver',
                source: { address: opts.address },
            });
        },
        linkOpened(ctx, link) {
            if (link === receiver && !sender) {
                sender = openLink(ctx.connection, 'sender', {
                    name: 'hello-sender',
                    target: { address: opts.address },
                });
            }
        },
        sendable(ctx) {
            if (ctx.sender === sender && !helloSent && budget(sender) > 0) {
                helloSent = true;
                sender.send({ body: 'Hello World!' });
                event('sent', { body: 'Hello World!' });
            }
        },
        outcome(name) {
            if (name === 'settled') return;
            event(name, { id: null });
            if (name === 'accepted') helloAccepted = true;
            else if (name === 'rejected') fail('the hello message was rejected');
            else helloSent = false;
        },
        message(ctx) {
            const msg = ctx.message;
            received.push(values.bodyToJson(msg.body));
            event('message', messageFields(msg));
            ctx.delivery.accept();
            complete(ctx.connection);
            return 'done';
        },
        disconnected() {
            if (!helloAccepted) helloSent = false;
        },
        result() {
            return { received };
        },
        waitingFor() {
            if (!connectionUp()) return connectWaiting();
            if (!receiver || !receiver.is_remote_open()) {
                return `the attach of the receiver link from ${opts.address}`;
            }
            if (!sender || !sender.is_remote_open()) {
                return `the attach of the sender link to ${opts.address}`;
            }
            if (!helloSent) return `credit on the sender link to ${opts.address}`;
            return `the message back from ${opts.address}`;
        },
        countless: false,
    };
}

/**
 * The accepted side of `hello --listen`. As in the tutorial's helloworld_direct
 * the peer connects to its own listener; this side keeps one queue per address
 * and hands messages to the receivers attached there, so the peer's own hello
 * client gets "Hello World!" back as it would through a broker. It prints no
 * events: the client side is the one the contract describes.
 */
function helloRelay() {
    const routes = new Map(); // address -> our sender link
    const queues = new Map(); // address -> bodies

    function pump(address) {
        const s = routes.get(address);
        const q = queues.get(address);
        if (!s || !q) return;
        let n = budget(s);
        while (n > 0 && q.length) {
            s.send({ body: q.shift() });
            n--;
        }
    }

    return {
        linkOpened(link, address) {
            if (link.is_sender() && address !== null) {
                routes.set(address, link);
                pump(address);
            }
        },
        sendable(ctx) {
            pump(linkAddress(ctx.sender));
        },
        message(ctx) {
            const to = ctx.message.to || linkAddress(ctx.receiver);
            if (!queues.has(to)) queues.set(to, []);
            queues.get(to).push(ctx.message.body);
            ctx.delivery.accept();
            pump(to);
        },
    };
}

const ROLE_FACTORIES = {
    hello: helloRole,
    send: sendRole,
    receive: receiveRole,
    serve: serveRole,
    request: requestRole,
};
role = ROLE_FACTORIES[opts.role]();
const relay = opts.role === 'hello' && opts.listen ? helloRelay() : null;

/* --------------------------------------------------------- rhea callbacks */

/** Events of the accepted side of `hello --listen` go to the relay, not to the role. */
function onRelaySide(ctx) {
    return relay !== null && ctx.connection.is_server;
}

container.on('connection_open', (ctx) => {
    if (onRelaySide(ctx)) return;
    if (rt.everOpened) rt.reconnects++;
    rt.everOpened = true;
    rt.conn = ctx.connection;
    rt.lastProblem = undefined;
    event('connection_opened', { container: ctx.connection.container_id || null });
    if (role.connectionOpened) role.connectionOpened(ctx);
});

/** A link the remote opened to us (listen mode): answer with matching termini. */
function answerRemoteAttach(link) {
    const remoteSource = link.source;
    const remoteTarget = link.target;
    if (link.is_sender()) {
        let address = remoteAddress(remoteSource);
        if (remoteSource && remoteSource.dynamic) {
            // the tutorial's server_direct: the listener names the dynamic node
            rt.dynamicCounter += 1;
            address = `js-dynamic-${process.pid}-${rt.dynamicCounter}`;
            link.peer_address = address;
        }
        link.set_source({ address });
        if (remoteTarget) link.set_target({ address: remoteAddress(remoteTarget) });
        // 2.7.3: the receiver's snd-settle-mode is the mode it desires at the sender, which
        // SHOULD respect it. Unsettled (0) is answered with unsettled, what these sends are
        // anyway (go-amqp refuses any other answer); a receiver asking settled keeps rhea's
        // mixed, because the send role counts outcomes. The answering attach is still queued.
        if (link.snd_settle_mode === 0) link.local.attach.snd_settle_mode = 0;
    } else {
        link.set_target({ address: remoteAddress(remoteTarget) });
        if (remoteSource) link.set_source({ address: remoteAddress(remoteSource) });
    }
}

function onLinkOpen(ctx, link) {
    if (!rt.ours.has(link)) answerRemoteAttach(link);
    const address = linkAddress(link);
    if (onRelaySide(ctx)) {
        relay.linkOpened(link, address);
        return;
    }
    event('link_opened', {
        link: link.name,
        role: link.is_sender() ? 'sender' : 'receiver',
        address,
    });
    if (role.linkOpened) role.linkOpened(ctx, link, address);
}

container.on('sender_open', (ctx) => onLinkOpen(ctx, ctx.sender));
container.on('receiver_open', (ctx) => onLinkOpen(ctx, ctx.receiver));

container.on('sendable', function onSendable(ctx) {
    if (finished) return;
    if (ctx.sender.state.open_requests > 0) {
        // Our answering attach is still queued (a link the remote opened, with its
        // flow in the same read). rhea writes a session's transfers before its
        // attach frames, so sending now would put a transfer before the attach.
        setImmediate(() => onSendable(ctx));
        return;
    }
    if (onRelaySide(ctx)) {
        relay.sendable(ctx);
        return;
    }
    event('sendable', { link: ctx.sender.name, credit: ctx.sender.credit });
    if (role.sendable) role.sendable(ctx);
});

for (const name of ['accepted', 'released', 'rejected', 'modified', 'settled']) {
    container.on(name, (ctx) => {
        if (finished || !ctx.sender || onRelaySide(ctx)) return;
        if (role.outcome) role.outcome(name, ctx);
    });
}

container.on('message', (ctx) => {
    if (finished) return;
    if (onRelaySide(ctx)) {
        relay.message(ctx);
        return;
    }
    const verdict = role.message ? role.message(ctx) : 'accept';
    if (verdict === 'accept') ctx.delivery.accept();
    // Once the peer has closed, rhea 3.0.5 still writes a disposition, after its own
    // end and close frames (AMQP 1.0 2.4.3: the close is the last frame; a broker ends
    // the connection with amqp:not-allowed "no such channel"). A message that arrives
    // then stays unsettled: the broker hands it out again when the link goes.
    else if (verdict === 'release' && !rt.closing) ctx.delivery.release();
});

function linkError(ctx, link) {
    const err = link.error || {};
    event('link_error', {
        link: link.name,
        condition: err.condition || null,
        description: err.description || null,
    });
    fail(`link ${link.name} closed with ${err.condition}: ${err.description || ''}`);
}

container.on('sender_error', (ctx) => linkError(ctx, ctx.sender));
container.on('receiver_error', (ctx) => linkError(ctx, ctx.receiver));
container.on('session_error', (ctx) => {
    const err = ctx.session.error || {};
    event('link_error', {
        link: null,
        scope: 'session',
        condition: err.condition || null,
        description: err.description || null,
    });
    fail(`session ended with ${err.condition}: ${err.description || ''}`);
});
for (const name of ['sender_close', 'receiver_close']) {
    container.on(name, (ctx) => {
        const link = ctx.sender || ctx.receiver;
        if (!link.error && !rt.closing && !onRelaySide(ctx)) {
            process.stderr.write(`link ${link.name} detached by the remote\n`);
        }
    });
}

container.on('connection_error', (ctx) => {
    const conn = ctx.connection;
    const err = ctx.error || conn.error || {};
    const transport = Boolean(conn.transport_error);
    event(transport ? 'transport_error' : 'connection_error', {
        condition: err.condition || null,
        description: err.description || err.message || null,
    });
    const forced = err.condition === 'amqp:connection:forced';
    if (forced && opts.reconnect && !opts.listen && !transport && !rt.done) {
        rt.lastProblem = `${err.condition}: ${err.description || ''}`;
        return; // rhea treats connection:forced as non-fatal and reconnects
    }
    fail(`${transport ? 'transport' : 'connection'} error ${err.condition}: ${err.description || ''}`);
});

container.on('connection_close', (ctx) => {
    if (finished || onRelaySide(ctx)) return;
    if (ctx.connection.error) return; // reported by connection_error
    event('connection_closed', {});
    // Frames that came in the same read as the close (dispositions, say) are
    // dispatched by rhea on the next tick: judge the role after them.
    setImmediate(() => afterClose(ctx));
});

function afterClose(ctx) {
    if (finished) return;
    if (rt.done) {
        finishAfterSocket(ctx.connection);
    } else if (!opts.listen) {
        fail('the remote closed the connection before the role was done');
    }
}

container.on('disconnected', (ctx) => {
    if (finished || onRelaySide(ctx)) return;
    const err = ctx.error;
    const reason = err ? oneLine(err.message || err) : 'the socket closed without an AMQP close';
    rt.lastProblem = reason;
    event('disconnected', { reason });
    if (rt.done) {
        finishDone();
        return;
    }
    if (role.disconnected) role.disconnected(ctx);
    if (opts.listen && !relay) return; // keep listening for the next connection
    if (relay || !opts.reconnect || ctx.reconnecting === false) {
        fail(`disconnected: ${reason}`);
    }
});

container.on('protocol_error', (e) => {
    process.stderr.write(`protocol error: ${oneLine(e.message || e)}\n`);
    fail(`protocol error: ${e.message || e}`);
});

container.on('error', (e) => {
    process.stderr.write(`error: ${oneLine(e.message || e)}\n`);
    fail(`${e.condition ? `${e.condition}: ` : ''}${e.message || e}`);
});

/* ---------------------------------------------------------- timers, signals */

if (opts.timeout > 0) {
    // (0: no deadline)
    setTimeout(() => {
        finish(3, `timed out after ${opts.timeout} s`, role.waitingFor());
    }, opts.timeout * 1000);
}

function onSignal(name) {
    const ok = rt.done || role.countless;
    finish(ok ? 0 : 1, ok ? undefined : `terminated by ${name}`);
}
process.on('SIGTERM', () => onSignal('SIGTERM'));
process.on('SIGINT', () => onSignal('SIGINT'));

/* ------------------------------------------------------------------ start */

function connect(host, port, reconnect) {
    rt.conn = container.connect({
        host,
        port,
        hostname: host,
        reconnect,
        initial_reconnect_delay: 100,
        max_reconnect_delay: 1000,
        tcp_no_delay: true,
        sasl_mechanisms: clientSasl(),
    });
    role.start(rt.conn);
}

if (opts.listen) {
    if (opts.user !== undefined && opts.password !== undefined) {
        const user = opts.user;
        const password = opts.password;
        container.sasl_server_mechanisms.enable_plain((u, p) => u === user && p === password);
    }
    const server = container.listen({ port: opts.port, host: opts.host });
    rt.server = server;
    server.on('listening', () => {
        const port = server.address().port;
        rt.listenUrl = `amqp://${display}:${port}`;
        writeLine({ kind: 'ready', url: rt.listenUrl });
        // helloworld_direct: the hello client connects to its own listener
        if (relay) connect(opts.host, port, false);
    });
    server.on('error', (e) => {
        process.stderr.write(`error: cannot listen on ${display}:${opts.port}: ${oneLine(e.message)}\n`);
        fail(`cannot listen on ${display}:${opts.port}: ${e.message}`);
    });
} else {
    connect(opts.host, opts.port, opts.reconnect);
}
