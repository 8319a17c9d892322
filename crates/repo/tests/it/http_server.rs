//! A small smart-HTTP git server for tests: `git http-backend` behind a CGI shim on 127.0.0.1.
//!
//! Reusable by other crates' tests: copy or `#[path]`-include this file. It needs std, the `git`
//! binary and, for HTTPS ([`GitHttpServer::start_tls`], certificates from a [`PrivateCa`] made
//! with the `openssl` binary), the `openssl` crate. [`Tarpit`] is a listener that accepts
//! connections and never answers, for timeout tests.
//!
//! Every connection serves one request and is closed (`Connection: close`); libgit2 and git both
//! reconnect for the next request. Request bodies may be chunked (libgit2 chunks pushes). The shim
//! checks the `Authorization` header when an [`Auth`] is set and answers 401 with
//! `WWW-Authenticate` otherwise. The served repositories need `http.receivepack=true` (see
//! [`enable_push`]) unless a user is authenticated, which git treats as permission to push.

use std::{
    fs,
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread::{self, JoinHandle},
};

use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};

/// What the server requires from clients.
#[derive(Clone, Debug)]
pub enum Auth {
    /// Anonymous access.
    None,
    /// HTTP basic authentication with these credentials.
    Basic { username: String, password: String },
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// A public repository as Gitea serves one: anyone may fetch, pushing needs these basic
    /// credentials, and credentials that are sent must be right (the CLI's test Gitea).
    #[allow(dead_code)]
    PublicRead { username: String, password: String },
}

/// Called with (method, path, query) before a request is served; lets a test change the served
/// repository at a precise moment of a client operation.
pub type RequestHook = Arc<dyn Fn(&str, &str, &str) + Send + Sync>;

/// One request as the server received it.
#[derive(Clone, Debug)]
#[allow(dead_code)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub query: String,
    /// The `User-Agent` header, empty when absent.
    pub agent: String,
}

/// What every connection of one server shares: the request log and the redirects.
#[derive(Default)]
struct Shared {
    log: Mutex<Vec<Logged>>,
    /// Requests for a path starting with the first string are redirected (301) to the same
    /// path with the second string in its place.
    redirects: Mutex<Vec<(String, String)>>,
}

/// A running server; stopped when dropped.
pub struct GitHttpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    unauthorized: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
    tls: bool,
}

impl GitHttpServer {
    /// Serves the repositories below `project_root` (bare repositories, addressed by their path
    /// relative to the root) on an ephemeral port of 127.0.0.1.
    pub fn start(project_root: impl Into<PathBuf>, auth: Auth) -> GitHttpServer {
        GitHttpServer::start_with_hook(project_root, auth, Arc::new(|_: &str, _: &str, _: &str| {}))
    }

    /// Like [`GitHttpServer::start`], calling `hook` before serving each request.
    pub fn start_with_hook(
        project_root: impl Into<PathBuf>,
        auth: Auth,
        hook: RequestHook,
    ) -> GitHttpServer {
        GitHttpServer::start_inner(project_root.into(), auth, hook, None)
    }

