//! A scripted HTTP server for wire details the sandbox cannot produce on demand (pages that
//! overlap or come up short, hang-ups on reads, odd links). Each connection gets the next
//! scripted reply and is then closed.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does with one request.
pub enum Reply {
    /// Answer with a status, extra headers and a body.
    Http {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Read the request, then close the connection without answering.
    HangUp,
}

impl Reply {
    /// A 200 with a JSON body.
    pub fn json(body: serde_json::Value) -> Reply {
        Reply::Http {
            status: 200,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    /// A 200 with a JSON body and a `Link` header.
    pub fn json_with_link(body: serde_json::Value, link: String) -> Reply {
        Reply::Http {
            status: 200,
            headers: vec![("Link", link)],
            body: body.to_string(),
        }
    }
}

/// One request as the server received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl Recorded {
    /// The first header with this name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A running scripted server.
pub struct MockServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl MockServer {
    /// Starts a server; `script` receives the bound address (for links and `SiteUrl`).
    pub async fn start(script: impl FnOnce(SocketAddr) -> Vec<Reply>) -> MockServer {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let replies = Arc::new(Mutex::new(script(addr).into_iter()));
        let requests = Arc::new(Mutex::new(Vec::new()));

        let recorded = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                serve(stream, &replies, &recorded).await;
            }
        });
        MockServer { addr, requests }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn site(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

/// The standard discovery answer, naming this server with codebase `v2025_1/`.
pub fn company_info(addr: SocketAddr) -> Reply {
    Reply::json(serde_json::json!({
        "CompanyName": "Mock", "Codebase": "v2025_1/", "CompanyID": "mock",
        "IsCloud": false, "SiteUrl": addr.to_string()
    }))
}

async fn serve(
    mut stream: TcpStream,
    replies: &Mutex<std::vec::IntoIter<Reply>>,
    recorded: &Mutex<Vec<Recorded>>,
) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    recorded.lock().unwrap().push(request);
    let reply = replies.lock().unwrap().next();

    let (status, headers, body) = match reply {
        Some(Reply::Http {
            status,
            headers,
            body,
        }) => (status, headers, body),
        Some(Reply::HangUp) => return,
        None => (
            500,
            Vec::new(),
            "{\"message\":\"script exhausted\"}".to_owned(),
        ),
    };
    let mut head = format!(
        "HTTP/1.1 {status} Scripted\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

async fn read_request(stream: &mut TcpStream) -> Option<Recorded> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(position) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break position;
        }
    };

    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();

    // Drain the body so that closing the socket does not reset the connection early.
    let length: usize = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let mut have = buffer.len() - head_end - 4;
    while have < length {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            break;
        }
        have += read;
    }
    Some(Recorded {
        method,
        target,
        headers,
    })
}
