//! Hand a live client connection from hyper to a worker process, compatible with Apache
//! httpd's `mod_proxy_fdpass` and beyond.
//!
//! # Overview
//!
//! mod_proxy_fdpass lets another process finish a request: httpd writes the response head
//! with `Connection: close`, sends the client's socket over an `AF_UNIX` socket with
//! `SCM_RIGHTS` (one `'\0'` byte, one fd, one unix connection per hand-off, no reply), closes
//! its own copy without `shutdown()`, and the worker writes a close-delimited body.
//!
//! This crate does the same from a hyper/tower/axum server, and receives on the worker side:
//!
//! * [`HandoffLayer`] / [`Handoff`]: a tower middleware. A predicate
//!   ([`HandoffLayer::when`]) or the application (a response carrying [`HandOff`]) marks a
//!   request for hand-off.
//! * [`serve`] / [`serve_connection`]: the accept loop and per-connection driver around
//!   `hyper::server::conn::http1`. On a hand-off it stops hyper before it writes that
//!   response, takes the socket out with `Connection::into_parts`, runs the [`Flusher`],
//!   sends the fd, and closes its copy. Earlier keep-alive requests are answered normally.
//! * [`Sender`]: where to send, in which [`Mode`], with which [`Flusher`].
//! * [`Receiver`]: the worker side; yields a [`Handed`] connection: a tokio `TcpStream` plus
//!   [`Metadata`] in extended mode. It accepts hand-offs from this crate and from httpd.
//!
//! # Example
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use fdpass_layer::{HandoffLayer, Mode, Sender};
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let sender = Sender::new("/run/worker.sock").mode(Mode::Extended);
//!     let app = Router::new()
//!         .route("/", get(|| async { "handled here\n" }))
//!         .layer(HandoffLayer::new(sender).when(|req| req.uri.path().starts_with("/stream/")));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//!     fdpass_layer::serve(listener, app).await
//! }
//! ```
//!
//! And the worker:
//!
//! ```no_run
//! use tokio::io::AsyncWriteExt;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), fdpass_layer::Error> {
//!     let receiver = fdpass_layer::Receiver::bind("/run/worker.sock")?;
//!     loop {
//!         match receiver.accept().await {
//!             Ok(handed) => {
//!                 let (mut stream, meta) = handed.into_parts();
//!                 let target = meta.as_ref().and_then(|m| m.target()).unwrap_or("?").to_owned();
//!                 tokio::spawn(async move {
//!                     // The default flusher already sent the head: write the body, close.
//!                     let _ = stream.write_all(format!("worker got {target}\n").as_bytes()).await;
//!                 });
//!             }
//!             Err(e) => eprintln!("bad hand-off: {e}"),
//!         }
//!     }
//! }
//! ```
//!
//! # Why not `axum::serve`
//!
//! `axum::serve` runs each connection through hyper-util's `auto` builder in a task of its
//! own; nothing inside a `Router` can reach the socket, and the `auto` connection has no
//! `into_parts`. [`serve`] is the accept loop that can. A hand-off requested on a connection
//! not served by it gets a `500` explaining this.
//!
//! # Flushers
//!
//! [`StandardFlush`] (httpd's `flush`, the default) writes the status line and headers of the
//! response template with `connection: close`; the worker writes a close-delimited body.
//! [`NoFlush`] (httpd has no such provider) writes nothing; the worker sends the whole
//! response and, in extended mode, may keep the connection alive. Implement [`Flusher`] for
//! anything else.
//!
//! # Modes
//!
//! [`Mode::Compatible`] sends byte for byte what mod_proxy_fdpass sends, so any worker
//! written for httpd works behind this crate. Like httpd it loses request-body bytes and
//! pipelined bytes that were already read.
//!
//! [`Mode::Extended`] sends the frame below with the fd, so nothing is lost: the worker's
//! view of the client byte stream is `body ++ read_buf ++ socket`. Chunked request bodies are
//! buffered whole (up to [`Sender::max_buffered_body`], else `413`), because hyper's
//! de-chunking state cannot travel.
//!
//! # The extended wire format
//!
//! Frames travel on `AF_UNIX` stream connections, back to back. By default the sender keeps
//! one persistent connection and sends every hand-off on it
//! ([`Sender::reuse_connection`]); with reuse off it opens one connection per frame and
//! closes it after. Each frame's fd travels as one `SOL_SOCKET`/`SCM_RIGHTS` control
//! message holding exactly one `int`, attached to the frame's first byte (the `sendmsg`
//! that starts a frame carries its fd; the kernel ends a `recvmsg` after a message that
//! carried fds, so a reader pairs fds with frames in order). A connection may stay idle
//! between frames; a started frame must complete within the receiver's timeout. All
//! integers are big-endian.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `"FDPX"` (`46 44 50 58`) |
//! | 4 | 1 | version, `1` |
//! | 5 | 1 | flags: bit 0 `HEAD_SENT` (bytes were already written to the client), bit 1 `BODY_COMPLETE` (the body field holds the whole request body; no body bytes are left on the socket), bit 2 `BODY_DECHUNKED` (the client sent it chunked; the field holds it de-chunked). Other bits: 0, ignored by readers |
//! | 6 | 2 | reserved, 0, ignored by readers |
//! | 8 | 4 | `N`, payload length. Receivers bound it (default 1 MiB, [`ReceiverBuilder::max_frame_len`]); senders check it first ([`Sender::max_frame_len`]) |
//! | 12 | N | payload |
//!
//! The payload, in order:
//!
//! 1. peer address, then local address, each as: 1 byte family (`0` unknown, nothing
//!    follows; `4` IPv4, then 4 address bytes; `6` IPv6, then 16 address bytes), then for
//!    `4`/`6` a 2-byte port;
//! 2. `u32` length + the request head as hyper parsed it: `METHOD target HTTP/1.x\r\n`,
//!    `name: value\r\n` per header (names lower-case, in `http::HeaderMap` order: the
//!    values of a repeated name together, in the order they came), `\r\n`;
//! 3. `u32` length + request-body bytes already read from the socket;
//! 4. `u32` length + `read_buf`: bytes read after the request (pipelined requests);
//! 5. `u32`: how many bytes the flusher wrote to the client (`0` iff `HEAD_SENT` is clear).
//!
//! Readers ignore payload bytes after these fields (room for later minor additions); a new
//! version number means an incompatible layout. A receiver tells the modes apart by the first
//! byte: `00` is a compatible hand-off (the only one on its connection, as with httpd),
//! `46` (`F`) an extended frame, possibly followed by more. A receiver older than
//! persistent connections reads one frame per connection: give it a sender with
//! `reuse_connection(false)`.
//!
//! # File descriptors
//!
//! * Received fds are `FD_CLOEXEC` (`MSG_CMSG_CLOEXEC`) and owned at once; every error path
//!   closes them. A truncated control message (`MSG_CTRUNC`) closes every fd that came and
//!   fails with [`Error::is_truncated`]; more than one fd is [`Error::is_protocol`].
//! * The sender closes its copy of the client socket and never calls `shutdown()`, which would
//!   end the worker's connection too (httpd's dummy-socket trick, systemd's warning).
//! * The receiver's socket file is created `0600` (set before `listen()`, so there is no
//!   window) and can require the sender's uid via `SO_PEERCRED`. The sender creates no file.
//! * The only `unsafe` code is in the private `scm` module, one `SAFETY` comment per block.
//!
//! # Failure
//!
//! If the worker socket is missing or refuses, or earlier responses cannot be flushed in
//! time, the client gets `503` and the connection closes. If sending fails after the flusher
//! wrote a head, the connection is closed (nothing better can be said to the client).
//!
//! # Cancel safety
//!
//! Dropping [`serve_connection`]'s future closes the connection. Once the fd was sent the
//! worker owns the connection; dropping anything on our side no longer affects it.
//!
//! # Limits
//!
//! HTTP/1 only (an HTTP/2 connection is multiplexed), no TLS (the fd carries ciphertext).
//! [`Receiver`] reads its unix connections in background tasks (one per connection that is
//! not finished at accept time) and queues hand-offs for [`Receiver::accept`].
//!
//! # Benchmark
//!
//! `cargo bench -p fdpass-layer --bench handoffs` compares hand-offs per second through this
//! crate and through httpd mod_proxy_fdpass on the same machine, interleaved, medians; see
//! the crate README.

mod body;
mod conn;
mod error;
mod flusher;
mod future;
mod layer;
mod marker;
mod meta;
mod receiver;
mod scm;
mod sender;
mod serve;
mod service;

pub use body::ResponseBody;
pub use conn::{ConnectionEnd, serve_connection};
pub use error::{Error, Result};
pub use flusher::{Flusher, NoFlush, StandardFlush};
pub use future::ResponseFuture;
pub use layer::HandoffLayer;
pub use marker::HandOff;
pub use meta::{DEFAULT_MAX_FRAME_LEN, HEADER_LEN, MAGIC, Metadata, VERSION};
pub use receiver::{Handed, Receiver, ReceiverBuilder};
pub use sender::{Mode, Sender};
pub use serve::serve;
pub use service::Handoff;