    /// Like [`GitHttpServer::start`], over HTTPS with `identity`'s certificate.
    pub fn start_tls(
        project_root: impl Into<PathBuf>,
        auth: Auth,
        identity: &ServerIdentity,
    ) -> GitHttpServer {
        let mut acceptor =
            SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).expect("TLS acceptor");
        acceptor
            .set_private_key_file(&identity.key_file, SslFiletype::PEM)
            .expect("load the server key");
        acceptor.set_certificate_chain_file(&identity.cert_file).expect("load the server chain");
        acceptor.check_private_key().expect("the key matches the certificate");
        let hook: RequestHook = Arc::new(|_: &str, _: &str, _: &str| {});
        GitHttpServer::start_inner(
            project_root.into(),
            auth,
            hook,
            Some(Arc::new(acceptor.build())),
        )
    }

    fn start_inner(
        project_root: PathBuf,
        auth: Auth,
        hook: RequestHook,
        tls: Option<Arc<SslAcceptor>>,
    ) -> GitHttpServer {
        let is_tls = tls.is_some();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("listener has an address");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let unauthorized = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(Shared::default());
        let thread = {
            let (stop, requests, unauthorized) =
                (stop.clone(), requests.clone(), unauthorized.clone());
            let shared = shared.clone();
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (root, auth) = (project_root.clone(), auth.clone());
                    let (requests, unauthorized) = (requests.clone(), unauthorized.clone());
                    let (hook, tls, shared) = (hook.clone(), tls.clone(), shared.clone());
                    thread::spawn(move || {
                        requests.fetch_add(1, Ordering::SeqCst);
                        let served = match tls {
                            None => {
                                let mut stream = stream;
                                serve(&mut stream, &root, &auth, &unauthorized, &*hook, &shared)
                            }
                            Some(acceptor) => match acceptor.accept(stream) {
                                Ok(mut stream) => {
                                    let served = serve(
                                        &mut stream,
                                        &root,
                                        &auth,
                                        &unauthorized,
                                        &*hook,
                                        &shared,
                                    );
                                    let _ = stream.shutdown();
                                    served
                                }
                                Err(err) => Err(format!("TLS handshake: {err}")),
                            },
                        };
                        if let Err(err) = served {
                            eprintln!("git http test server: {err}");
                        }
                    });
                }
            })
        };
        GitHttpServer {
            addr,
            shared,
            stop,
            requests,
            unauthorized,
            thread: Some(thread),
            tls: is_tls,
        }
    }

    /// `http(s)://127.0.0.1:<port>/<repo>`.
    pub fn url(&self, repo: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}/{}", self.addr, repo.trim_start_matches('/'))
    }

    /// Number of requests received so far.
    #[allow(dead_code)]
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Every request received so far, in order.
    #[allow(dead_code)]
    pub fn log(&self) -> Vec<Logged> {
        self.shared.log.lock().expect("log lock").clone()
    }

    /// Redirects (301) every later request whose path starts with `from` to the same path
    /// with `to` in place of `from`.
    #[allow(dead_code)]
    pub fn redirect(&self, from: &str, to: &str) {
        self.shared.redirects.lock().expect("redirects lock").push((from.into(), to.into()));
    }

    /// Number of requests answered with 401 so far.
    pub fn unauthorized(&self) -> usize {
        self.unauthorized.load(Ordering::SeqCst)
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A certificate authority of the tests' own, made with the `openssl` binary in a directory.
pub struct PrivateCa {
    dir: PathBuf,
    name: String,
    /// The CA certificate (PEM), what a client's CA bundle holds.
    pub cert_pem: String,
}

/// A server's certificate chain and key, as PEM files.
pub struct ServerIdentity {
    /// The server certificate followed by its issuers up to (excluding) the root.
    pub cert_file: PathBuf,
    /// Its private key.
    pub key_file: PathBuf,
}

impl PrivateCa {
    /// Makes a self-signed CA named `name` with its files in `dir`.
    pub fn new(dir: &Path, name: &str) -> PrivateCa {
        fs::create_dir_all(dir).expect("create CA dir");
        let (key, cert) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.crt")));
        openssl_cli(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            path_str(&key),
            "-out",
            path_str(&cert),
        ]);
        let cert_pem = fs::read_to_string(&cert).expect("read CA certificate");
        PrivateCa { dir: dir.to_owned(), name: name.to_owned(), cert_pem }
    }

    /// Issues a server certificate `name` for the subject alternative names `san` (e.g.
    /// `IP:127.0.0.1`, `DNS:localhost`).
    pub fn issue(&self, name: &str, san: &str) -> ServerIdentity {
        let dir = &self.dir;
        let key = dir.join(format!("{name}.key"));
        let csr = dir.join(format!("{name}.csr"));
        let cert = dir.join(format!("{name}.crt"));
        let extensions = dir.join(format!("{name}.ext"));
        fs::write(
            &extensions,
            format!(
                "subjectAltName={san}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            ),
        )
        .expect("write extensions");
        openssl_cli(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            path_str(&key),
            "-out",
            path_str(&csr),
        ]);
        let (ca_cert, ca_key) =
            (dir.join(format!("{}.crt", self.name)), dir.join(format!("{}.key", self.name)));
        openssl_cli(&[
            "x509",
            "-req",
            "-in",
            path_str(&csr),
            "-CA",
            path_str(&ca_cert),
            "-CAkey",
            path_str(&ca_key),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            path_str(&extensions),
            "-out",
            path_str(&cert),
        ]);
        ServerIdentity { cert_file: cert, key_file: key }
    }
}

