//! What an fe2o3-amqp error means for the contract: an error the remote sent (quoted:
//! its scope, condition and description, for the `*_error` events and the result), or a
//! lost connection (reconnect when allowed).
//!
//! fe2o3 reports the remote's error inside several error enums (attach, send, receive,
//! detach, session and connection stop reasons); this module finds it wherever it is.

use fe2o3_amqp::connection::{ConnectionStopReason, OpenError};
use fe2o3_amqp::link::{
    DetachError, IllegalLinkStateError, LinkStateError, ReceiverAttachError, RecvError,
    SendError, SenderAttachError, SessionStopReason,
};
use fe2o3_amqp::session::BeginError;
use fe2o3_amqp::types::definitions::{Error as AmqpError, ErrorCondition};
use fe2o3_amqp::types::primitives::Symbol;

/// Where a remote error was sent: on a close, an end, or a detach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scope {
    Connection,
    Session,
    Link,
}

/// An error the remote sent, as the wire carried it.
#[derive(Debug, Clone)]
pub struct Remote {
    pub scope: Scope,
    pub condition: String,
    pub description: Option<String>,
}

impl Remote {
    pub fn text(&self) -> String {
        match &self.description {
            Some(d) => format!("{}: {}", self.condition, d),
            None => self.condition.clone(),
        }
    }
}

/// Why a connection's work stopped.
#[derive(Debug)]
pub enum Failure {
    /// the transport went away (or the remote forced the close): reconnect when allowed
    Lost(String),
    /// the remote refused or closed something with an error: the role fails (exit 1)
    Remote(Remote, String),
    /// the role itself cannot succeed (a wrong reply, a rejected message): exit 1
    Fatal(String),
}

pub fn condition_text(c: &ErrorCondition) -> String {
    let sym: Symbol = match c {
        ErrorCondition::AmqpError(e) => e.into(),
        ErrorCondition::ConnectionError(e) => e.into(),
        ErrorCondition::SessionError(e) => e.into(),
        ErrorCondition::LinkError(e) => e.into(),
        ErrorCondition::Custom(s) => s.clone(),
    };
    sym.0
}

fn remote(scope: Scope, e: &AmqpError) -> Remote {
    Remote {
        scope,
        condition: condition_text(&e.condition),
        description: e.description.clone(),
    }
}

fn from_connection_stop(r: &ConnectionStopReason) -> Option<Remote> {
    match r {
        ConnectionStopReason::RemoteClosedWithError(e) => Some(remote(Scope::Connection, e)),
        _ => None,
    }
}

fn from_session_stop(r: &SessionStopReason) -> Option<Remote> {
    match r {
        SessionStopReason::RemoteEndedWithError(e) => Some(remote(Scope::Session, e)),
        SessionStopReason::ConnectionStopped(c) => from_connection_stop(c),
        _ => None,
    }
}

fn from_link_state(e: &LinkStateError) -> Option<Remote> {
    match e {
        LinkStateError::RemoteDetachedWithError(e) | LinkStateError::RemoteClosedWithError(e) => {
            Some(remote(Scope::Link, e))
        }
        LinkStateError::SessionStopped(r) => from_session_stop(r),
        _ => None,
    }
}

fn from_detach(e: &DetachError) -> Option<Remote> {
    match e {
        DetachError::RemoteDetachedWithError(e) | DetachError::RemoteClosedWithError(e) => {
            Some(remote(Scope::Link, e))
        }
        DetachError::SessionStopped(r) => from_session_stop(r),
        _ => None,
    }
}

/// An fe2o3 error that may carry an error the remote sent.
pub trait Diagnose: std::fmt::Display {
    fn remote(&self) -> Option<Remote>;
    /// closed by the remote without an error where a reply was expected (a refusal)
    fn refused(&self) -> bool {
        false
    }
}

impl Diagnose for SenderAttachError {
    fn remote(&self) -> Option<Remote> {
        match self {
            SenderAttachError::RemoteClosedWithError(e) => Some(remote(Scope::Link, e)),
            SenderAttachError::SessionStopped(r) => from_session_stop(r),
            _ => None,
        }
    }
    fn refused(&self) -> bool {
        matches!(
            self,
            SenderAttachError::IncomingTargetIsNone | SenderAttachError::ExpectImmediateDetach
        )
    }
}

impl Diagnose for ReceiverAttachError {
    fn remote(&self) -> Option<Remote> {
        match self {
            ReceiverAttachError::RemoteClosedWithError(e) => Some(remote(Scope::Link, e)),
            ReceiverAttachError::SessionStopped(r) => from_session_stop(r),
            _ => None,
        }
    }
    fn refused(&self) -> bool {
        matches!(
            self,
            ReceiverAttachError::IncomingSourceIsNone
                | ReceiverAttachError::ExpectImmediateDetach
                | ReceiverAttachError::SourceAddressIsNoneWhenDynamicIsTrue
        )
    }
}

impl Diagnose for SendError {
    fn remote(&self) -> Option<Remote> {
        match self {
            SendError::LinkStateError(e) => from_link_state(e),
            SendError::Detached(e) => from_detach(e),
            _ => None,
        }
    }
}

impl Diagnose for RecvError {
    fn remote(&self) -> Option<Remote> {
        match self {
            RecvError::LinkStateError(e) => from_link_state(e),
            _ => None,
        }
    }
}

impl Diagnose for DetachError {
    fn remote(&self) -> Option<Remote> {
        from_detach(self)
    }
}

impl Diagnose for IllegalLinkStateError {
    fn remote(&self) -> Option<Remote> {
        match self {
            IllegalLinkStateError::SessionStopped(r) => from_session_stop(r),
            _ => None,
        }
    }
}

impl Diagnose for BeginError {
    fn remote(&self) -> Option<Remote> {
        match self {
            BeginError::RemoteEndedWithError(e) => Some(remote(Scope::Session, e)),
            BeginError::ConnectionStopped(r) => from_connection_stop(r),
            _ => None,
        }
    }
}

impl Diagnose for OpenError {
    fn remote(&self) -> Option<Remote> {
        None
    }
}

impl Diagnose for fe2o3_amqp::connection::Error {
    fn remote(&self) -> Option<Remote> {
        match self {
            fe2o3_amqp::connection::Error::RemoteClosedWithError(e) => {
                Some(remote(Scope::Connection, e))
            }
            _ => None,
        }
    }
}

impl Diagnose for fe2o3_amqp::acceptor::error::AcceptorAttachError {
    fn remote(&self) -> Option<Remote> {
        use fe2o3_amqp::acceptor::error::AcceptorAttachError as E;
        match self {
            E::SessionStopped(r) => from_session_stop(r),
            E::LocalSender(e) => e.remote(),
            E::LocalReceiver(e) => e.remote(),
        }
    }
}

/// What the error means: the remote's error (quoted) first, else a lost connection.
/// `what` says what was being done ("the attach of ...").
pub fn classify<E: Diagnose>(what: &str, e: &E) -> Failure {
    let text = crate::output::one_line(&format!("{what}: {e}"));
    match e.remote() {
        Some(r) => {
            let t = format!("{what}: {} error {}", scope_name(r.scope), r.text());
            Failure::Remote(r, t)
        }
        None if e.refused() => Failure::Fatal(format!("{what}: refused by the remote ({e})")),
        None => Failure::Lost(text),
    }
}

pub fn scope_name(s: Scope) -> &'static str {
    match s {
        Scope::Connection => "connection",
        Scope::Session => "session",
        Scope::Link => "link",
    }
}
