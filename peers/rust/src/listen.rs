//! `--listen`: the tutorial's direct examples on fe2o3-amqp's acceptor (ConnectionAcceptor,
//! SessionAcceptor, LinkAcceptor). One connection at a time; a client that leaves before
//! the role is done is let go and the peer listens on; once the role is done the
//! connection is closed and the listener with it.
//!
//! SASL: fe2o3's ConnectionAcceptor takes either the plain AMQP header or the SASL one,
//! depending on how it was built, so the peer peeks at the client's protocol header and
//! picks the acceptor that answers it. It offers ANONYMOUS, or PLAIN checking --user and
//! --password when they are given.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fe2o3_amqp::acceptor::sasl_acceptor::SaslServerFrame;
use fe2o3_amqp::acceptor::{
    ConnectionAcceptor, LinkAcceptor, LinkEndpoint, ListenerConnectionHandle,
    ListenerSessionHandle, SaslAcceptor, SessionAcceptor,
};
use tokio::sync::{mpsc, watch};
use fe2o3_amqp::link::{Receiver, Sender};
use fe2o3_amqp::types::messaging::Source;
use fe2o3_amqp::types::primitives::{Array, Symbol};
use fe2o3_amqp::types::sasl::{SaslCode, SaslInit, SaslOutcome, SaslResponse};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

use crate::args::host_port;
use crate::errors::{classify, Failure};
use crate::peer::{Peer, CLOSE_WAIT};
use crate::roles::{self, Replies};

/// The server side of SASL: ANONYMOUS, or PLAIN with the peer's own credentials.
#[derive(Debug, Clone)]
struct ListenerSasl {
    plain: Option<(String, String)>,
}

impl ListenerSasl {
    fn outcome(code: SaslCode) -> SaslServerFrame {
        SaslServerFrame::Outcome(SaslOutcome {
            code,
            additional_data: None,
        })
    }

    fn check_plain(&self, response: &[u8]) -> bool {
        let mut parts = response.split(|b| *b == 0);
        let (_authzid, user, pass) = (parts.next(), parts.next(), parts.next());
        match (&self.plain, user, pass) {
            (Some((u, p)), Some(user), Some(pass)) => u.as_bytes() == user && p.as_bytes() == pass,
            _ => false,
        }
    }
}

impl SaslAcceptor for ListenerSasl {
    fn mechanisms(&self) -> Array<Symbol> {
        let name = if self.plain.is_some() { "PLAIN" } else { "ANONYMOUS" };
        Array::from(vec![Symbol::from(name)])
    }

    fn on_init(&mut self, init: SaslInit) -> SaslServerFrame {
        let ok = match init.mechanism.0.as_str() {
            "ANONYMOUS" => self.plain.is_none(),
            "PLAIN" => init
                .initial_response
                .as_ref()
                .is_some_and(|r| self.check_plain(r)),
            _ => false,
        };
        Self::outcome(if ok { SaslCode::Ok } else { SaslCode::Auth })
    }

    fn on_response(&mut self, _response: SaslResponse) -> SaslServerFrame {
        Self::outcome(SaslCode::Auth) // neither mechanism has a second step
    }
}

