//! The contract's roles on fe2o3-amqp, over one open session (connect mode). The loops
//! that also serve listen mode (send, receive, serve) take the links they work on, so
//! listen.rs runs the same code on links the remote attached.
//!
//! fe2o3 has no callbacks: the events are printed around its calls (link_opened when an
//! attach returned, accepted when a send's outcome came back, and so on).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use fe2o3_amqp::link::delivery::DeliveryFut;
use fe2o3_amqp::link::{Receiver, SendError, Sender};
use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp::types::definitions::SenderSettleMode;
use fe2o3_amqp::types::messaging::{
    AmqpValue, Body, Header, Message, MessageId, Outcome, Properties, Source,
    TerminusExpiryPolicy,
};
use fe2o3_amqp::types::primitives::{Array, OrderedMap, Symbol, Value};
use fe2o3_amqp::link::receiver::CreditMode;
use serde_json::json;
use tokio::sync::mpsc;

use crate::errors::{classify, Failure};
use crate::output::{body_text, id_json, message_fields, message_id, with};
use crate::peer::{Peer, CLOSE_WAIT};

/// The credit window of every receiving link.
pub const RECEIVER_CREDIT: u32 = 100;
const HELLO_BODY: &str = "Hello World!";

pub async fn run<R>(peer: &Arc<Peer>, session: &mut SessionHandle<R>) -> Result<(), Failure> {
    match peer.opts.role.as_str() {
        "send" => send(peer, session).await,
        "receive" => receive(peer, session).await,
        "serve" => serve(peer, session).await,
        "request" => request(peer, session).await,
        _ => hello(peer, session).await,
    }
}

type Msg = Message<Body<Value>>;

/// Detaches (closing) a sender within CLOSE_WAIT: the suite wants links detached first.
pub async fn close_sender(s: Sender) {
    let _ = tokio::time::timeout(CLOSE_WAIT, s.close()).await;
}

pub async fn close_receiver(r: Receiver) {
    let _ = tokio::time::timeout(CLOSE_WAIT, r.close()).await;
}

/// The target address of a sender as the remote answered it.
pub fn target_address(s: &Sender) -> Option<String> {
    s.target().as_ref().and_then(|t| t.address.clone())
}

/// The source address of a receiver as the remote answered it (the dynamic address).
pub fn source_address(r: &Receiver) -> Option<String> {
    r.source().as_ref().and_then(|s| s.address.clone())
}

/// Prints the outcome of a sent delivery and returns its event name.
pub fn outcome_event(peer: &Peer, outcome: &Outcome, id: serde_json::Value) -> &'static str {
    let name = match outcome {
        Outcome::Accepted(_) => "accepted",
        Outcome::Rejected(_) => "rejected",
        Outcome::Released(_) => "released",
        Outcome::Modified(_) => "modified",
    };
    if let Outcome::Rejected(r) = outcome {
        let condition = r
            .error
            .as_ref()
            .map(|e| crate::errors::condition_text(&e.condition));
        peer.event(name, json!({"id": id, "condition": condition}));
    } else {
        peer.event(name, json!({"id": id}));
    }
    peer.event("settled", json!({"id": id}));
    name
}

// ------------------------------------------------------------------------- send

fn numbered(id: u64) -> Message<AmqpValue<Value>> {
    let mut body = OrderedMap::new();
    body.insert(Value::String("sequence".into()), Value::Long(id as i64));
    Message::builder()
        .header(Header {
            durable: true, // so a broker that persists keeps it across a restart
            ..Default::default()
        })
        .properties(Properties {
            message_id: Some(MessageId::Ulong(id)),
            ..Default::default()
        })
        .value(Value::Map(body))
        .build()
}

enum Settled {
    Accepted,
    Again(u64),
    Rejected(String),
    Lost(String),
}

