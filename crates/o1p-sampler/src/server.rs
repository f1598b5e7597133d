//! A small HTTP/1.1 server on std only: the transport of the `serve` example.
//!
//! Each connection gets a thread that reads requests (`Content-Length` bodies, keep-alive,
//! `Expect: 100-continue`) and hands them, in arrival order, to the thread that calls
//! [`Server::recv`] (or [`Server::try_recv`]). That thread may hold many requests at once and
//! answer each whole ([`Exchange::respond`]) or as a stream written piece by piece while it
//! works on the others ([`Exchange::stream`]: server-sent events). Two bounds keep idle
//! clients from exhausting the process (each open connection is a thread):
//!
//! - an **idle timeout**: a connection that sends no byte of a next request for that long is
//!   closed (a connection waiting for its answer is not idle, however long generation takes);
//! - a **connection cap**: beyond it, a new connection is answered `503` and closed at once.
//!
//! And one bound keeps a burst of work from piling up unanswered: at most `max_queued`
//! requests wait to be taken by [`Server::recv`]; one more is answered `429` at once (the
//! client, or a pool of servers, retries it later or elsewhere). A request whose client has
//! gone while it waited ([`Exchange::client_gone`]) can be dropped instead of answered.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::time::Duration;
//! use o1p_sampler::server::{HttpResponse, Server, ServerConfig};
//! let server = Server::bind(0, ServerConfig::default()).unwrap();
//! let addr = server.local_addr();
//! let client = std::thread::spawn(move || {
//!     let mut s = std::net::TcpStream::connect(addr).unwrap();
//!     s.write_all(b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
//!     let mut answer = String::new();
//!     s.read_to_string(&mut answer).unwrap();
//!     answer
//! });
//! let exchange = server.recv_timeout(Duration::from_secs(10)).unwrap();
//! assert_eq!((exchange.method(), exchange.path()), ("GET", "/health"));
//! exchange.respond(HttpResponse::json(200, "{}".into()));
//! assert!(client.join().unwrap().starts_with("HTTP/1.1 200 OK\r\n"));
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::time::Duration;

/// Limits of a [`Server`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Close a connection after this long without a byte of a new request (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// Most connections open at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Request bodies larger than this are answered 413.
    pub max_body_bytes: u64,
    /// Most requests waiting to be taken by [`Server::recv`]; more are answered 429.
    pub max_queued: usize,
}

impl Default for ServerConfig {
    /// 30 s idle timeout, 128 connections, 16 MiB bodies, 64 queued requests.
    fn default() -> Self {
        ServerConfig {
            idle_timeout: Some(Duration::from_secs(30)),
            max_connections: 128,
            max_body_bytes: 16 << 20,
            max_queued: 64,
        }
    }
}

/// An HTTP response: a status and a JSON body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: String,
    /// Its `Content-Type`.
    pub content_type: &'static str,
}

impl HttpResponse {
    /// A JSON response.
    pub fn json(status: u16, body: String) -> Self {
        HttpResponse {
            status,
            body,
            content_type: "application/json",
        }
    }

    /// A whole server-sent-event stream (`text/event-stream`): `body` holds the events,
    /// `data: ...` lines each followed by a blank line.
    pub fn event_stream(body: String) -> Self {
        HttpResponse {
            status: 200,
            body,
            content_type: "text/event-stream",
        }
    }

    /// An OpenAI-style error body: `{"error": {"message": ..., "type": ...}}`.
    pub fn error(status: u16, message: &str) -> Self {
        let kind = if status < 500 {
            "invalid_request_error"
        } else {
            "server_error"
        };
        let body = serde_json::json!({"error": {"message": message, "type": kind}});
        HttpResponse::json(status, body.to_string())
    }
}

/// What the answering thread sends a connection's thread.
#[derive(Debug)]
enum Reply {
    /// A whole response.
    Whole(HttpResponse),
    /// The head of a streamed `200` response of this content type; chunks follow.
    StreamHead(&'static str),
    /// A piece of a streamed body, written and flushed at once.
    Chunk(String),
    /// The end of a streamed body.
    End,
}

/// One request and the way back to its connection.
#[derive(Debug)]
pub struct Exchange {
    method: String,
    path: String,
    body: String,
    reply: Sender<Reply>,
    /// The client's socket, to look whether it has gone (never read from here).
    client: Option<TcpStream>,
}

impl Exchange {
    /// The method (`GET`, `POST`, ...).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path, without the query string.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The body (UTF-8; other bodies are answered 400 before they get here).
    pub fn body(&self) -> &str {
        &self.body
    }