/// Waits (a bounded time) for the client's protocol header; true when it asks for SASL.
async fn wants_sasl(stream: &TcpStream) -> Result<bool, Failure> {
    let mut buf = [0u8; 8];
    for _ in 0..1000 {
        let n = stream
            .peek(&mut buf)
            .await
            .map_err(|e| Failure::Lost(format!("reading the protocol header: {e}")))?;
        if n == 0 {
            return Err(Failure::Lost("the client left before its protocol header".into()));
        }
        if n >= 5 {
            return Ok(buf[4] == 3); // "AMQP" then the protocol id: 3 is SASL, 0 AMQP
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(Failure::Lost("no protocol header from the client in 10 s".into()))
}

async fn accept_connection(
    peer: &Peer,
    stream: TcpStream,
) -> Result<ListenerConnectionHandle, Failure> {
    let _ = stream.set_nodelay(true);
    let container = format!("amqp-interop-rust-{}-{}", peer.opts.role, std::process::id());
    let conn = if wants_sasl(&stream).await? {
        let sasl = ListenerSasl {
            plain: peer.opts.user.clone().zip(peer.opts.password.clone()),
        };
        ConnectionAcceptor::builder()
            .container_id(container)
            .sasl_acceptor(sasl)
            .build()
            .accept(stream)
            .await
    } else {
        ConnectionAcceptor::new(container).accept(stream).await
    };
    conn.map_err(|e| match e {
        fe2o3_amqp::connection::OpenError::SaslError { code, .. } => {
            Failure::Lost(format!("a client failed SASL (sasl-outcome code {code:?})"))
        }
        other => classify("accepting a connection", &other),
    })
}

/// Names the dynamic nodes the listener creates for a client's dynamic source.
static DYNAMIC: AtomicU64 = AtomicU64::new(0);

fn dynamic_source(mut s: Source) -> Option<Source> {
    let n = DYNAMIC.fetch_add(1, Ordering::Relaxed) + 1;
    s.address = Some(format!("dynamic-{}-{n}", std::process::id()));
    Some(s)
}

type Acceptor = LinkAcceptor<fn(Source) -> Option<Source>, fn(fe2o3_amqp::types::messaging::Target) -> Option<fe2o3_amqp::types::messaging::Target>>;

fn link_acceptor() -> Acceptor {
    LinkAcceptor::builder()
        .on_dynamic_source(dynamic_source as fn(Source) -> Option<Source>)
        .build()
}

/// The links the client attaches, on any of its sessions (Qpid JMS, for one, begins two
/// and attaches on the second): one task per accepted session accepts its links and hands
/// them over; the session stays with its task, which ends it when told to stop.
type Links = mpsc::UnboundedReceiver<LinkEndpoint>;

fn spawn_session(
    mut session: ListenerSessionHandle,
    links: mpsc::UnboundedSender<LinkEndpoint>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let acceptor = link_acceptor();
        loop {
            tokio::select! {
                link = acceptor.accept(&mut session) => match link {
                    Ok(link) => {
                        if links.send(link).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        eprintln!("listener: no more links on a session: {e}");
                        return; // the session or the connection ended
                    }
                },
                _ = stop.changed() => break,
            }
        }
        let _ = tokio::time::timeout(CLOSE_WAIT, session.end()).await;
    })
}

/// The next link the client attaches, reported.
async fn next_link(peer: &Peer, links: &mut Links) -> Result<LinkEndpoint, Failure> {
    let link = links
        .recv()
        .await
        .ok_or_else(|| Failure::Lost("the client's sessions ended".into()))?;
    match &link {
        LinkEndpoint::Sender(s) => {
            let addr = s.source().as_ref().and_then(|x| x.address.clone());
            peer.link_opened(s.name(), "sender", addr.as_deref());
        }
        LinkEndpoint::Receiver(r) => {
            let addr = r.target().as_ref().and_then(|x| x.address.clone());
            peer.link_opened(r.name(), "receiver", addr.as_deref());
        }
    }
    Ok(link)
}

/// serve --listen: replies go over the links the clients attached (their reply
/// receivers), found by the address of their source.
struct AttachedReplies<'s> {
    links: &'s mut Links,
    senders: HashMap<String, Sender>,
}

impl Replies for AttachedReplies<'_> {
    #[allow(clippy::manual_async_fn)]
    fn sender_for<'a>(
        &'a mut self,
        peer: &'a Arc<Peer>,
        reply_to: &'a str,
    ) -> impl std::future::Future<Output = Result<&'a mut Sender, Failure>> + 'a {
        async move {
            while !self.senders.contains_key(reply_to) {
                peer.stage(format!("a client's link for replies to {reply_to}"));
                if let LinkEndpoint::Sender(s) = next_link(peer, self.links).await? {
                    let addr = s.source().as_ref().and_then(|x| x.address.clone());
                    self.senders.insert(addr.unwrap_or_default(), s);
                }
            }
            Ok(self.senders.get_mut(reply_to).expect("present"))
        }
    }
}