/// Waits for one delivery's outcome and prints it (in its own task, so outcomes show as
/// they come even while the next send waits for credit).
fn watch_outcome(
    peer: Arc<Peer>,
    id: u64,
    fut: DeliveryFut<Result<Outcome, SendError>>,
    tx: mpsc::UnboundedSender<Settled>,
) {
    tokio::spawn(async move {
        let settled = match fut.await {
            Ok(outcome) => match outcome_event(&peer, &outcome, json!(id)) {
                "accepted" => {
                    peer.st().confirmed.insert(id);
                    Settled::Accepted
                }
                "rejected" => Settled::Rejected(format!("message {id} was rejected: {outcome:?}")),
                _ => Settled::Again(id), // released or modified: not delivered, send again
            },
            Err(e) => match classify("the outcome of a sent message", &e) {
                Failure::Lost(t) | Failure::Fatal(t) | Failure::Remote(_, t) => Settled::Lost(t),
            },
        };
        let _ = tx.send(settled);
    });
}

/// The tutorial's simple_send on one link: ids 1..N not yet confirmed, sent while there is
/// credit, each outcome counted as it comes; done when all N are confirmed.
pub async fn send_loop(peer: &Arc<Peer>, sender: &mut Sender) -> Result<(), Failure> {
    let total = peer.opts.count_or_zero();
    let mut queue: VecDeque<u64> = {
        let st = peer.st();
        (1..=total).filter(|i| !st.confirmed.contains(i)).collect()
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let addr = peer.opts.address.clone();
    loop {
        while let Ok(s) = rx.try_recv() {
            settled(s, &mut queue)?;
        }
        if peer.st().confirmed.len() as u64 >= total {
            peer.st().done = true; // the goal is reached: what follows is the close
            return Ok(());
        }
        match queue.pop_front() {
            Some(id) => {
                peer.stage(format!("credit on the sender link to {addr}"));
                let fut = sender
                    .send_batchable(numbered(id))
                    .await
                    .map_err(|e| classify("a send", &e))?;
                {
                    let mut st = peer.st();
                    st.sent += 1;
                    if !st.ever_sent.insert(id) {
                        st.resent += 1;
                    }
                }
                peer.event("sent", json!({"id": id}));
                watch_outcome(peer.clone(), id, fut, tx.clone());
                // let the connection watcher (peer.rs) run: fe2o3 accepts sends on a
                // stopped connection, so a tight loop would "send" into the void
                tokio::task::yield_now().await;
            }
            None => {
                let confirmed = peer.st().confirmed.len();
                peer.stage(format!("accepted outcomes (confirmed {confirmed} of {total})"));
                match rx.recv().await {
                    Some(s) => settled(s, &mut queue)?,
                    None => return Err(Failure::Lost("the outcome watchers stopped".into())),
                }
            }
        }
    }
}

fn settled(s: Settled, queue: &mut VecDeque<u64>) -> Result<(), Failure> {
    match s {
        Settled::Accepted => Ok(()),
        Settled::Again(id) => {
            queue.push_back(id);
            Ok(())
        }
        Settled::Rejected(t) => Err(Failure::Fatal(t)),
        Settled::Lost(t) => Err(Failure::Lost(t)),
    }
}

async fn send<R>(peer: &Arc<Peer>, session: &mut SessionHandle<R>) -> Result<(), Failure> {
    let addr = peer.opts.address.clone();
    peer.stage(format!("the attach of the sender link to {addr}"));
    let name = format!("send-{addr}");
    let mut sender = Sender::attach(session, name.as_str(), addr.as_str())
        .await
        .map_err(|e| classify(&format!("the attach of the sender link to {addr}"), &e))?;
    peer.link_opened(&name, "sender", target_address(&sender).as_deref());
    send_loop(peer, &mut sender).await?;
    close_sender(sender).await;
    Ok(())
}

// ---------------------------------------------------------------------- receive

/// The tutorial's simple_recv on one link: accept everything, count distinct ids, drop
/// duplicates; done after N distinct ids (never, with --count 0).
pub async fn receive_loop(peer: &Arc<Peer>, receiver: &mut Receiver) -> Result<(), Failure> {
    let total = peer.opts.count_or_zero();
    let addr = peer.opts.address.clone();
    loop {
        {
            let mut st = peer.st();
            if total > 0 && st.seen.len() as u64 >= total {
                st.done = true; // the goal is reached: what follows is the close
                return Ok(());
            }
        }
        let of = if total > 0 { format!(" of {total}") } else { String::new() };
        let n = peer.st().seen.len();
        peer.stage(format!("messages on {addr} (received {n}{of} distinct ids)"));
        let delivery = receiver
            .recv::<Body<Value>>()
            .await
            .map_err(|e| classify(&format!("receiving from {addr}"), &e))?;
        let msg: &Msg = delivery.message();
        let key = message_id(msg)
            .map(|id| match id_json(id) {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            })
            .unwrap_or_else(|| "null".into());
        let duplicate = {
            let mut st = peer.st();
            let dup = !st.seen.insert(key);
            if dup {
                st.duplicates += 1;
            }
            dup
        };
        peer.event("message", with(message_fields(msg), "duplicate", json!(duplicate)));
        receiver
            .accept(&delivery)
            .await
            .map_err(|e| classify("accepting a message", &e))?;
    }
}

/// A receiving link on `address` (connect mode), credit RECEIVER_CREDIT, explicit accepts.
async fn attach_receiver<R>(
    session: &mut SessionHandle<R>,
    name: &str,
    source: Source,
    mode: Option<SenderSettleMode>,
) -> Result<Receiver, fe2o3_amqp::link::ReceiverAttachError> {
    let mut b = Receiver::builder()
        .name(name)
        .source(source)
        .credit_mode(CreditMode::Auto(RECEIVER_CREDIT))
        .auto_accept(false);
    if let Some(mode) = mode {
        b = b.sender_settle_mode(mode);
    }
    b.attach(session).await
}

async fn receive<R>(peer: &Arc<Peer>, session: &mut SessionHandle<R>) -> Result<(), Failure> {
    let addr = peer.opts.address.clone();
    peer.stage(format!("the attach of the receiver link from {addr}"));
    let name = format!("receive-{addr}");
    let source = Source::builder().address(addr.as_str()).build();
    // at-least-once: ask for unsettled deliveries, so nothing is settled on the way (2.7.3)
    let unsettled = Some(SenderSettleMode::Unsettled);
    let mut receiver = attach_receiver(session, &name, source, unsettled)
        .await
        .map_err(|e| classify(&format!("the attach of the receiver link from {addr}"), &e))?;
    peer.link_opened(&name, "receiver", source_address(&receiver).as_deref());
    peer.ready(&format!("amqp://{}", peer.opts.host_port()));
    receive_loop(peer, &mut receiver).await?;
    close_receiver(receiver).await;
    Ok(())
}

// ------------------------------------------------------------------------ serve

/// Where the replies of `serve` go: a sender per reply_to (connect mode: attached on
/// demand; listen mode: the links the clients attached, by their source address).
pub trait Replies {
    fn sender_for<'a>(
        &'a mut self,
        peer: &'a Arc<Peer>,
        reply_to: &'a str,
    ) -> impl std::future::Future<Output = Result<&'a mut Sender, Failure>> + 'a;
}