    /// Whether the client has closed its connection (or it broke) since sending this
    /// request, so that the work can be skipped: a client that timed out and retried on
    /// another server does not wait for this answer. Looks at the socket without reading
    /// from it; pipelined bytes of a next request count as a client still there.
    pub fn client_gone(&self) -> bool {
        self.client.as_ref().is_some_and(peer_closed)
    }

    /// Sends the answer (dropped silently if the client has gone).
    pub fn respond(self, response: HttpResponse) {
        let _ = self.reply.send(Reply::Whole(response));
    }

    /// Starts a streamed `200` answer of `content_type` (`text/event-stream` for server-sent
    /// events): each [`ResponseStream::send`] is written and flushed at once, with chunked
    /// transfer encoding on a keep-alive connection, or delimited by closing the connection
    /// when the client asked for `Connection: close`.
    pub fn stream(self, content_type: &'static str) -> ResponseStream {
        let _ = self.reply.send(Reply::StreamHead(content_type));
        ResponseStream {
            reply: self.reply,
            client: self.client,
        }
    }
}

/// A streamed answer in progress ([`Exchange::stream`]); it ends when dropped.
#[derive(Debug)]
pub struct ResponseStream {
    reply: Sender<Reply>,
    client: Option<TcpStream>,
}

impl ResponseStream {
    /// Sends a piece of the body; false once the connection is gone (the client closed it,
    /// or writing to it failed), so the caller can stop producing.
    pub fn send(&self, piece: String) -> bool {
        self.reply.send(Reply::Chunk(piece)).is_ok()
    }

    /// Whether the client has closed its connection (see [`Exchange::client_gone`]).
    pub fn client_gone(&self) -> bool {
        self.client.as_ref().is_some_and(peer_closed)
    }
}

impl Drop for ResponseStream {
    fn drop(&mut self) {
        let _ = self.reply.send(Reply::End);
    }
}

/// Whether the peer has closed `client`, looked at without reading from it; pipelined bytes
/// of a next request count as a client still there.
fn peer_closed(client: &TcpStream) -> bool {
    // The connection's thread is blocked on the answer, not on the socket, so switching
    // the socket to non-blocking for one peek cannot disturb a read.
    if client.set_nonblocking(true).is_err() {
        return false;
    }
    let mut byte = [0u8; 1];
    let gone = match client.peek(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    let _ = client.set_nonblocking(false);
    gone
}

/// A listening server on 127.0.0.1.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    requests: Receiver<Exchange>,
    open: Arc<AtomicUsize>,
    /// Requests sent by connection threads and not yet taken by `recv`.
    queued: Arc<AtomicUsize>,
}

impl Server {
    /// Listens on `127.0.0.1:port` (0: any free port) and starts accepting.
    pub fn bind(port: u16, config: ServerConfig) -> std::io::Result<Server> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        let addr = listener.local_addr()?;
        let (tx, requests) = sync_channel(config.max_connections.max(1));
        let open = Arc::new(AtomicUsize::new(0));
        let queued = Arc::new(AtomicUsize::new(0));
        let counters = (Arc::clone(&open), Arc::clone(&queued));
        std::thread::Builder::new()
            .name("http-accept".into())
            .spawn(move || accept_loop(listener, config, tx, counters))?;
        Ok(Server {
            addr,
            requests,
            open,
            queued,
        })
    }

    /// The address listened on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Requests waiting to be taken by [`Server::recv`].
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// The next request; `None` if the accept thread has stopped.
    pub fn recv(&self) -> Option<Exchange> {
        let exchange = self.requests.recv().ok()?;
        self.queued.fetch_sub(1, Ordering::SeqCst);
        Some(exchange)
    }

    /// The next request if one is waiting, without blocking.
    pub fn try_recv(&self) -> Option<Exchange> {
        let exchange = self.requests.try_recv().ok()?;
        self.queued.fetch_sub(1, Ordering::SeqCst);
        Some(exchange)
    }

    /// The next request, waiting at most `timeout`; `None` on timeout.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Exchange> {
        let exchange = self.requests.recv_timeout(timeout).ok()?;
        self.queued.fetch_sub(1, Ordering::SeqCst);
        Some(exchange)
    }
}

