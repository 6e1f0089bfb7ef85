//! The connection layer on a real socket: a client that trickles its headers is cut off, the
//! connection cap makes further clients wait their turn, and a stop ends the server.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use facestyle_serve::listen::{ConnLimits, serve};

/// A server answering `GET /` with "hi" on a free loopback port; stops when the sender drops.
async fn start(
    limits: ConnLimits,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = Router::new().route("/", get(|| async { "hi" }));
    let task = tokio::spawn(serve(listener, app, limits, async move {
        let _ = rx.await;
    }));
    (addr, tx, task)
}

fn get_root(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off() {
    let limits = ConnLimits {
        max_connections: 8,
        header_timeout: Duration::from_millis(300),
        drain: Duration::from_secs(1),
    };
    let (addr, stop, task) = start(limits).await;
    let closed = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let t = Instant::now();
        // Half a request line, then one header byte at a time, slower than the deadline allows.
        s.write_all(b"GET / HTTP/1.1\r\nHost: 1").unwrap();
        for b in b"27.0.0.1\r\nX-Slow: yes" {
            std::thread::sleep(Duration::from_millis(100));
            if s.write_all(&[*b]).is_err() {
                break;
            }
        }
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        (t.elapsed(), String::from_utf8_lossy(&buf).to_string())
    })
    .await
    .unwrap();
    assert!(closed.0 < Duration::from_secs(5), "the slow client was kept for {:?}", closed.0);
    assert!(!closed.1.contains("hi"), "{}", closed.1);
    // An idle keep-alive connection is closed too.
    let idle = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let t = Instant::now();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        (t.elapsed(), String::from_utf8_lossy(&buf).to_string())
    })
    .await
    .unwrap();
    assert!(idle.1.ends_with("hi"), "{}", idle.1);
    assert!(idle.0 < Duration::from_secs(5), "an idle connection was kept for {:?}", idle.0);
    // Ordinary requests are served.
    assert!(tokio::task::spawn_blocking(move || get_root(addr)).await.unwrap().unwrap().ends_with("hi"));
    drop(stop);
    tokio::time::timeout(Duration::from_secs(5), task).await.expect("the server stops").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_their_turn() {
    let limits = ConnLimits {
        max_connections: 2,
        header_timeout: Duration::from_secs(30),
        drain: Duration::from_secs(1),
    };
    let (addr, stop, task) = start(limits).await;
    // Two clients hold every connection the server takes.
    let mut held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for s in &mut held {
        s.write_all(b"GET / HT").unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waiting = tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        (get_root(addr), t.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!waiting.is_finished(), "a third connection was served past the cap of two");
    drop(held.pop());
    let (reply, waited) = waiting.await.unwrap();
    assert!(reply.unwrap().ends_with("hi"));
    assert!(waited >= Duration::from_millis(600), "{waited:?}");
    drop(stop);
    drop(held);
    tokio::time::timeout(Duration::from_secs(5), task).await.expect("the server stops").unwrap();
}