/// The role's work on the links of one connection.
async fn work(peer: &Arc<Peer>, links: &mut Links) -> Result<(), Failure> {
    match peer.opts.role.as_str() {
        "send" => listen_send(peer, links).await,
        "serve" => listen_serve(peer, links).await,
        "hello" => {
            // helloworld_direct.py's listener half: the message arrives; the client closes
            peer.stage("the hello client's sender link");
            let mut receiver = first_receiver(peer, links).await?;
            roles::hello_receive(peer, &mut receiver).await?;
            peer.stage("the hello client's close");
            std::future::pending::<Result<(), Failure>>().await
        }
        _ => listen_receive(peer, links).await,
    }
}

/// The role on one accepted connection. Ok(true): done; Ok(false): the client left first.
async fn on_connection(peer: &Arc<Peer>, stream: TcpStream) -> Result<bool, Failure> {
    let mut conn = accept_connection(peer, stream).await?;
    peer.event("connection_opened", json!({"container": null}));
    {
        let mut st = peer.st();
        st.ever_opened = true;
        st.conn_up = true;
    }
    let (links_tx, mut links) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut sessions = Vec::new();
    let session_acceptor = SessionAcceptor::new();
    let outcome = {
        let work = work(peer, &mut links);
        tokio::pin!(work);
        loop {
            // accepting sessions ends with the connection (fe2o3 would keep a link waiting)
            tokio::select! {
                r = &mut work => break r,
                s = session_acceptor.accept(&mut conn) => match s {
                    Ok(session) => {
                        sessions.push(spawn_session(session, links_tx.clone(), stop_rx.clone()))
                    }
                    Err(e) => break Err(classify("the connection", &e)),
                },
            }
        }
    };
    let _ = stop_tx.send(true);
    for task in sessions {
        let _ = tokio::time::timeout(CLOSE_WAIT, task).await;
    }
    let finished = outcome.is_ok() || peer.finished().await;
    let ended = if conn.is_closed() {
        None
    } else if finished {
        Some(tokio::time::timeout(CLOSE_WAIT, conn.close()).await)
    } else {
        Some(tokio::time::timeout(Duration::from_millis(200), conn.on_close()).await)
    };
    let closed = match ended {
        None => true,
        Some(Ok(Ok(()))) | Some(Ok(Err(fe2o3_amqp::connection::Error::RemoteClosed))) => true,
        Some(Ok(Err(e))) => {
            if let Failure::Remote(r, t) = classify("the connection", &e) {
                peer.remote_error(&r, None);
                if !finished {
                    return Err(Failure::Fatal(t));
                }
            }
            false
        }
        Some(Err(_)) => false,
    };
    peer.st().conn_up = false;
    if finished {
        peer.st().done = true;
        peer.event("connection_closed", json!({}));
        return Ok(true);
    }
    match outcome {
        Ok(()) => Ok(true), // (an Ok outcome is finished, above)
        Err(Failure::Lost(reason)) => {
            // the client went away (closed or dropped): its business; listen on
            if closed {
                peer.event("connection_closed", json!({}));
            } else {
                peer.event("disconnected", json!({"reason": reason}));
            }
            Ok(false)
        }
        Err(f) => Err(f),
    }
}

async fn first_receiver(peer: &Arc<Peer>, links: &mut Links) -> Result<Receiver, Failure> {
    loop {
        match next_link(peer, links).await? {
            LinkEndpoint::Receiver(r) => return Ok(r),
            LinkEndpoint::Sender(s) => roles::close_sender(s).await,
        }
    }
}

async fn listen_receive(peer: &Arc<Peer>, links: &mut Links) -> Result<(), Failure> {
    peer.stage("a client's sender link");
    let mut receiver = first_receiver(peer, links).await?;
    roles::receive_loop(peer, &mut receiver).await?;
    roles::close_receiver(receiver).await;
    Ok(())
}