/// The request loop of the tutorial's server.py: upper-case each request's body and send
/// it to its reply_to with the request's correlation_id (or its id when it has none).
pub async fn serve_loop<P: Replies>(
    peer: &Arc<Peer>,
    receiver: &mut Receiver,
    replies: &mut P,
) -> Result<(), Failure> {
    let total = peer.opts.count_or_zero();
    let addr = peer.opts.address.clone();
    loop {
        let served = peer.st().served;
        if total > 0 && served >= total {
            peer.st().done = true; // the goal is reached: what follows is the close
            return Ok(());
        }
        peer.stage(format!("requests on {addr} (served {served})"));
        let delivery = receiver
            .recv::<Body<Value>>()
            .await
            .map_err(|e| classify(&format!("receiving requests from {addr}"), &e))?;
        let msg: &Msg = delivery.message();
        peer.event("message", message_fields(msg));
        let props = msg.properties.clone().unwrap_or_default();
        let Some(reply_to) = props.reply_to.clone() else {
            eprintln!("serve: request without reply_to ignored");
            receiver
                .accept(&delivery)
                .await
                .map_err(|e| classify("accepting a request", &e))?;
            continue;
        };
        let correlation = props.correlation_id.clone().or(props.message_id.clone());
        let text = body_text(&msg.body).to_uppercase();
        let reply = Message::builder()
            .properties(Properties {
                to: Some(reply_to.clone()),
                correlation_id: correlation.clone(),
                ..Default::default()
            })
            .value(text.clone())
            .build();
        let sender = replies.sender_for(peer, &reply_to).await?;
        peer.stage(format!("credit for a reply to {reply_to}"));
        let fut = sender
            .send_batchable(reply)
            .await
            .map_err(|e| classify(&format!("a reply to {reply_to}"), &e))?;
        peer.st().served += 1;
        let corr = correlation.as_ref().map(id_json);
        peer.event(
            "sent",
            json!({"id": corr, "body": text, "to": reply_to, "correlation_id": corr}),
        );
        receiver
            .accept(&delivery)
            .await
            .map_err(|e| classify("accepting a request", &e))?;
        peer.stage(format!("the outcome of a reply to {reply_to}"));
        let outcome = fut
            .await
            .map_err(|e| classify(&format!("the outcome of a reply to {reply_to}"), &e))?;
        outcome_event(peer, &outcome, corr.unwrap_or(serde_json::Value::Null));
    }
}