fn openssl_cli(args: &[&str]) {
    let output = Command::new("openssl").args(args).output().expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// A TCP listener on 127.0.0.1 that accepts every connection and never sends a byte, for tests
/// of timeouts: a client's connect succeeds and its first read waits forever. The accepted
/// connections are held open until the tarpit is dropped.
pub struct Tarpit {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<JoinHandle<()>>,
}

impl Tarpit {
    /// Listens on an ephemeral port of 127.0.0.1.
    pub fn start() -> Tarpit {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("listener has an address");
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, accepted) = (stop.clone(), accepted.clone());
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        accepted.lock().expect("not poisoned").push(stream);
                    }
                }
            })
        };
        Tarpit { addr, stop, accepted, thread: Some(thread) }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `<scheme>://127.0.0.1:<port>/<path>`, e.g. `url("http", "repo.git")`.
    pub fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// Number of connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.lock().expect("not poisoned").len()
    }
}

impl Drop for Tarpit {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Allows pushes over HTTP to the bare repository at `repo`.
pub fn enable_push(repo: &Path) {
    let status = Command::new("git")
        .args(["config", "http.receivepack", "true"])
        .current_dir(repo)
        .status()
        .expect("run git config");
    assert!(status.success(), "git config http.receivepack failed");
}

struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

fn serve<S: Read + Write>(
    stream: &mut S,
    root: &Path,
    auth: &Auth,
    unauthorized: &AtomicUsize,
    hook: &(dyn Fn(&str, &str, &str) + Send + Sync),
    shared: &Shared,
) -> Result<(), String> {
    let mut reader = BufReader::new(stream);
    let Some(request) = read_request(&mut reader)? else { return Ok(()) };
    hook(&request.method, &request.path, &request.query);
    shared.log.lock().expect("log lock").push(Logged {
        method: request.method.clone(),
        path: request.path.clone(),
        query: request.query.clone(),
        agent: request.header("User-Agent").unwrap_or("").to_owned(),
    });
    let redirect =
        shared.redirects.lock().expect("redirects lock").iter().find_map(|(from, to)| {
            request.path.strip_prefix(from.as_str()).map(|rest| format!("{to}{rest}"))
        });
    if let Some(location) = redirect {
        let query =
            if request.query.is_empty() { String::new() } else { format!("?{}", request.query) };
        let response = format!(
            "HTTP/1.1 301 Moved Permanently\r\nLocation: {location}{query}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return reader.get_mut().write_all(response.as_bytes()).map_err(|e| e.to_string());
    }

    let pushing = request.path.ends_with("git-receive-pack")
        || request.query.contains("service=git-receive-pack");
    let user = match check_auth(auth, request.header("Authorization"), pushing) {
        Ok(user) => user,
        Err(challenge) => {
            unauthorized.fetch_add(1, Ordering::SeqCst);
            let response = format!(
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {challenge}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            return reader.get_mut().write_all(response.as_bytes()).map_err(|e| e.to_string());
        }
    };

    let mut command = Command::new("git");
    command
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REQUEST_METHOD", &request.method)
        .env("PATH_INFO", &request.path)
        .env("QUERY_STRING", &request.query)
        .env("CONTENT_LENGTH", request.body.len().to_string())
        .env("CONTENT_TYPE", request.header("Content-Type").unwrap_or(""))
        .env_remove("GIT_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(user) = user {
        command.env("REMOTE_USER", user);
    }
    if let Some(protocol) = request.header("Git-Protocol") {
        command.env("HTTP_GIT_PROTOCOL", protocol);
    }
    if let Some(encoding) = request.header("Content-Encoding") {
        command.env("HTTP_CONTENT_ENCODING", encoding);
    }
    let mut child = command.spawn().map_err(|e| format!("spawn git http-backend: {e}"))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let body = request.body;
    let feeder = thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    let _ = feeder.join();

    let (head, body) = split_cgi_output(&output.stdout);
    let mut status = "200 OK".to_owned();
    let mut headers = String::new();
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else { continue };
        if name.eq_ignore_ascii_case("Status") {
            status = value.trim().to_owned();
        } else {
            headers.push_str(&format!("{}: {}\r\n", name.trim(), value.trim()));
        }
    }
    let mut response = format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body);
    let writer = reader.get_mut();
    writer.write_all(&response).map_err(|e| e.to_string())?;
    writer.flush().map_err(|e| e.to_string())
}

fn read_request(reader: &mut BufReader<impl Read + Write>) -> Result<Option<Request>, String> {
    let mut line = String::new();
    if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else { return Ok(None) };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (method, path, query) = (method.to_owned(), path.to_owned(), query.to_owned());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let mut request = Request { method, path, query, headers, body: Vec::new() };
    if request.header("Expect").is_some_and(|expect| expect.eq_ignore_ascii_case("100-continue")) {
        reader.get_mut().write_all(b"HTTP/1.1 100 Continue\r\n\r\n").map_err(|e| e.to_string())?;
    }
    if request.header("Transfer-Encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).map_err(|e| e.to_string())?;
            let size = size.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size, 16)
                .map_err(|e| format!("bad chunk size {size:?}: {e}"))?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).map_err(|e| e.to_string())?;
            if size == 0 {
                break;
            }
            request.body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = request.header("Content-Length") {
        let length: usize = length.parse().map_err(|e| format!("bad content length: {e}"))?;
        request.body = vec![0; length];
        reader.read_exact(&mut request.body).map_err(|e| e.to_string())?;
    }
    Ok(Some(request))
}

