//! What every role shares: the counters behind the result line, the events, and the
//! connect loop with its reconnects (fe2o3-amqp has no automatic reconnect: after a
//! lost connection the peer opens a fresh one itself, backoff 0.1 s doubling to 1 s).

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use fe2o3_amqp::connection::ConnectionHandle;
use fe2o3_amqp::sasl_profile::SaslProfile;
use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp::{Connection, Session};
use serde_json::{json, Map, Value as Json};
use tokio::net::TcpStream;

use crate::args::Options;
use crate::errors::{classify, scope_name, Failure, Remote, Scope};
use crate::output::{one_line, Output};
use crate::roles;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// how long a clean close (detach, end, close) may take before we go anyway
pub const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// The events of the contract's vocabulary that fe2o3-amqp never lets the peer see: a
/// sender is never told about credit (`send` waits inside the library until it has some).
pub const UNREPORTED: [&str; 1] = ["sendable"];

/// Everything the result line reports, and what the peer waits for now.
#[derive(Default)]
pub struct State {
    pub conn_up: bool,
    pub ever_opened: bool,
    pub reconnects: u64,
    pub done: bool,
    pub last_problem: String,
    pub stage: String,
    pub ready_sent: bool,
    // send
    pub sent: u64,
    pub resent: u64,
    pub confirmed: BTreeSet<u64>,
    pub ever_sent: HashSet<u64>,
    // receive
    pub seen: HashSet<String>,
    pub duplicates: u64,
    // serve
    pub served: u64,
    // request
    pub answered: BTreeSet<usize>,
    pub reply_to: Option<String>,
    // hello
    pub received: Vec<Json>,
}

pub struct Peer {
    pub opts: Options,
    pub out: Output,
    state: Mutex<State>,
}

impl Peer {
    pub fn new(opts: Options) -> Arc<Peer> {
        let out = Output::new(opts.quiet);
        Arc::new(Peer {
            opts,
            out,
            state: Mutex::new(State::default()),
        })
    }

