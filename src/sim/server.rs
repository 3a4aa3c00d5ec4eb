//! The simulated client's network side: TLS on a loopback port, HTTP/1.1 with Basic auth
//! (hyper), and the WAMP 1.0 websocket on the same port, like the real client.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_util::sync::CancellationToken;

use super::{Inner, Published, RecordedRequest};
use crate::client::live::FIREHOSE;

/// Accepts connections until `stop`.
pub(super) async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    inner: Arc<Inner>,
    stop: CancellationToken,
) {
    loop {
        let (tcp, _) = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => continue,
            },
        };
        let _ = tcp.set_nodelay(true);
        inner
            .tls_attempts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let acceptor = acceptor.clone();
        let stop = inner.connection_token();
        let inner = inner.clone();
        tokio::spawn(async move {
            let accepted = tokio::select! {
                _ = stop.cancelled() => return,
                tls = acceptor.accept(tcp) => tls,
            };
            let Ok(tls) = accepted else { return };
            let service_stop = stop.clone();
            let service = hyper::service::service_fn(move |request| {
                handle(request, inner.clone(), service_stop.clone())
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .with_upgrades();
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = connection => {}
            }
        });
    }
}

/// A 200 answer whose body is one JSON string of `size` bytes.
fn huge_reply(size: usize) -> Response<Full<Bytes>> {
    let mut bytes = vec![b'x'; size.max(2)];
    bytes[0] = b'"';
    if let Some(last) = bytes.last_mut() {
        *last = b'"';
    }
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn reply(status: u16, body: Option<&Value>) -> Response<Full<Bytes>> {
    let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    let mut response = Response::new(Full::new(bytes));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if body.is_some() {
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
    }
    response
}

async fn handle(
    request: Request<Incoming>,
    inner: Arc<Inner>,
    stop: CancellationToken,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let authorized = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == inner.expected_auth());
    if !authorized {
        inner
            .unauthorized
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Ok(reply(
            401,
            Some(
                &serde_json::json!({"errorCode": "UNAUTHORIZED", "httpStatus": 401, "message": "Unauthorized"}),
            ),
        ));
    }
    if is_websocket_upgrade(&request) {
        return Ok(upgrade(request, inner, stop));
    }
    let method = request.method().as_str().to_string();
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let body_bytes = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Ok(reply(400, None)),
    };
    let body: Option<Value> = if body_bytes.is_empty() {
        None
    } else {
        serde_json::from_slice(&body_bytes).ok()
    };
    let index = inner.record(RecordedRequest {
        method: method.clone(),
        path: path.clone(),
        body: body.clone(),
        at: tokio::time::Instant::now(),
        answered_at: None,
    });
    let faults = inner.faults();
    if let Some((prefix, delay)) = &faults.slow
        && path.starts_with(prefix.as_str())
    {
        tokio::time::sleep(*delay).await;
    }
    if let Some((prefix, size)) = &faults.huge_body
        && path.starts_with(prefix.as_str())
    {
        inner.mark_answered(index);
        return Ok(huge_reply(*size));
    }
    let answer = match faults.fail_status {
        Some(status) if inner.take_failure() => super::state::Answer {
            status,
            body: Some(
                serde_json::json!({"errorCode": "RPC_ERROR", "httpStatus": status, "message": "Injected failure"}),
            ),
        },
        _ => inner.apply(&method, &path, body.as_ref()),
    };
    inner.mark_answered(index);
    Ok(reply(answer.status, answer.body.as_ref()))
}

fn is_websocket_upgrade(request: &Request<Incoming>) -> bool {
    request
        .headers()
        .get(hyper::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

fn upgrade(
    mut request: Request<Incoming>,
    inner: Arc<Inner>,
    stop: CancellationToken,
) -> Response<Full<Bytes>> {
    let Some(key) = request
        .headers()
        .get(hyper::header::SEC_WEBSOCKET_KEY)
        .cloned()
    else {
        return reply(400, None);
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let upgrading = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrading.await else {
            return;
        };
        let socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        wamp_session(socket, inner, stop).await;
    });
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::UPGRADE,
        hyper::header::HeaderValue::from_static("websocket"),
    );
    headers.insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("Upgrade"),
    );
    if let Ok(value) = hyper::header::HeaderValue::from_str(&accept) {
        headers.insert(hyper::header::SEC_WEBSOCKET_ACCEPT, value);
    }
    response
}

/// The topic a URI's own subscription uses: `OnJsonApiEvent_` + the URI with `/` as `_`.
pub fn topic_of(uri: &str) -> String {
    format!(
        "{FIREHOSE}_{}",
        uri.trim_start_matches('/').replace('/', "_")
    )
}

async fn wamp_session<S>(mut socket: WebSocketStream<S>, inner: Arc<Inner>, stop: CancellationToken)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut events = inner.subscribe();
    let mut topics: HashSet<String> = HashSet::new();
    let mut counted = false;
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            message = socket.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    if let Some((opcode, topic)) = wamp_request(text.as_str()) {
                        match opcode {
                            5 => {
                                topics.insert(topic);
                                // The real client answers a subscribe with an empty text frame.
                                if socket.send(Message::text("")).await.is_err() {
                                    break;
                                }
                                if !counted {
                                    counted = true;
                                    inner.socket_opened();
                                }
                            }
                            6 => {
                                topics.remove(&topic);
                            }
                            _ => {}
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            published = events.recv() => match published {
                Ok(published) => {
                    if send_event(&mut socket, &topics, &published).await.is_err() {
                        break;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => inner.lagged(missed),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
        }
    }
    if counted {
        inner.socket_closed();
    }
}

async fn send_event<S>(
    socket: &mut WebSocketStream<S>,
    topics: &HashSet<String>,
    published: &Published,
) -> Result<(), ()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if published.uri.is_empty() {
        // A raw frame (fault injection): sent as is to every subscriber.
        if !topics.is_empty() {
            socket
                .send(Message::text(published.payload.clone()))
                .await
                .map_err(|_| ())?;
            published.mark_handed();
        }
        return Ok(());
    }
    let own = topic_of(&published.uri);
    for topic in [FIREHOSE, own.as_str()] {
        if topics.contains(topic) {
            let frame = format!("[8,\"{topic}\",{}]", published.payload);
            socket.send(Message::text(frame)).await.map_err(|_| ())?;
            published.mark_handed();
        }
    }
    Ok(())
}

/// Reads `[opcode, "topic"]`.
fn wamp_request(text: &str) -> Option<(u64, String)> {
    let value: Value = serde_json::from_str(text).ok()?;
    let opcode = value.get(0)?.as_u64()?;
    let topic = value.get(1)?.as_str()?.to_string();
    Some((opcode, topic))
}