async fn listen_send(peer: &Arc<Peer>, links: &mut Links) -> Result<(), Failure> {
    peer.stage("a client's receiver link");
    let mut sender: Sender = loop {
        match next_link(peer, links).await? {
            LinkEndpoint::Sender(s) => break s,
            LinkEndpoint::Receiver(r) => roles::close_receiver(r).await,
        }
    };
    roles::send_loop(peer, &mut sender).await?;
    roles::close_sender(sender).await;
    Ok(())
}

async fn listen_serve(peer: &Arc<Peer>, links: &mut Links) -> Result<(), Failure> {
    let mut senders = HashMap::new();
    peer.stage("a client's request link");
    let mut receiver: Receiver = loop {
        match next_link(peer, links).await? {
            LinkEndpoint::Receiver(r) => break r,
            LinkEndpoint::Sender(s) => {
                let addr = s.source().as_ref().and_then(|x| x.address.clone());
                senders.insert(addr.unwrap_or_default(), s);
            }
        }
    };
    let mut replies = AttachedReplies { links, senders };
    roles::serve_loop(peer, &mut receiver, &mut replies).await?;
    for (_, s) in replies.senders.drain() {
        roles::close_sender(s).await;
    }
    roles::close_receiver(receiver).await;
    Ok(())
}

/// hello --listen (helloworld_direct.py): listen, and connect to ourselves: the client
/// half sends "Hello World!" to the listener half, which receives and accepts it.
async fn hello_client(peer: Arc<Peer>, port: u16) -> Result<(), Failure> {
    let mut conn = crate::peer::open_to(&peer, port, "amqp-interop-rust-hello-client").await?;
    let mut session = fe2o3_amqp::Session::begin(&mut conn)
        .await
        .map_err(|e| classify("the session's begin", &e))?;
    let addr = peer.opts.address.clone();
    let mut sender = Sender::attach(&mut session, "hello-sender", addr.as_str())
        .await
        .map_err(|e| classify("the attach of the sender link", &e))?;
    peer.link_opened("hello-sender", "sender", roles::target_address(&sender).as_deref());
    let outcome = roles::hello_send(&peer, &mut sender).await?;
    roles::hello_outcome(outcome).await?;
    roles::close_sender(sender).await;
    crate::peer::close(&peer, session, conn).await;
    Ok(())
}

async fn listen_hello(peer: &Arc<Peer>, listener: TcpListener, port: u16) -> Result<(), String> {
    let client = tokio::spawn(hello_client(peer.clone(), port));
    let (stream, _) = listener
        .accept()
        .await
        .map_err(|e| format!("accepting a connection: {e}"))?;
    drop(listener);
    let served = on_connection(peer, stream).await;
    let client = client
        .await
        .map_err(|e| format!("the client half stopped: {e}"))?;
    let text = |f: Failure| match f {
        Failure::Lost(t) | Failure::Fatal(t) | Failure::Remote(_, t) => t,
    };
    client.map_err(text)?;
    match served.map_err(text)? {
        true => Ok(()),
        false => Err("the hello message did not arrive before the client left".into()),
    }
}

pub async fn run(peer: Arc<Peer>) -> Result<(), String> {
    let o = &peer.opts;
    let listener = TcpListener::bind((o.host.as_str(), o.port))
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", o.host_port()))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {}: {e}", o.host_port()))?
        .port();
    peer.ready(&format!("amqp://{}", host_port(&o.host, port)));
    if o.role == "hello" {
        return listen_hello(&peer, listener, port).await;
    }
    loop {
        peer.stage(format!("a connection on amqp://{}", host_port(&o.host, port)));
        let (stream, _) = listener
            .accept()
            .await
            .map_err(|e| format!("accepting a connection: {e}"))?;
        match on_connection(&peer, stream).await {
            Ok(true) => return Ok(()), // done: the listener closes as it goes out of scope
            Ok(false) => continue,
            Err(Failure::Lost(t)) => {
                peer.event("disconnected", json!({"reason": t}));
                peer.st().conn_up = false;
            }
            Err(Failure::Remote(r, t)) => {
                peer.remote_error(&r, None);
                return Err(t);
            }
            Err(Failure::Fatal(t)) => return Err(t),
        }
    }
}