/// Connect mode: fe2o3 does not show the remote's offered capabilities, so
/// ANONYMOUS-RELAY is never known: one sender per reply_to, as the contract says then.
struct SenderPerReplyTo<'s, R> {
    session: &'s mut SessionHandle<R>,
    senders: HashMap<String, Sender>,
}

impl<R> Replies for SenderPerReplyTo<'_, R> {
    #[allow(clippy::manual_async_fn)]
    fn sender_for<'a>(
        &'a mut self,
        peer: &'a Arc<Peer>,
        reply_to: &'a str,
    ) -> impl std::future::Future<Output = Result<&'a mut Sender, Failure>> + 'a {
        async move {
            if !self.senders.contains_key(reply_to) {
                let name = format!("serve-reply-{reply_to}");
                peer.stage(format!("the attach of a reply sender to {reply_to}"));
                let s = Sender::attach(self.session, name.as_str(), reply_to)
                    .await
                    .map_err(|e| classify(&format!("the attach of a sender to {reply_to}"), &e))?;
                peer.link_opened(&name, "sender", target_address(&s).as_deref());
                self.senders.insert(reply_to.to_string(), s);
            }
            Ok(self.senders.get_mut(reply_to).expect("inserted above"))
        }
    }
}

async fn serve<R>(peer: &Arc<Peer>, session: &mut SessionHandle<R>) -> Result<(), Failure> {
    let addr = peer.opts.address.clone();
    peer.stage(format!("the attach of the request receiver from {addr}"));
    let name = format!("serve-{addr}");
    let source = Source::builder().address(addr.as_str()).build();
    let mut receiver = attach_receiver(session, &name, source, None)
        .await
        .map_err(|e| classify(&format!("the attach of the request receiver from {addr}"), &e))?;
    peer.link_opened(&name, "receiver", source_address(&receiver).as_deref());
    peer.ready(&format!("amqp://{}", peer.opts.host_port()));
    let mut replies = SenderPerReplyTo {
        session,
        senders: HashMap::new(),
    };
    let result = serve_loop(peer, &mut receiver, &mut replies).await;
    if result.is_ok() {
        for (_, s) in replies.senders.drain() {
            close_sender(s).await;
        }
        close_receiver(receiver).await;
    }
    result
}

// ---------------------------------------------------------------------- request

fn correlation_of(i: usize) -> String {
    format!("request-{}", i + 1)
}

