//! One HTTP/1.1 request per connection, over TLS (OpenSSL) or plain TCP, with deadlines: what
//! a command-line client needs, and nothing a long-lived client would.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use openssl::pkey::PKey;
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use openssl::x509::X509;

use super::config::Target;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the server may stay silent (a write may render a package).
const IO_TIMEOUT: Duration = Duration::from_secs(120);
/// The largest response read (a list of 10,000 revisions is a few tens of megabytes).
const MAX_RESPONSE_BYTES: u64 = 1 << 30;

/// A response.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Where and how to connect.
pub struct Transport {
    host: String,
    port: u16,
    prefix: String,
    tls: Option<SslConnector>,
    server_name: String,
    authorization: Option<String>,
    pub server: String,
}

impl Transport {
    pub fn new(target: &Target) -> Result<Transport> {
        let (tls, rest) = if let Some(rest) = target.server.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = target.server.strip_prefix("http://") {
            (false, rest)
        } else {
            bail!("the kubeconfig's server {:?} is not an http(s) URL", target.server);
        };
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/').to_string()),
            None => (rest, String::new()),
        };
        let (host, port) = split_host_port(authority, if tls { 443 } else { 80 })?;
        let connector = if tls { Some(connector(target)?) } else { None };
        let credentials = &target.credentials;
        let authorization = if let Some(token) = &credentials.token {
            Some(format!("Bearer {token}"))
        } else {
            credentials.basic.as_ref().map(|(u, p)| {
                use base64::Engine as _;
                let raw = format!("{u}:{p}");
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
            })
        };
        Ok(Transport {
            server_name: target.tls_server_name.clone().unwrap_or_else(|| host.clone()),
            host,
            port,
            prefix,
            tls: connector,
            authorization,
            server: target.server.clone(),
        })
    }

    /// Sends one request; `path` starts with `/`.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        accept: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<Response> {
        let addr = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .with_context(|| format!("resolve {}", self.host))?
            .next()
            .ok_or_else(|| anyhow!("{} has no address", self.host))?;
        let tcp = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(|e| {
            anyhow!("cannot reach the server at {} ({e}); is `veranda serve` running?", self.server)
        })?;
        tcp.set_read_timeout(Some(IO_TIMEOUT))?;
        tcp.set_write_timeout(Some(IO_TIMEOUT))?;
        let mut head = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nAccept: {accept}\r\nUser-Agent: veranda-cli/{}\r\nConnection: close\r\n",
            self.prefix,
            host_header(&self.host, self.port),
            env!("CARGO_PKG_VERSION"),
        );
        if let Some(auth) = &self.authorization {
            head.push_str(&format!("Authorization: {auth}\r\n"));
        }
        let payload = body.map(|(_, b)| b).unwrap_or_default();
        if let Some((content_type, bytes)) = body {
            head.push_str(&format!(
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
                bytes.len()
            ));
        } else if matches!(method, "POST" | "PUT" | "PATCH") {
            head.push_str("Content-Length: 0\r\n");
        }
        head.push_str("\r\n");
        let raw = match &self.tls {
            Some(connector) => {
                let mut stream = connector
                    .connect(&self.server_name, tcp)
                    .map_err(|e| anyhow!("TLS handshake with {}: {e}", self.server))?;
                exchange(&mut stream, head.as_bytes(), payload)?
            }
            None => {
                let mut stream = tcp;
                exchange(&mut stream, head.as_bytes(), payload)?
            }
        };
        parse_response(&raw)
    }
}

fn exchange(stream: &mut (impl Read + Write), head: &[u8], body: &[u8]) -> Result<Vec<u8>> {
    stream.write_all(head).context("send request")?;
    stream.write_all(body).context("send request body")?;
    stream.flush().context("send request")?;
    let mut raw = Vec::new();
    let read = stream.take(MAX_RESPONSE_BYTES + 1).read_to_end(&mut raw);
    match read {
        Ok(_) => {}
        // TLS peers may close without close_notify; what arrived is the response.
        Err(e) if !raw.is_empty() && e.kind() != std::io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(anyhow!(e).context("read response")),
    }
    if raw.len() as u64 > MAX_RESPONSE_BYTES {
        bail!("the response is larger than {MAX_RESPONSE_BYTES} bytes");
    }
    Ok(raw)
}

fn parse_response(raw: &[u8]) -> Result<Response> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let offset = match response.parse(raw).context("parse response")? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => bail!("the server closed the connection mid-response"),
    };
    let status = response.code.unwrap_or(0);
    let mut chunked = false;
    let mut length = None;
    for h in response.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = String::from_utf8_lossy(h.value).to_ascii_lowercase().contains("chunked");
        } else if h.name.eq_ignore_ascii_case("content-length") {
            length = String::from_utf8_lossy(h.value).trim().parse::<usize>().ok();
        }
    }
    let rest = &raw[offset..];
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(n) = length {
        rest.get(..n).ok_or_else(|| anyhow!("the response body is truncated"))?.to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response { status, body })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("the chunked response is truncated"))?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| anyhow!("bad chunk size {size_text:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = data.get(..size).ok_or_else(|| anyhow!("the chunked response is truncated"))?;
        out.extend_from_slice(chunk);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

fn connector(target: &Target) -> Result<SslConnector> {
    let mut builder = SslConnector::builder(SslMethod::tls_client()).context("set up TLS")?;
    if let Some(pem) = &target.ca_pem {
        let certs =
            X509::stack_from_pem(pem).context("parse the kubeconfig's certificate authority")?;
        for cert in certs {
            builder.cert_store_mut().add_cert(cert).context("trust the certificate authority")?;
        }
    }
    if target.insecure_skip_tls_verify {
        builder.set_verify(SslVerifyMode::NONE);
    }
    if let Some((cert, key)) = &target.credentials.client_cert {
        let chain = X509::stack_from_pem(cert).context("parse the client certificate")?;
        let mut chain = chain.into_iter();
        let leaf = chain.next().ok_or_else(|| anyhow!("the client certificate is empty"))?;
        builder.set_certificate(&leaf).context("use the client certificate")?;
        for extra in chain {
            builder.add_extra_chain_cert(extra).context("use the client certificate chain")?;
        }
        let key = PKey::private_key_from_pem(key).context("parse the client key")?;
        builder.set_private_key(&key).context("use the client key")?;
    }
    Ok(builder.build())
}

fn split_host_port(authority: &str, default: u16) -> Result<(String, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) =
            rest.split_once(']').ok_or_else(|| anyhow!("bad server address {authority:?}"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| anyhow!("bad port in {authority:?}"))?,
            None => default,
        };
        return Ok((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => {
            Ok((host.to_string(), port.parse().map_err(|_| anyhow!("bad port in {authority:?}"))?))
        }
        None => Ok((authority.to_string(), default)),
    }
}

fn host_header(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_chunked_and_sized_bodies() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(raw).expect("chunked").body, b"abcde");
        let raw = b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nokEXTRA";
        let r = parse_response(raw).expect("sized");
        assert_eq!((r.status, r.body.as_slice()), (404, &b"ok"[..]));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err()
        );
    }

    #[test]
    fn splits_hosts_and_ports() {
        assert_eq!(split_host_port("127.0.0.1:7007", 443).expect("v4"), ("127.0.0.1".into(), 7007));
        assert_eq!(split_host_port("[::1]:8", 443).expect("v6"), ("::1".into(), 8));
        assert_eq!(split_host_port("example.com", 443).expect("name"), ("example.com".into(), 443));
        assert!(split_host_port("h:x", 1).is_err());
    }
}