/// Returns the authenticated user (if any) or the `WWW-Authenticate` challenge to send.
fn check_auth(
    auth: &Auth,
    header: Option<&str>,
    pushing: bool,
) -> Result<Option<String>, &'static str> {
    match auth {
        Auth::None => Ok(None),
        Auth::PublicRead { .. } if header.is_none() && !pushing => Ok(None),
        Auth::PublicRead { username, password } => check_auth(
            &Auth::Basic { username: username.clone(), password: password.clone() },
            header,
            pushing,
        ),
        Auth::Basic { username, password } => {
            let expected = format!("Basic {}", base64(format!("{username}:{password}").as_bytes()));
            if header == Some(expected.as_str()) {
                Ok(Some(username.clone()))
            } else {
                Err("Basic realm=\"git\"")
            }
        }
        Auth::Bearer(token) => {
            if header == Some(format!("Bearer {token}").as_str()) {
                Ok(Some("bearer-user".to_owned()))
            } else {
                Err("Bearer realm=\"git\"")
            }
        }
    }
}

fn split_cgi_output(output: &[u8]) -> (String, &[u8]) {
    for separator in [&b"\r\n\r\n"[..], &b"\n\n"[..]] {
        if let Some(pos) = output.windows(separator.len()).position(|window| window == separator) {
            let head = String::from_utf8_lossy(&output[..pos]).into_owned();
            return (head, &output[pos + separator.len()..]);
        }
    }
    (String::from_utf8_lossy(output).into_owned(), &[])
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let bytes = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(bytes[0]) << 16) | (u32::from(bytes[1]) << 8) | u32::from(bytes[2]);
        for idx in 0..4 {
            if idx <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * idx)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_matches_rfc4648() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
}