async fn request<R>(peer: &Arc<Peer>, session: &mut SessionHandle<R>) -> Result<(), Failure> {
    let addr = peer.opts.address.clone();
    peer.stage("the attach of the dynamic reply receiver (its address)");
    let mut source = Source::builder().dynamic(true);
    let mut mode = None;
    if !peer.opts.dynamic_capabilities.is_empty() {
        // a broker's own kind of dynamic node (CONTRACT.md, --dynamic-capability): it
        // lives as long as the link and sends its replies settled
        let caps: Vec<Symbol> = peer
            .opts
            .dynamic_capabilities
            .iter()
            .map(|c| Symbol::from(c.as_str()))
            .collect();
        source = source
            .capabilities(Array::from(caps))
            .expiry_policy(TerminusExpiryPolicy::LinkDetach);
        mode = Some(SenderSettleMode::Settled);
    }
    let mut replies = attach_receiver(session, "request-replies", source.build(), mode)
        .await
        .map_err(|e| classify("the attach of the dynamic reply receiver", &e))?;
    let reply_to = source_address(&replies);
    peer.link_opened("request-replies", "receiver", reply_to.as_deref());
    let Some(reply_to) = reply_to else {
        return Err(Failure::Fatal(
            "the dynamic reply receiver was attached without an address".into(),
        ));
    };
    peer.st().reply_to = Some(reply_to.clone());
    peer.stage(format!("the attach of the request sender to {addr}"));
    let name = format!("request-{addr}");
    let mut sender = Sender::attach(session, name.as_str(), addr.as_str())
        .await
        .map_err(|e| classify(&format!("the attach of the request sender to {addr}"), &e))?;
    peer.link_opened(&name, "sender", target_address(&sender).as_deref());
    let requests = peer.opts.requests.clone();
    let (tx, mut outcomes) = mpsc::unbounded_channel::<String>();
    for (i, text) in requests.iter().enumerate() {
        if peer.st().answered.contains(&i) {
            continue;
        }
        peer.stage(format!("credit on the request sender to {addr}"));
        let msg = Message::builder()
            .properties(Properties {
                message_id: Some(MessageId::Ulong(i as u64 + 1)),
                correlation_id: Some(MessageId::String(correlation_of(i))),
                reply_to: Some(reply_to.clone()),
                ..Default::default()
            })
            .value(text.clone())
            .build();
        let fut = sender
            .send_batchable(msg)
            .await
            .map_err(|e| classify("a request", &e))?;
        peer.event(
            "sent",
            json!({"id": i + 1, "body": text, "correlation_id": correlation_of(i)}),
        );
        let (p, tx) = (peer.clone(), tx.clone());
        tokio::spawn(async move {
            if let Ok(outcome) = fut.await {
                if outcome_event(&p, &outcome, json!(i + 1)) == "rejected" {
                    let _ = tx.send(format!("request {} was rejected: {outcome:?}", i + 1));
                }
            }
        });
    }
    loop {
        let answered = peer.st().answered.len();
        if answered == requests.len() {
            break;
        }
        peer.stage(format!("replies ({answered} of {})", requests.len()));
        let delivery = tokio::select! {
            d = replies.recv::<Body<Value>>() => {
                d.map_err(|e| classify("receiving replies", &e))?
            }
            Some(rejected) = outcomes.recv() => return Err(Failure::Fatal(rejected)),
        };
        let msg: &Msg = delivery.message();
        let corr = msg
            .properties
            .as_ref()
            .and_then(|p| p.correlation_id.clone());
        let index = (0..requests.len())
            .find(|&i| corr == Some(MessageId::String(correlation_of(i))));
        let fields = message_fields(msg);
        replies
            .accept(&delivery)
            .await
            .map_err(|e| classify("accepting a reply", &e))?;
        let Some(index) = index else {
            peer.event("message", fields);
            let shown = corr.as_ref().map(id_json).unwrap_or(serde_json::Value::Null);
            return Err(Failure::Fatal(format!(
                "reply with an unknown correlation_id: {shown}"
            )));
        };
        peer.event("message", with(fields, "request", json!(requests[index])));
        let (want, got) = (requests[index].to_uppercase(), body_text(&msg.body));
        if got != want {
            return Err(Failure::Fatal(format!(
                "reply to {:?} was {got:?}, expected {want:?}",
                requests[index]
            )));
        }
        peer.st().answered.insert(index);
    }
    peer.st().done = true;
    close_sender(sender).await;
    close_receiver(replies).await;
    Ok(())
}