/// Decrements the open-connection count when a connection thread ends, however it ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn accept_loop(
    listener: TcpListener,
    config: ServerConfig,
    tx: SyncSender<Exchange>,
    (open, queued): (Arc<AtomicUsize>, Arc<AtomicUsize>),
) {
    let refusing = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if open.load(Ordering::SeqCst) >= config.max_connections {
            tracing::warn!(
                limit = config.max_connections,
                "connection limit reached; answering 503"
            );
            // Refusals get a short-lived thread of their own (at most MAX_REFUSING at once;
            // beyond that the socket is just closed), so the accept loop never waits on a
            // client.
            if refusing.load(Ordering::SeqCst) < MAX_REFUSING {
                refusing.fetch_add(1, Ordering::SeqCst);
                let slot = Slot(Arc::clone(&refusing));
                let limit = config.max_connections;
                let _ = std::thread::Builder::new()
                    .name("http-refuse".into())
                    .spawn(move || {
                        let _slot = slot;
                        refuse(stream, limit);
                    });
            }
            continue;
        }
        open.fetch_add(1, Ordering::SeqCst);
        let slot = Slot(Arc::clone(&open));
        let (tx, config, queued) = (tx.clone(), config.clone(), Arc::clone(&queued));
        let spawned = std::thread::Builder::new()
            .name("http-conn".into())
            .spawn(move || {
                let _slot = slot;
                if let Err(e) = serve_connection(stream, &config, &tx, &queued) {
                    tracing::debug!(error = %e, "connection ended");
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start a connection thread");
        }
    }
}

/// Most connections being answered 503 at once.
const MAX_REFUSING: usize = 32;

/// Answers 503 on a connection beyond the cap. The request is read first (briefly): closing
/// a socket with unread data makes the kernel reset it, and the client would see a reset
/// instead of the answer.
fn refuse(mut stream: TcpStream, limit: usize) {
    let wait = Some(Duration::from_millis(500));
    let _ = stream.set_read_timeout(wait);
    let _ = stream.set_write_timeout(wait);
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD_BYTES {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let message = format!("too many open connections (limit {limit}); retry later");
    let _ = write_response(&mut stream, &HttpResponse::error(503, &message), false);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    // Drain what else the client sends until it closes, for the same reason.
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
}

/// What reading one request gave.
enum Read1 {
    /// The client closed, or stayed idle past the timeout, between requests.
    Closed,
    /// A request to answer; `keep_alive` says whether the connection stays open after it.
    Request {
        method: String,
        path: String,
        body: String,
        keep_alive: bool,
    },
    /// A malformed or refused request: answer and close.
    Refuse(HttpResponse),
}

fn serve_connection(
    stream: TcpStream,
    config: &ServerConfig,
    tx: &SyncSender<Exchange>,
    queued: &AtomicUsize,
) -> std::io::Result<()> {
    stream.set_read_timeout(config.idle_timeout)?;
    stream.set_write_timeout(config.idle_timeout)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        match read_request(&mut reader, &mut writer, config)? {
            Read1::Closed => return Ok(()),
            Read1::Refuse(response) => {
                write_response(&mut writer, &response, false)?;
                // Unread request bytes would make the close a reset that can discard the
                // answer on the client's side: stop writing, then drain briefly.
                let _ = writer.shutdown(std::net::Shutdown::Write);
                let _ = reader
                    .get_ref()
                    .set_read_timeout(Some(Duration::from_millis(500)));
                let _ = std::io::copy(&mut reader.by_ref().take(64 << 20), &mut std::io::sink());
                return Ok(());
            }
            Read1::Request {
                method,
                path,
                body,
                keep_alive,
            } => {
                if queued.fetch_add(1, Ordering::SeqCst) >= config.max_queued {
                    queued.fetch_sub(1, Ordering::SeqCst);
                    let message = format!(
                        "{} requests are waiting already (the server's limit); retry later",
                        config.max_queued
                    );
                    tracing::warn!(limit = config.max_queued, "queue full; answering 429");
                    write_response(&mut writer, &HttpResponse::error(429, &message), keep_alive)?;
                    if !keep_alive {
                        return Ok(());
                    }
                    continue;
                }
                let (reply, answer) = channel();
                let exchange = Exchange {
                    method,
                    path,
                    body,
                    reply,
                    client: writer.try_clone().ok(),
                };
                if tx.send(exchange).is_err() {
                    queued.fetch_sub(1, Ordering::SeqCst);
                    return Ok(());
                }
                match answer.recv() {
                    Ok(Reply::Whole(response)) => {
                        write_response(&mut writer, &response, keep_alive)?
                    }
                    Ok(Reply::StreamHead(content_type)) => {
                        write_stream(&mut writer, content_type, &answer, keep_alive)?
                    }
                    Ok(Reply::Chunk(_) | Reply::End) | Err(_) => return Ok(()),
                }
                if !keep_alive {
                    return Ok(());
                }
            }
        }
    }
}

/// Longest request line plus headers accepted.
const MAX_HEAD_BYTES: usize = 64 << 10;

fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
    config: &ServerConfig,
) -> std::io::Result<Read1> {
    let mut head = Vec::new();
    // The first line; a timeout or EOF before any byte is the idle end of a connection.
    let mut limited = reader.by_ref().take(MAX_HEAD_BYTES as u64);
    match limited.read_until(b'\n', &mut head) {
        Ok(0) => return Ok(Read1::Closed),
        Ok(_) => {}
        Err(e) if is_timeout(&e) && head.is_empty() => return Ok(Read1::Closed),
        Err(e) => return Err(e),
    }
    let request_line = String::from_utf8_lossy(&head).trim_end().to_string();
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Ok(Read1::Refuse(HttpResponse::error(
            400,
            "malformed request line",
        )));
    };
    let (method, version) = (method.to_string(), version.to_string());
    let path = target.split('?').next().unwrap_or("").to_string();

    let mut content_length: Option<u64> = None;
    let mut connection = String::new();
    let mut chunked = false;
    let mut expect_continue = false;
    let mut total = head.len();
    loop {
        let mut line = Vec::new();
        let n = reader
            .by_ref()
            .take((MAX_HEAD_BYTES - total.min(MAX_HEAD_BYTES)) as u64 + 1)
            .read_until(b'\n', &mut line)?;
        total += n;
        if n == 0 || total > MAX_HEAD_BYTES {
            return Ok(Read1::Refuse(HttpResponse::error(
                431,
                "request headers too large or cut off",
            )));
        }
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Ok(Read1::Refuse(HttpResponse::error(400, "malformed header")));
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => match value.parse() {
                Ok(n) => content_length = Some(n),
                Err(_) => {
                    return Ok(Read1::Refuse(HttpResponse::error(
                        400,
                        "bad Content-Length",
                    )));
                }
            },
            "connection" => connection = value.to_ascii_lowercase(),
            "transfer-encoding" => chunked = !value.eq_ignore_ascii_case("identity"),
            "expect" => expect_continue = value.eq_ignore_ascii_case("100-continue"),
            _ => {}
        }
    }
    if chunked {
        return Ok(Read1::Refuse(HttpResponse::error(
            411,
            "chunked request bodies are not supported; send Content-Length",
        )));
    }
    let length = content_length.unwrap_or(0);
    if length > config.max_body_bytes {
        return Ok(Read1::Refuse(HttpResponse::error(
            413,
            &format!(
                "request body too large ({length} bytes, limit {})",
                config.max_body_bytes
            ),
        )));
    }
    if expect_continue {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let mut body = vec![0u8; length as usize];
    reader.read_exact(&mut body)?;
    let Ok(body) = String::from_utf8(body) else {
        return Ok(Read1::Refuse(HttpResponse::error(
            400,
            "the body is not UTF-8",
        )));
    };
    let keep_alive = match version.as_str() {
        "HTTP/1.1" => !connection.contains("close"),
        _ => connection.contains("keep-alive"),
    };
    Ok(Read1::Request {
        method,
        path,
        body,
        keep_alive,
    })
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        411 => "Length Required",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

fn write_response(
    stream: &mut TcpStream,
    response: &HttpResponse,
    keep_alive: bool,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(response.body.as_bytes())?;
    stream.flush()
}

/// Writes a streamed answer: the head, then every chunk as it comes, until the end (or the
/// answering side is dropped). Chunked on a keep-alive connection; otherwise the body ends
/// when the connection closes.
fn write_stream(
    stream: &mut TcpStream,
    content_type: &str,
    chunks: &Receiver<Reply>,
    keep_alive: bool,
) -> std::io::Result<()> {
    let framing = if keep_alive {
        "Transfer-Encoding: chunked\r\nConnection: keep-alive"
    } else {
        "Connection: close"
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nCache-Control: no-cache\r\n{framing}\r\n\r\n"
    );
    stream.write_all(head.as_bytes())?;
    stream.flush()?;
    while let Ok(Reply::Chunk(piece)) = chunks.recv() {
        if piece.is_empty() {
            // An empty chunk would end a chunked body.
            continue;
        }
        if keep_alive {
            write!(stream, "{:x}\r\n", piece.len())?;
            stream.write_all(piece.as_bytes())?;
            stream.write_all(b"\r\n")?;
        } else {
            stream.write_all(piece.as_bytes())?;
        }
        stream.flush()?;
    }
    if keep_alive {
        stream.write_all(b"0\r\n\r\n")?;
        stream.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Answers every request with 200 until the test ends.
    fn echo(server: Server) {
        std::thread::spawn(move || {
            while let Some(e) = server.recv() {
                let body = format!("{{\"path\": {:?}}}", e.path());
                e.respond(HttpResponse::json(200, body));
            }
        });
    }

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// Reads until EOF or the deadline; true when the server closed the socket.
    fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
        s.set_read_timeout(Some(within)).unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).is_ok()
    }

    #[test]
    fn idle_connections_are_closed_and_the_cap_answers_503() {
        let config = ServerConfig {
            idle_timeout: Some(Duration::from_millis(500)),
            max_connections: 3,
            ..Default::default()
        };
        let server = Server::bind(0, config).unwrap();
        let addr = server.local_addr();
        let open = Arc::clone(&server.open);
        echo(server);

        let mut idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let deadline = Instant::now() + Duration::from_secs(5);
        while open.load(Ordering::SeqCst) < 3 {
            assert!(Instant::now() < deadline, "connections not accepted");
            std::thread::sleep(Duration::from_millis(10));
        }
        // Beyond the cap: 503 and closed.
        let refused = get(addr, "/x");
        assert!(refused.starts_with("HTTP/1.1 503 "), "{refused}");
        assert!(refused.contains("limit 3"), "{refused}");
        // The idle ones are closed after the timeout, which frees their slots.
        let started = Instant::now();
        for s in &mut idle {
            assert!(closed_by_server(s, Duration::from_secs(5)));
        }
        assert!(started.elapsed() < Duration::from_secs(4));
        while open.load(Ordering::SeqCst) > 0 {
            assert!(Instant::now() < deadline + Duration::from_secs(5));
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(get(addr, "/y").starts_with("HTTP/1.1 200 OK"));
    }

    /// Sends a request and returns the status line, or `None` if no answer came in `wait`.
    fn status_of(addr: SocketAddr, path: &str, wait: Duration) -> (TcpStream, Option<String>) {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
        s.set_read_timeout(Some(wait)).unwrap();
        let mut line = String::new();
        let status = BufReader::new(s.try_clone().unwrap())
            .read_line(&mut line)
            .ok()
            .filter(|&n| n > 0)
            .map(|_| line.trim_end().to_string());
        (s, status)
    }

    #[test]
    fn a_full_queue_answers_429_and_gone_clients_are_seen() {
        let config = ServerConfig {
            max_queued: 2,
            ..Default::default()
        };
        let server = Server::bind(0, config).unwrap();
        let addr = server.local_addr();
        // Nobody calls recv yet: two requests wait, the third is refused at once.
        let (first, none) = status_of(addr, "/1", Duration::from_millis(300));
        assert_eq!(none, None);
        let (second, none) = status_of(addr, "/2", Duration::from_millis(300));
        assert_eq!(none, None);
        assert_eq!(server.queued(), 2);
        let (_third, refused) = status_of(addr, "/3", Duration::from_secs(10));
        assert_eq!(refused.as_deref(), Some("HTTP/1.1 429 Too Many Requests"));
        assert_eq!(server.queued(), 2);

        // The first client gives up; its request is seen as gone, the second's is not.
        drop(first);
        std::thread::sleep(Duration::from_millis(100));
        let gone = server.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(gone.path(), "/1");
        assert!(gone.client_gone());
        let waiting = server.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(waiting.path(), "/2");
        assert!(!waiting.client_gone());
        assert_eq!(server.queued(), 0);
        waiting.respond(HttpResponse::json(200, "{}".into()));
        let mut answer = String::new();
        let mut second = second;
        second
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        second.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        // With room again, a new request is queued, not refused.
        let (_fourth, none) = status_of(addr, "/4", Duration::from_millis(300));
        assert_eq!(none, None);
        assert_eq!(
            server.recv_timeout(Duration::from_secs(5)).unwrap().path(),
            "/4"
        );
    }

    #[test]
    fn keep_alive_serves_several_requests_and_refuses_oversized_bodies() {
        let config = ServerConfig {
            max_body_bytes: 10,
            ..Default::default()
        };
        let server = Server::bind(0, config).unwrap();
        let addr = server.local_addr();
        echo(server);
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut reader = BufReader::new(s.try_clone().unwrap());
        for path in ["/a", "/b"] {
            write!(s, "POST {path} HTTP/1.1\r\nContent-Length: 2\r\n\r\n{{}}").unwrap();
            let mut status = String::new();
            reader.read_line(&mut status).unwrap();
            assert!(status.starts_with("HTTP/1.1 200"), "{status}");
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.strip_prefix("Content-Length: ") {
                    length = v.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            assert!(String::from_utf8(body).unwrap().contains(path));
        }
        write!(s, "POST /c HTTP/1.1\r\nContent-Length: 11\r\n\r\n").unwrap();
        let mut rest = String::new();
        reader.read_to_string(&mut rest).unwrap();
        assert!(rest.starts_with("HTTP/1.1 413 "), "{rest}");
    }

    /// Streams are written piece by piece: chunked on a keep-alive connection (which then
    /// serves the next request), close-delimited otherwise; a piece reaches the client before
    /// the stream ends; a stream whose client has gone says so.
    #[test]
    fn streams_arrive_piece_by_piece_and_notice_a_gone_client() {
        let server = Server::bind(0, ServerConfig::default()).unwrap();
        let addr = server.local_addr();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let streamer = std::thread::spawn(move || {
            // 1: keep-alive, two pieces with a pause the client waits through.
            let e = server.recv_timeout(Duration::from_secs(10)).unwrap();
            let stream = e.stream("text/event-stream");
            assert!(stream.send("data: 1\n\n".into()));
            released.recv().unwrap();
            assert!(stream.send("data: 2\n\n".into()));
            drop(stream);
            // 2: the same connection's next request, answered whole.
            let e = server.recv_timeout(Duration::from_secs(10)).unwrap();
            e.respond(HttpResponse::json(200, "{}".into()));
            // 3: Connection: close, close-delimited.
            let e = server.recv_timeout(Duration::from_secs(10)).unwrap();
            let stream = e.stream("text/event-stream");
            assert!(stream.send("data: 3\n\n".into()));
            drop(stream);
            // 4: the client closes after the head; sending fails (or the peek sees it) soon.
            let e = server.recv_timeout(Duration::from_secs(10)).unwrap();
            let stream = e.stream("text/event-stream");
            let deadline = Instant::now() + Duration::from_secs(10);
            while stream.send("data: x\n\n".into()) && !stream.client_gone() {
                assert!(
                    Instant::now() < deadline,
                    "the gone client was never noticed"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        });

        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut reader = BufReader::new(s.try_clone().unwrap());
        write!(s, "POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\n{{}}").unwrap();
        let mut head = String::new();
        while !head.ends_with("\r\n\r\n") {
            reader.read_line(&mut head).unwrap();
        }
        assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
        let chunk = |reader: &mut BufReader<TcpStream>| {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let size = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut data = vec![0; size + 2];
            reader.read_exact(&mut data).unwrap();
            String::from_utf8(data[..size].to_vec()).unwrap()
        };
        // The first piece is here while the server still holds the stream open.
        assert_eq!(chunk(&mut reader), "data: 1\n\n");
        release.send(()).unwrap();
        assert_eq!(chunk(&mut reader), "data: 2\n\n");
        assert_eq!(chunk(&mut reader), "", "the terminating chunk");
        write!(s, "GET /b HTTP/1.1\r\nContent-Length: 0\r\n\r\n").unwrap();
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        drop((s, reader));

        let closed = get(addr, "/c");
        assert!(closed.contains("Connection: close"), "{closed}");
        assert!(closed.ends_with("\r\n\r\ndata: 3\n\n"), "{closed}");

        let mut s = TcpStream::connect(addr).unwrap();
        write!(s, "GET /d HTTP/1.1\r\n\r\n").unwrap();
        let mut first = [0u8; 16];
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.read(&mut first).unwrap();
        drop(s);
        streamer.join().unwrap();
    }
}
