//! A loopback HTTPS static file server, for the self-update tests: the grappe's file server
//! (`manifest.json`, release archives) behind a private CA that the test controls, with
//! faults on demand (a body cut short, garbage instead of the file) and a log of the paths
//! asked for, to assert that a download did or did not happen.
//!
//! One request per connection (`Connection: close`), GET and HEAD, files under the root
//! only. A connection that fails (a client refusing the certificate, a bad request) is
//! dropped without disturbing the server.

use super::pki::Pki;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A connection idle this long is dropped, so that no handler thread lingers.
const IDLE: Duration = Duration::from_secs(10);
/// Request headers larger than this are refused.
const MAX_HEAD: usize = 16 * 1024;

/// A CA and a server certificate for `localhost` and 127.0.0.1 that it issued, as PEM.
pub struct ServerPki {
    /// The CA certificate: the trust file to give the client (the agent's update CA).
    pub ca_pem: String,
    /// The same, as a file in the directory given to [`server_pki`].
    pub ca_file: PathBuf,
    pub cert_pem: String,
    pub key_pem: String,
}

/// Makes a CA named `update-ca` in `dir` and a server certificate (`update-server.pem`,
/// `update-server.key`) for [`FileServer::start`].
pub fn server_pki(dir: &Path) -> ServerPki {
    let pki = Pki::new(dir, "update-ca");
    let server = pki.server("update-server");
    let ca_file = pki.ca_file("update-ca");
    ServerPki {
        ca_pem: std::fs::read_to_string(&ca_file).unwrap(),
        ca_file,
        cert_pem: std::fs::read_to_string(server.cert).unwrap(),
        key_pem: std::fs::read_to_string(server.key).unwrap(),
    }
}

/// What the server does instead of serving a path normally.
#[derive(Clone)]
enum Fault {
    /// The true Content-Length, but only this many bytes of the body, then close.
    Truncate(usize),
    /// 200 with this body instead of the file.
    Garbage(Vec<u8>),
}

#[derive(Default)]
struct State {
    requests: Vec<String>,
    faults: HashMap<String, Fault>,
}

/// An HTTPS file server on 127.0.0.1, stopped when dropped.
pub struct FileServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl FileServer {
    /// Serves `root` over HTTPS on 127.0.0.1:<free port>; returns once listening.
    pub fn start(root: &Path, server_cert_pem: &str, server_key_pem: &str) -> FileServer {
        let certs = CertificateDer::pem_slice_iter(server_cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("server certificate PEM");
        let key = PrivateKeyDer::from_pem_slice(server_key_pem.as_bytes()).expect("server key PEM");
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .expect("server certificate and key");
        let config = Arc::new(config);

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let root = root.to_path_buf();
        let accept = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                for tcp in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(tcp) = tcp else { continue };
                    let (config, root, state) = (config.clone(), root.clone(), state.clone());
                    std::thread::spawn(move || {
                        if let Err(e) = serve(tcp, config, &root, &state) {
                            eprintln!("https file server: connection dropped: {e}");
                        }
                    });
                }
            })
        };
        FileServer {
            addr,
            state,
            stop,
            accept: Some(accept),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `https://127.0.0.1:PORT/{path}` (a leading `/` in `path` is allowed).
    pub fn url(&self, path: &str) -> String {
        format!(
            "https://127.0.0.1:{}/{}",
            self.addr.port(),
            path.trim_start_matches('/')
        )
    }

    /// From now on, answers for `path` send the true Content-Length but only the first
    /// `bytes` bytes of the file, then close the connection (cleanly, with close_notify,
    /// so that only the length tells the client that the body is short).
    pub fn truncate(&self, path: &str, bytes: usize) {
        self.fault(path, Some(Fault::Truncate(bytes)));
    }

    /// From now on, answers for `path` are 200 with this body instead of the file (even
    /// if there is no such file).
    pub fn garbage(&self, path: &str, body: &[u8]) {
        self.fault(path, Some(Fault::Garbage(body.to_vec())));
    }

    /// From now on, `path` is served normally again.
    pub fn heal(&self, path: &str) {
        self.fault(path, None);
    }

    /// The paths asked for so far, in order, as [`FileServer::url`] takes them (no leading
    /// `/`, no query string), whether or not they were found.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    fn fault(&self, path: &str, fault: Option<Fault>) {
        let path = path.trim_start_matches('/').to_string();
        let faults = &mut self.state.lock().unwrap().faults;
        match fault {
            Some(f) => faults.insert(path, f),
            None => faults.remove(&path),
        };
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop, which then sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// One connection: the handshake, one request, its answer, a clean close.
fn serve(
    tcp: TcpStream,
    config: Arc<ServerConfig>,
    root: &Path,
    state: &Mutex<State>,
) -> std::io::Result<()> {
    tcp.set_read_timeout(Some(IDLE))?;
    tcp.set_write_timeout(Some(IDLE))?;
    let conn = ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut tls = StreamOwned::new(conn, tcp);

    // The request head, up to the blank line (a GET has no body to read after it).
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return answer(tls, 431, "text/plain", b"request head too large", None);
        }
        let n = tls.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut line = head.lines().next().unwrap_or("").split(' ');
    let (method, target) = (line.next().unwrap_or(""), line.next().unwrap_or(""));
    let path = target.split(['?', '#']).next().unwrap_or("");
    let Some(path) = path.strip_prefix('/') else {
        return answer(tls, 400, "text/plain", b"bad request target", None);
    };
    let fault = {
        let mut state = state.lock().unwrap();
        state.requests.push(path.to_string());
        state.faults.get(path).cloned()
    };
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return answer(tls, 405, "text/plain", b"GET or HEAD only", None);
    }
    let kind = if path.ends_with(".json") {
        "application/json"
    } else {
        "application/octet-stream"
    };
    if let Some(Fault::Garbage(body)) = &fault {
        let body = if head_only { &[][..] } else { body };
        return answer(tls, 200, kind, body, None);
    }
    // Files under the root only: no `..`, no empty or `.` segments, no absolute paths.
    let safe = !path.is_empty()
        && path
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != ".." && !s.contains('\\'));
    let body = match safe.then(|| std::fs::read(root.join(path))) {
        Some(Ok(body)) => body,
        _ => return answer(tls, 404, "text/plain", b"not found", None),
    };
    let short = match fault {
        Some(Fault::Truncate(n)) if n < body.len() => Some(n),
        _ => None,
    };
    if head_only {
        return answer(tls, 200, kind, &[], Some(body.len()));
    }
    match short {
        Some(n) => answer(tls, 200, kind, &body[..n], Some(body.len())),
        None => answer(tls, 200, kind, &body, None),
    }
}

/// Writes the answer (`length` overrides the Content-Length of `body`), then closes.
fn answer(
    mut tls: StreamOwned<ServerConnection, TcpStream>,
    status: u16,
    kind: &str,
    body: &[u8],
    length: Option<usize>,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Request Header Fields Too Large",
    };
    let length = length.unwrap_or(body.len());
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {length}\r\n\
         Connection: close\r\n\r\n"
    );
    tls.write_all(head.as_bytes())?;
    tls.write_all(body)?;
    tls.conn.send_close_notify();
    tls.flush()?;
    // A lingering close: stop sending, then read until the client closes, so that whatever
    // it still sends (its own close_notify) does not make the kernel reset the connection
    // and lose the end of the answer before the client has read it.
    tls.sock.shutdown(Shutdown::Write)?;
    tls.sock.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut sink = [0u8; 1024];
    while matches!(tls.sock.read(&mut sink), Ok(n) if n > 0) {}
    Ok(())
}
