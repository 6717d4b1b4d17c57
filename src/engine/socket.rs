//! The Docker Engine API on its local Unix socket, for the two reads every `wharf push` makes:
//! whether the engine answers, and what the local images are. A request here takes about a
//! millisecond; a `docker version` or `docker image inspect` process takes 20–40 ms
//! (docs/performance.md). Builds, pushes and logins stay with the `docker` CLI, which owns
//! BuildKit, credential helpers and progress output.
//!
//! Used only where the CLI would talk to the same socket: `DOCKER_HOST` unset or `unix://`, and
//! no other Docker context selected. Anything else (TCP, SSH, contexts, podman) uses the CLI.

use std::path::PathBuf;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// The default socket of a local Docker engine.
const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// A local engine that has not answered by then is not answering.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A Docker engine's API socket.
#[derive(Debug, Clone)]
pub struct DockerSocket {
    path: PathBuf,
}

impl DockerSocket {
    /// The socket the `docker` CLI would use, when it is a local Unix socket that exists.
    pub fn locate() -> Option<DockerSocket> {
        let host = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
        let context = std::env::var("DOCKER_CONTEXT")
            .ok()
            .filter(|c| !c.is_empty());
        let path = choose(host.as_deref(), context.as_deref(), config_context())?;
        path.exists().then_some(DockerSocket { path })
    }

    /// `GET /_ping`: whether the engine answers.
    pub async fn ping(&self) -> std::result::Result<(), String> {
        match self.get("/_ping").await {
            Ok((200, _)) => Ok(()),
            Ok((status, body)) => Err(format!(
                "{} answered {status}: {}",
                self.path.display(),
                String::from_utf8_lossy(&body).trim()
            )),
            Err(e) => Err(format!("{}: {e}", self.path.display())),
        }
    }

    /// `GET /images/{reference}/json`: the image as `docker image inspect` prints it, or None
    /// when the engine does not have it.
    pub async fn inspect(
        &self,
        reference: &str,
    ) -> std::result::Result<Option<serde_json::Value>, String> {
        let (status, body) = self
            .get(&format!("/images/{}/json", escape(reference)))
            .await
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        match status {
            200 => serde_json::from_slice(&body)
                .map(Some)
                .map_err(|e| format!("the Docker engine's image {reference} is not JSON: {e}")),
            404 => Ok(None),
            _ => Err(format!(
                "the Docker engine answered {status} for image {reference}: {}",
                String::from_utf8_lossy(&body).trim()
            )),
        }
    }

    /// One GET on a fresh connection (the engine is local: connecting costs microseconds).
    async fn get(&self, path: &str) -> std::io::Result<(u16, Bytes)> {
        let work = async {
            let stream = tokio::net::UnixStream::connect(&self.path).await?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(std::io::Error::other)?;
            let driver = tokio::spawn(conn);
            let request = hyper::Request::get(path)
                .header(hyper::header::HOST, "docker")
                .body(Empty::<Bytes>::new())
                .map_err(std::io::Error::other)?;
            let response = sender
                .send_request(request)
                .await
                .map_err(std::io::Error::other)?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(std::io::Error::other)?
                .to_bytes();
            driver.abort();
            Ok((status, body))
        };
        tokio::time::timeout(TIMEOUT, work)
            .await
            .map_err(|_| std::io::Error::other("no answer within 10s"))?
    }
}

/// The socket path for `DOCKER_HOST`, `DOCKER_CONTEXT` and the config file's current context.
fn choose(host: Option<&str>, context: Option<&str>, config: Option<String>) -> Option<PathBuf> {
    if let Some(host) = host {
        return host.strip_prefix("unix://").map(PathBuf::from);
    }
    let context = context.map(str::to_string).or(config);
    if context.is_some_and(|c| c != "default") {
        return None;
    }
    Some(PathBuf::from(DEFAULT_SOCKET))
}

/// `currentContext` of the Docker CLI's config file, when set.
fn config_context() -> Option<String> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))?;
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
    doc["currentContext"].as_str().map(str::to_string)
}

/// Percent-escapes what may not appear raw in a request path (references hold `/`, `:` and `@`,
/// which the engine's router takes as they are).
fn escape(reference: &str) -> String {
    let mut out = String::with_capacity(reference.len());
    for b in reference.bytes() {
        if b.is_ascii_alphanumeric() || b"/:@._-".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_s_own_socket_only() {
        let default = Some(PathBuf::from(DEFAULT_SOCKET));
        assert_eq!(choose(None, None, None), default);
        assert_eq!(choose(None, Some("default"), None), default);
        assert_eq!(choose(None, None, Some("default".into())), default);
        assert_eq!(
            choose(Some("unix:///run/user/1000/docker.sock"), None, None),
            Some(PathBuf::from("/run/user/1000/docker.sock"))
        );
        assert_eq!(choose(Some("tcp://10.0.0.1:2376"), None, None), None);
        assert_eq!(choose(Some("ssh://me@host"), None, None), None);
        assert_eq!(choose(None, Some("remote"), None), None);
        assert_eq!(choose(None, None, Some("colima".into())), None);
    }

    #[test]
    fn references_go_into_the_path_as_the_engine_expects() {
        assert_eq!(
            escape("127.0.0.1:5000/hello/app:v1"),
            "127.0.0.1:5000/hello/app:v1"
        );
        assert_eq!(escape("app@sha256:ab"), "app@sha256:ab");
        assert_eq!(escape("a b"), "a%20b");
    }

    /// Against the machine's Docker engine, when there is one: the socket agrees with the CLI.
    #[tokio::test]
    async fn agrees_with_the_cli_when_an_engine_runs() {
        let Some(socket) = DockerSocket::locate() else {
            return;
        };
        if socket.ping().await.is_err() {
            return;
        }
        let listed = std::process::Command::new("docker")
            .args(["image", "ls", "-q", "--no-trunc"])
            .output()
            .expect("docker runs when its socket answers");
        let ids = String::from_utf8_lossy(&listed.stdout);
        if let Some(id) = ids.lines().next() {
            let doc = socket.inspect(id).await.unwrap().expect("the image exists");
            assert_eq!(doc["Id"], id);
        }
        assert_eq!(
            socket.inspect("wharf-no-such-image:never").await.unwrap(),
            None
        );
    }
}
