//! The worker side of fdpass-layer: receives handed-off client connections and answers each
//! with a body that names what it received.
//!
//! Run:
//!   cargo run --example fdpass_worker -- --socket /tmp/worker.sock [--extended] [--mode 0666] [--uid 33]
//!
//! Then hand connections to it, e.g. with `cargo run --example axum_handoff -- --listen
//! 127.0.0.1:8080 --worker /tmp/worker.sock` and `curl http://127.0.0.1:8080/stream/x`, or
//! from Apache httpd's mod_proxy_fdpass (give the socket `--mode 0666` or `--uid` of httpd's
//! worker user so it can connect).
//!
//! `--extended` refuses hand-offs without metadata (compatible-mode senders); without it both
//! kinds are answered. The socket is created 0600 unless `--mode` says otherwise; `--uid`
//! requires the sender's uid (SO_PEERCRED).

use std::process::ExitCode;

use fdpass_layer::{Handed, Receiver};
use tokio::io::AsyncWriteExt;

struct Args {
    socket: String,
    extended: bool,
    mode: Option<u32>,
    uid: Option<u32>,
}

fn parse_args() -> Result<Args, String> {
    let mut socket = None;
    let mut extended = false;
    let mut mode = None;
    let mut uid = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--socket" => socket = it.next(),
            "--extended" => extended = true,
            "--mode" => {
                let m = it.next().ok_or("--mode needs a value")?;
                mode = Some(u32::from_str_radix(&m, 8).map_err(|e| format!("--mode {m}: {e}"))?);
            }
            "--uid" => {
                let u = it.next().ok_or("--uid needs a value")?;
                uid = Some(u.parse().map_err(|e| format!("--uid {u}: {e}"))?);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        socket: socket.ok_or("--socket PATH is required")?,
        extended,
        mode,
        uid,
    })
}

/// The body naming what arrived, and whether a status line must precede it.
fn describe(handed: &mut Handed) -> (String, bool) {
    let peer = handed
        .stream()
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    match handed.metadata() {
        None => (
            format!("fdpass_worker: compatible hand-off (no metadata) from client {peer}\n"),
            false,
        ),
        Some(m) => (
            format!(
                "fdpass_worker: extended hand-off from client {peer}: {} {} head_sent={} body={} bytes{} read_buf={} bytes ({})\n",
                m.method().unwrap_or("?"),
                m.target().unwrap_or("?"),
                m.head_sent(),
                m.body().len(),
                if m.body_complete() { " (complete)" } else { "" },
                m.read_buf().len(),
                m.read_buf().escape_ascii(),
            ),
            !m.head_sent(),
        ),
    }
}

async fn answer(mut handed: Handed) {
    let (text, needs_head) = describe(&mut handed);
    print!("{text}");
    let out = if needs_head {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
            text.len()
        )
    } else {
        text
    };
    let (mut stream, _) = handed.into_parts();
    let _ = stream.write_all(out.as_bytes()).await;
    // Dropping the stream closes it, which ends the close-delimited body.
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "{e}\nusage: fdpass_worker --socket PATH [--extended] [--mode OCTAL] [--uid UID]"
            );
            return ExitCode::from(2);
        }
    };
    let mut builder = Receiver::builder();
    if let Some(m) = args.mode {
        builder.mode(m);
    }
    if let Some(u) = args.uid {
        builder.require_uid(u);
    }
    let receiver = match builder.bind(&args.socket) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "cannot bind {}: {e} ({:?})",
                args.socket,
                std::error::Error::source(&e)
            );
            return ExitCode::FAILURE;
        }
    };
    eprintln!("fdpass_worker: listening on {}", args.socket);
    loop {
        tokio::select! {
            r = receiver.accept() => match r {
                Ok(handed) if args.extended && handed.metadata().is_none() => {
                    eprintln!("fdpass_worker: refusing a compatible hand-off (--extended)");
                }
                Ok(handed) => {
                    tokio::spawn(answer(handed));
                }
                Err(e) => eprintln!("fdpass_worker: bad hand-off: {e} ({:?})", std::error::Error::source(&e)),
            },
            _ = tokio::signal::ctrl_c() => return ExitCode::SUCCESS,
        }
    }
}
