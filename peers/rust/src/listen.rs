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

/// The next link the client attaches, reported.
async fn next_link(
    peer: &Peer,
    acceptor: &Acceptor,
    session: &mut ListenerSessionHandle,
) -> Result<LinkEndpoint, Failure> {
    let link = acceptor
        .accept(session)
        .await
        .map_err(|e| classify("accepting a link", &e))?;
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
    session: &'s mut ListenerSessionHandle,
    acceptor: &'s Acceptor,
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
                if let LinkEndpoint::Sender(s) = next_link(peer, self.acceptor, self.session).await? {
                    let addr = s.source().as_ref().and_then(|x| x.address.clone());
                    self.senders.insert(addr.unwrap_or_default(), s);
                }
            }
            Ok(self.senders.get_mut(reply_to).expect("present"))
        }
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
    let mut session = SessionAcceptor::new()
        .accept(&mut conn)
        .await
        .map_err(|e| classify("accepting a session", &e))?;
    let acceptor = link_acceptor();
    let role = peer.opts.role.clone();
    let work = async {
        match role.as_str() {
            "send" => listen_send(peer, &acceptor, &mut session).await,
            "serve" => listen_serve(peer, &acceptor, &mut session).await,
            _ => listen_receive(peer, &acceptor, &mut session).await,
        }
    };
    // the connection's end ends the work on it (fe2o3 would keep a link waiting)
    let mut closed_by_client = false;
    let outcome = tokio::select! {
        r = work => r,
        r = conn.on_close() => match r {
            Ok(()) | Err(fe2o3_amqp::connection::Error::RemoteClosed) => {
                closed_by_client = true;
                Err(Failure::Lost("the client closed the connection".into()))
            }
            Err(e) => Err(classify("the connection", &e)),
        },
    };
    if outcome.is_err() && peer.st().done {
        // the client closed while we were closing: the role is done
        peer.event("connection_closed", json!({}));
        return Ok(true);
    }
    match outcome {
        Ok(()) => {
            peer.st().done = true;
            if !conn.is_closed() {
                let _ = tokio::time::timeout(CLOSE_WAIT, session.end()).await;
                let _ = tokio::time::timeout(CLOSE_WAIT, conn.close()).await;
            }
            peer.event("connection_closed", json!({}));
            Ok(true)
        }
        Err(Failure::Lost(reason)) => {
            // the client went away (closed or dropped): its business; listen on
            let closed = closed_by_client
                || matches!(
                    tokio::time::timeout(Duration::from_millis(200), conn.on_close()).await,
                    Ok(Ok(()))
                );
            if closed {
                peer.event("connection_closed", json!({}));
            } else {
                peer.event("disconnected", json!({"reason": reason}));
            }
            peer.st().conn_up = false;
            Ok(false)
        }
        Err(f) => Err(f),
    }
}

async fn listen_receive(
    peer: &Arc<Peer>,
    acceptor: &Acceptor,
    session: &mut ListenerSessionHandle,
) -> Result<(), Failure> {
    peer.stage("a client's sender link");
    let mut receiver: Receiver = loop {
        match next_link(peer, acceptor, session).await? {
            LinkEndpoint::Receiver(r) => break r,
            LinkEndpoint::Sender(s) => roles::close_sender(s).await,
        }
    };
    roles::receive_loop(peer, &mut receiver).await?;
    roles::close_receiver(receiver).await;
    Ok(())
}

async fn listen_send(
    peer: &Arc<Peer>,
    acceptor: &Acceptor,
    session: &mut ListenerSessionHandle,
) -> Result<(), Failure> {
    peer.stage("a client's receiver link");
    let mut sender: Sender = loop {
        match next_link(peer, acceptor, session).await? {
            LinkEndpoint::Sender(s) => break s,
            LinkEndpoint::Receiver(r) => roles::close_receiver(r).await,
        }
    };
    roles::send_loop(peer, &mut sender).await?;
    roles::close_sender(sender).await;
    Ok(())
}

async fn listen_serve(
    peer: &Arc<Peer>,
    acceptor: &Acceptor,
    session: &mut ListenerSessionHandle,
) -> Result<(), Failure> {
    let mut senders = HashMap::new();
    peer.stage("a client's request link");
    let mut receiver: Receiver = loop {
        match next_link(peer, acceptor, session).await? {
            LinkEndpoint::Receiver(r) => break r,
            LinkEndpoint::Sender(s) => {
                let addr = s.source().as_ref().and_then(|x| x.address.clone());
                senders.insert(addr.unwrap_or_default(), s);
            }
        }
    };
    let mut replies = AttachedReplies {
        session,
        acceptor,
        senders,
    };
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
    let served = async {
        let mut conn = accept_connection(peer, stream).await?;
        peer.event("connection_opened", json!({"container": null}));
        peer.st().conn_up = true;
        let mut session = SessionAcceptor::new()
            .accept(&mut conn)
            .await
            .map_err(|e| classify("accepting a session", &e))?;
        let acceptor = link_acceptor();
        let mut receiver = loop {
            match next_link(peer, &acceptor, &mut session).await? {
                LinkEndpoint::Receiver(r) => break r,
                LinkEndpoint::Sender(s) => roles::close_sender(s).await,
            }
        };
        roles::hello_receive(peer, &mut receiver).await?;
        // the client closes its link and connection once its message is accepted
        let _ = tokio::time::timeout(CLOSE_WAIT, conn.on_close()).await;
        Ok::<(), Failure>(())
    };
    let served = served.await;
    let client = client.await.map_err(|e| format!("the client half stopped: {e}"))?;
    for r in [served, client] {
        match r {
            Ok(()) => {}
            Err(Failure::Lost(t)) | Err(Failure::Fatal(t)) | Err(Failure::Remote(_, t)) => {
                return Err(t)
            }
        }
    }
    peer.st().done = true;
    Ok(())
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