// ------------------------------------------------------------------------ hello

/// helloworld.py: receiver first; once it is attached, the sender; one message; when it
/// comes back, close.
async fn hello<R>(peer: &Arc<Peer>, session: &mut SessionHandle<R>) -> Result<(), Failure> {
    let addr = peer.opts.address.clone();
    peer.stage(format!("the attach of the receiver link from {addr}"));
    let source = Source::builder().address(addr.as_str()).build();
    let mut receiver = attach_receiver(session, "hello-receiver", source, None)
        .await
        .map_err(|e| classify(&format!("the attach of the receiver link from {addr}"), &e))?;
    peer.link_opened("hello-receiver", "receiver", source_address(&receiver).as_deref());
    // only once the receiver is attached (attach returned on the remote's answer)
    peer.stage(format!("the attach of the sender link to {addr}"));
    let mut sender = Sender::attach(session, "hello-sender", addr.as_str())
        .await
        .map_err(|e| classify(&format!("the attach of the sender link to {addr}"), &e))?;
    peer.link_opened("hello-sender", "sender", target_address(&sender).as_deref());
    hello_exchange(peer, &mut sender, &mut receiver).await?;
    close_sender(sender).await;
    close_receiver(receiver).await;
    Ok(())
}

/// Sends the hello message (once there is credit) and watches for its outcome.
pub async fn hello_send(
    peer: &Arc<Peer>,
    sender: &mut Sender,
) -> Result<tokio::task::JoinHandle<&'static str>, Failure> {
    let addr = peer.opts.address.clone();
    peer.stage(format!("credit on the sender link to {addr}"));
    // send_batchable waits inside fe2o3 until the link has credit
    let fut = sender
        .send_batchable(Message::builder().value(HELLO_BODY).build())
        .await
        .map_err(|e| classify("the hello message's send", &e))?;
    peer.event("sent", json!({"body": HELLO_BODY}));
    let p = peer.clone();
    Ok(tokio::spawn(async move {
        match fut.await {
            Ok(o) => outcome_event(&p, &o, serde_json::Value::Null),
            Err(_) => "",
        }
    }))
}

/// Receives the hello message and accepts it.
pub async fn hello_receive(peer: &Arc<Peer>, receiver: &mut Receiver) -> Result<(), Failure> {
    let addr = peer.opts.address.clone();
    peer.stage(format!("the message back from {addr}"));
    let delivery = receiver
        .recv::<Body<Value>>()
        .await
        .map_err(|e| classify(&format!("receiving from {addr}"), &e))?;
    let msg: &Msg = delivery.message();
    peer.st().received.push(crate::output::body_json(&msg.body));
    peer.event("message", message_fields(msg));
    receiver
        .accept(&delivery)
        .await
        .map_err(|e| classify("accepting the hello message", &e))
}

/// The outcome of the hello message, once it came (or after CLOSE_WAIT).
pub async fn hello_outcome(outcome: tokio::task::JoinHandle<&'static str>) -> Result<(), Failure> {
    if let Ok(Ok("rejected")) = tokio::time::timeout(CLOSE_WAIT, outcome).await {
        return Err(Failure::Fatal("the hello message was rejected".into()));
    }
    Ok(())
}

/// The hello message over a sender, and back over a receiver.
pub async fn hello_exchange(
    peer: &Arc<Peer>,
    sender: &mut Sender,
    receiver: &mut Receiver,
) -> Result<(), Failure> {
    let outcome = hello_send(peer, sender).await?;
    hello_receive(peer, receiver).await?;
    hello_outcome(outcome).await?;
    peer.st().done = true;
    Ok(())
}
