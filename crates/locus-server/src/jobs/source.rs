//! Where a dataPull's CSV comes from when it is not an upload: an HTTPS URL
//! (`httpsUpload`) or an object of an S3-compatible store (`s3Upload`).
//!
//! The server itself fetches these, so a user could aim it at the
//! operator's own network (a cloud metadata service, an internal admin
//! page): server-side request forgery. Every host is therefore resolved
//! first, and an address that is not public (loopback, private, link-local,
//! shared, unique-local, multicast, unspecified, documentation) is refused
//! unless the operator allows private sources (`--allow-private-sources`).
//! An HTTPS fetch connects to exactly the addresses that were checked (no
//! second DNS answer can swap them) and follows no redirect.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use locus_data::transfer::{FileSink, S3Object};
use locus_data::{ObjectStore, StorePath};
use serde_json::Value;
use url::Url;

/// A pull source checked at submission: a field and what is wrong with it.
#[derive(Debug)]
pub struct SourceError {
    pub field: &'static str,
    pub message: String,
}

impl SourceError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        SourceError {
            field,
            message: message.into(),
        }
    }
}

/// The URL of an `httpsUpload`, checked: https (plain http only where
/// private sources are allowed, for tests and internal deployments), a
/// host, and only public addresses.
pub async fn https_url(value: &Value, allow_private: bool) -> Result<(Url, Vec<SocketAddr>), SourceError> {
    const FIELD: &str = "content.httpsUpload.url";
    let text = value
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| SourceError::new(FIELD, "give the https URL of the CSV file"))?;
    let url = Url::parse(text).map_err(|e| SourceError::new(FIELD, format!("not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err(SourceError::new(FIELD, "the URL must start with https://")),
    }
    let host = url.host_str().ok_or_else(|| SourceError::new(FIELD, "the URL names no host"))?;
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses = resolve(host, port, allow_private).await.map_err(|m| SourceError::new(FIELD, m))?;
    Ok((url, addresses))
}

/// The object of an `s3Upload`, checked the same way (its endpoint, when
/// one is given; AWS's own endpoints are public).
pub async fn s3_object(value: &Value, allow_private: bool) -> Result<S3Object, SourceError> {
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    let object = S3Object {
        uri: text("uri").ok_or_else(|| SourceError::new("content.s3Upload.uri", "give the object as s3://bucket/key"))?,
        access_key_id: text("accessKeyId"),
        secret_access_key: text("secretAccessKey"),
        region: text("region"),
        endpoint: text("endpointOverride"),
        force_path_style: value.get("forcePathStyle").and_then(Value::as_bool).unwrap_or(false),
    };
    object.open().map_err(|e| SourceError::new("content.s3Upload", e.to_string()))?;
    if let Some(endpoint) = &object.endpoint {
        const FIELD: &str = "content.s3Upload.endpointOverride";
        let url = Url::parse(endpoint).map_err(|e| SourceError::new(FIELD, format!("not a URL: {e}")))?;
        match url.scheme() {
            "https" => {}
            "http" if allow_private => {}
            _ => return Err(SourceError::new(FIELD, "the endpoint must start with https://")),
        }
        let host = url
            .host_str()
            .ok_or_else(|| SourceError::new(FIELD, "the endpoint names no host"))?;
        let port = url.port_or_known_default().unwrap_or(443);
        resolve(host, port, allow_private).await.map_err(|m| SourceError::new(FIELD, m))?;
    }
    Ok(object)
}

/// The host's addresses, all public unless private ones are allowed.
async fn resolve(host: &str, port: u16, allow_private: bool) -> Result<Vec<SocketAddr>, String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("{host} cannot be resolved: {e}"))?
        .collect();
    if addresses.is_empty() {
        return Err(format!("{host} has no address"));
    }
    if !allow_private {
        if let Some(private) = addresses.iter().find(|a| !is_public(a.ip())) {
            return Err(format!(
                "{host} is at {}, an address inside a private network; this server reads data only from public addresses",
                private.ip()
            ));
        }
    }
    Ok(addresses)
}

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
                || (a == 192 && b == 0) // IETF protocol assignments
                || (a == 198 && (18..20).contains(&b)) // benchmarking
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
                || first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
        }
    }
}

/// Downloads `url` from exactly `addresses` into a file at `path` of
/// `store` (gunzipped when the server says it sent gzip or the name ends
/// in `.gz`), at most `limit` bytes; answers the stored size.
pub async fn download(
    url: &Url,
    addresses: &[SocketAddr],
    store: Arc<dyn ObjectStore>,
    path: &StorePath,
    limit: u64,
) -> Result<u64, String> {
    let host = url.host_str().unwrap_or_default();
    let client = reqwest::Client::builder()
        .resolve_to_addrs(host, addresses)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| format!("the HTTP client: {e}"))?;
    let response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| format!("fetching {url} failed: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("{url} answered {status}; it must answer 200 with the CSV file"));
    }
    let gzip = url.path().ends_with(".gz")
        || response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("gzip"));
    let mut sink = FileSink::create(store, path, gzip, limit);
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let written = match chunk {
            Ok(chunk) => sink.write(&chunk).await.map_err(|e| e.to_string()),
            Err(e) => Err(format!("reading {url} failed: {e}")),
        };
        if let Err(e) = written {
            sink.abort().await;
            return Err(e);
        }
    }
    sink.finish().await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["1.1.1.1", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
