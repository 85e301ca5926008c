//! The fe2o3-amqp reference peer of amqp-interop: one program, one role per run, JSON
//! Lines on stdout as peers/CONTRACT.md says.
//!
//! fe2o3-amqp is an async (tokio) library without callbacks: the contract's events are
//! printed around its calls. What it cannot observe the result declares in `unreported`
//! (a sender never sees credit). It has no automatic reconnect: peer.rs reconnects. It
//! can listen (the `acceptor` feature): listen.rs. Logging (tracing, fe2o3's own) goes to
//! stderr only, at the level in INTEROP_RUST_LOG (off by default): stdout is JSON Lines.

mod args;
mod errors;
mod listen;
mod output;
mod peer;
mod roles;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map};
use tokio::signal::unix::{signal, SignalKind};

use crate::args::{ArgError, USAGE};
use crate::output::one_line;
use crate::peer::{Peer, UNREPORTED};

const EXIT_OK: i32 = 0;
const EXIT_FAILED: i32 = 1;
const EXIT_USAGE: i32 = 2;
const EXIT_TIMEOUT: i32 = 3;

/// tracing to stderr, never stdout; silent unless INTEROP_RUST_LOG names a level.
fn init_logging() {
    let level = match std::env::var("INTEROP_RUST_LOG").unwrap_or_default().as_str() {
        "error" => tracing::Level::ERROR,
        "warn" => tracing::Level::WARN,
        "info" => tracing::Level::INFO,
        "debug" => tracing::Level::DEBUG,
        "trace" => tracing::Level::TRACE,
        _ => return,
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_ansi(false)
        .init();
}

/// The result line (after a timeout line when `waiting_for` is given), then exit.
fn finish(peer: &Peer, code: i32, error: Option<String>, waiting_for: Option<String>) -> ! {
    let mut result = Map::new();
    result.insert("role".into(), json!(peer.opts.role));
    result.insert("ok".into(), json!(code == EXIT_OK));
    if let Some(e) = error {
        result.insert("error".into(), json!(one_line(&e)));
    }
    result.extend(peer.result_fields());
    result.insert("unreported".into(), json!(UNREPORTED));
    result.insert("options".into(), peer.opts.effective());
    if !peer.out.last(waiting_for.as_deref(), result) {
        // someone else wrote the result and is exiting; do not race it
        std::thread::sleep(Duration::from_secs(5));
    }
    std::process::exit(code)
}

async fn run(peer: Arc<Peer>) -> ! {
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    let timeout = peer.opts.timeout;
    let deadline = async move {
        if timeout > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(timeout)).await
        } else {
            std::future::pending::<()>().await
        }
    };
    let role = {
        let peer = peer.clone();
        async move {
            if peer.opts.listen {
                listen::run(peer).await
            } else {
                peer::connect_loop(peer).await
            }
        }
    };
    tokio::select! {
        outcome = role => match outcome {
            Ok(()) => finish(&peer, EXIT_OK, None, None),
            Err(e) => finish(&peer, EXIT_FAILED, Some(e), None),
        },
        _ = deadline => {
            let waiting = peer.waiting_for();
            let text = format!("timed out after {timeout} s waiting for {waiting}");
            finish(&peer, EXIT_TIMEOUT, Some(text), Some(waiting))
        }
        name = async {
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            }
        } => {
            if peer.st().done || peer.countless() {
                // --count 0 means "until killed": being killed is the normal end
                peer.st().done = true;
                finish(&peer, EXIT_OK, None, None)
            }
            finish(&peer, EXIT_FAILED, Some(format!("interrupted by {name} before done")), None)
        }
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let opts = match args::parse(&argv) {
        Ok(o) => o,
        Err(ArgError::Help) => {
            eprintln!("{USAGE}");
            std::process::exit(EXIT_OK);
        }
        Err(ArgError::Usage(why)) => {
            eprintln!("{USAGE} ({})", one_line(&why));
            std::process::exit(EXIT_USAGE);
        }
    };
    init_logging();
    let peer = Peer::new(opts);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            std::process::exit(EXIT_FAILED);
        }
    };
    let p = peer.clone();
    std::panic::set_hook(Box::new(move |info| {
        let text = one_line(&info.to_string());
        eprintln!("error: internal error: {text}");
        finish(&p, EXIT_FAILED, Some(format!("internal error: {text}")), None)
    }));
    runtime.block_on(run(peer))
}