    pub fn st(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn stage(&self, text: impl Into<String>) {
        self.st().stage = text.into();
    }

    pub fn event(&self, name: &str, fields: Json) {
        self.out.event(name, fields);
    }

    pub fn link_opened(&self, link: &str, role: &str, address: Option<&str>) {
        self.event(
            "link_opened",
            json!({"link": link, "role": role, "address": address}),
        );
    }

    /// `{"kind": "ready", "url": ...}` once per run.
    pub fn ready(&self, url: &str) {
        let first = {
            let mut st = self.st();
            !std::mem::replace(&mut st.ready_sent, true)
        };
        if first {
            self.out.line(json!({"kind": "ready", "url": url}));
        }
    }

    /// The `*_error` event for an error the remote sent.
    pub fn remote_error(&self, r: &Remote, link: Option<&str>) {
        let fields = json!({"condition": r.condition, "description": r.description});
        match r.scope {
            Scope::Connection => self.event("connection_error", fields),
            Scope::Session => self.event(
                "connection_error",
                crate::output::with(fields, "endpoint", json!(scope_name(r.scope))),
            ),
            Scope::Link => self.event(
                "link_error",
                crate::output::with(fields, "link", json!(link)),
            ),
        }
    }

    /// Whether the role's goal is reached (N confirmed, N received, N served, every reply,
    /// the hello message back), after letting the outcome watchers that a closing remote
    /// just woke catch up: a remote that closes right after its last disposition ends a
    /// finished role, not a connection to reconnect.
    pub async fn finished(&self) -> bool {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let st = self.st();
        let n = self.opts.count_or_zero();
        st.done
            || match self.opts.role.as_str() {
                "send" => st.confirmed.len() as u64 >= n,
                "receive" => n > 0 && st.seen.len() as u64 >= n,
                "serve" => n > 0 && st.served >= n,
                "request" => st.answered.len() == self.opts.requests.len(),
                _ => !st.received.is_empty(),
            }
    }

    /// Whether --count 0 was asked of a role that then runs until killed.
    pub fn countless(&self) -> bool {
        matches!(self.opts.role.as_str(), "receive" | "serve") && self.opts.count == Some(0)
    }

    /// What the peer is waiting for now (for the timeout line).
    pub fn waiting_for(&self) -> String {
        let st = self.st();
        if self.opts.listen && !st.conn_up && !st.ever_opened {
            return format!("a connection on amqp://{}", self.opts.host_port());
        }
        if !self.opts.listen && !st.conn_up {
            let why = if st.last_problem.is_empty() {
                String::new()
            } else {
                format!(" (last: {})", st.last_problem)
            };
            return format!(
                "the connection to {} (its AMQP open){why}",
                self.opts.host_port()
            );
        }
        if st.stage.is_empty() {
            "the role to complete".to_string()
        } else {
            st.stage.clone()
        }
    }

    /// The role's fields of the result line.
    pub fn result_fields(&self) -> Map<String, Json> {
        let st = self.st();
        let count = self.opts.count_or_zero();
        let v = match self.opts.role.as_str() {
            "send" => json!({"count": count, "sent": st.sent, "confirmed": st.confirmed.len(),
                              "resent": st.resent, "reconnects": st.reconnects}),
            "receive" => {
                let mut v = json!({"count": count, "received": st.seen.len(),
                                   "duplicates": st.duplicates});
                if count > 0 {
                    let missing: Vec<u64> = (1..=count)
                        .filter(|i| !st.seen.contains(&i.to_string()))
                        .collect();
                    v["missing"] = json!(missing);
                }
                v["reconnects"] = json!(st.reconnects);
                v
            }
            "serve" => json!({"served": st.served}),
            "request" => json!({"requests": self.opts.requests.len(),
                                 "replies": st.answered.len(), "reply_to": st.reply_to}),
            _ => json!({"received": st.received}),
        };
        match v {
            Json::Object(m) => m,
            _ => Map::new(),
        }
    }
}

/// The SASL profile of a connecting peer: PLAIN with credentials, else ANONYMOUS.
fn sasl(opts: &Options) -> SaslProfile {
    match (&opts.user, &opts.password) {
        (Some(u), Some(p)) => SaslProfile::Plain {
            username: u.clone(),
            password: p.clone(),
        },
        _ => SaslProfile::Anonymous,
    }
}

/// Opens one AMQP connection to --url (TCP, SASL, open) and reports it.
pub async fn open(peer: &Peer, container: &str) -> Result<ConnectionHandle<()>, Failure> {
    open_to(peer, peer.opts.port, container).await
}

/// Opens one AMQP connection to --url's host on `port` (hello --listen: our own listener).
pub async fn open_to(
    peer: &Peer,
    port: u16,
    container: &str,
) -> Result<ConnectionHandle<()>, Failure> {
    let o = &peer.opts;
    let stream = TcpStream::connect((o.host.as_str(), port))
        .await
        .map_err(|e| Failure::Lost(format!("connect to {}: {e}", o.host_port())))?;
    let _ = stream.set_nodelay(true);
    let conn = Connection::builder()
        .container_id(container)
        .hostname(Some(o.host.as_str()))
        .sasl_profile(sasl(o))
        .open_with_stream(stream)
        .await
        .map_err(|e| match e {
            fe2o3_amqp::connection::OpenError::SaslError { code, .. } => {
                Failure::Fatal(format!("SASL authentication failed (sasl-outcome code {code:?})"))
            }
            other => classify("the connection's open", &other),
        })?;
    // fe2o3 keeps the remote open (its container-id) to itself
    peer.event("connection_opened", json!({"container": null}));
    Ok(conn)
}

/// Ends the session and closes the connection, each within CLOSE_WAIT.
pub async fn close<R>(peer: &Peer, mut session: SessionHandle<R>, mut conn: ConnectionHandle<()>) {
    if conn.is_closed() {
        peer.event("connection_closed", json!({}));
        return; // the remote closed it already (its error, if any, is reported)
    }
    let _ = tokio::time::timeout(CLOSE_WAIT, session.end()).await;
    match tokio::time::timeout(CLOSE_WAIT, conn.close()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("closing the connection: {}", one_line(&e.to_string())),
        Err(_) => eprintln!("closing the connection: no close from the remote in 2 s"),
    }
    peer.event("connection_closed", json!({}));
}

/// Prints the event of an error the remote sent and says what it means for the loop: a
/// forced close (a broker going away) is a lost connection when --reconnect is on.
fn settle(peer: &Peer, f: Failure) -> Failure {
    match f {
        Failure::Remote(r, text) => {
            peer.remote_error(&r, None);
            if r.condition == "amqp:connection:forced" && peer.opts.reconnect {
                Failure::Lost(text)
            } else {
                Failure::Fatal(text)
            }
        }
        other => other,
    }
}

/// What a connection's end means when it came before the role was done.
pub fn stopped(r: Result<(), fe2o3_amqp::connection::Error>) -> Failure {
    match r {
        Ok(()) | Err(fe2o3_amqp::connection::Error::RemoteClosed) => {
            Failure::Lost("the remote closed the connection".into())
        }
        Err(e) => classify("the connection", &e),
    }
}

/// One connection's life: open, session, the role, a clean close.
async fn connection(peer: &Arc<Peer>) -> Result<(), Failure> {
    let container = format!(
        "amqp-interop-rust-{}-{}",
        peer.opts.role,
        std::process::id()
    );
    let mut conn = open(peer, &container).await.map_err(|f| settle(peer, f))?;
    {
        let mut st = peer.st();
        if st.ever_opened {
            st.reconnects += 1;
        }
        st.ever_opened = true;
        st.conn_up = true;
        st.last_problem.clear();
    }
    let mut session = Session::begin(&mut conn)
        .await
        .map_err(|e| settle(peer, classify("the session's begin", &e)))?;
    // fe2o3 0.18 keeps a link's sends and outcomes pending for ever once its connection
    // engine stopped (a send returns Ok, its outcome never comes): the peer watches the
    // connection itself, and its end ends the role's work on it.
    let mut outcome = tokio::select! {
        r = roles::run(peer, &mut session) => r,
        r = conn.on_close() => Err(stopped(r)),
    };
    if outcome.is_err() && peer.finished().await {
        outcome = Ok(()); // the remote closed first while we were closing: the role is done
    }
    match outcome {
        Ok(()) => {
            peer.st().done = true;
            close(peer, session, conn).await;
            Ok(())
        }
        Err(f) => {
            let lost = matches!(f, Failure::Lost(_));
            let f = settle(peer, f);
            if !lost {
                // the remote is still there: leave it a clean close, not a dropped socket
                close(peer, session, conn).await;
            }
            Err(f)
        }
    }
}

/// The connect loop: a lost connection is reported and, with --reconnect, opened again;
/// everything else ends the role. Ok(()) means the role is done.
pub async fn connect_loop(peer: Arc<Peer>) -> Result<(), String> {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let reason = match connection(&peer).await {
            Ok(()) => return Ok(()),
            Err(Failure::Fatal(text)) | Err(Failure::Remote(_, text)) => return Err(text),
            Err(Failure::Lost(text)) => text,
        };
        let was_up = {
            let mut st = peer.st();
            let up = std::mem::replace(&mut st.conn_up, false);
            st.last_problem = reason.clone();
            up
        };
        peer.event("disconnected", json!({"reason": reason}));
        if !peer.opts.reconnect {
            return Err(format!("disconnected: {reason}"));
        }
        if was_up {
            backoff = FIRST_BACKOFF;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
