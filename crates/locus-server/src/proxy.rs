//! Who the client is behind reverse proxies. The TCP peer is the client,
//! unless it is one of the trusted proxies (`--trusted-proxies`): then the
//! `Forwarded` header (RFC 7239, its `for=` and `proto=`), or else
//! `X-Forwarded-For` and `X-Forwarded-Proto`, are believed, and the client is
//! the right-most forwarded address that is not itself a trusted proxy.
//! Headers from any other peer are ignored: anyone can send them.

use axum::http::HeaderMap;
use std::net::{IpAddr, SocketAddr};

/// An address block, `10.0.0.0/8` or `fd00::/8` (a bare address is a block of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("{text:?} is not an address block like 10.0.0.0/8"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 peer may reach an IPv6 socket as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Parses `--trusted-proxies`: CIDRs separated by commas (empty: none).
pub fn parse_list(text: &str) -> Result<Vec<Cidr>, String> {
    text.split(',').filter(|s| !s.trim().is_empty()).map(Cidr::parse).collect()
}

/// The client of a request.
#[derive(Debug, Clone)]
pub struct Client {
    pub ip: IpAddr,
    /// For the audit log: `ip:port` of the TCP peer, or the forwarded address
    /// (with its port when the proxy gave one).
    pub remote_host: String,
    /// The scheme the client used, when a trusted proxy said (`https`).
    pub proto: Option<String>,
}

/// The client of a request from `peer` with `headers`.
pub fn client(peer: SocketAddr, headers: &HeaderMap, trusted: &[Cidr]) -> Client {
    let direct = Client {
        ip: peer.ip(),
        remote_host: peer.to_string(),
        proto: None,
    };
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer.ip()) {
        return direct;
    }
    let (hops, proto) = forwarded(headers);
    // From the nearest hop outwards: the first address that is not a trusted
    // proxy is the client. A hop that is no address (`unknown`, an obfuscated
    // name) ends the walk at the last address known.
    let mut found = direct;
    for hop in hops.iter().rev() {
        let Some((ip, remote_host)) = parse_node(hop) else {
            break;
        };
        found = Client {
            ip,
            remote_host,
            proto: None,
        };
        if !is_trusted(ip) {
            break;
        }
    }
    found.proto = proto;
    found
}

/// The `for=` values of `Forwarded`, in order, with the first `proto=`;
/// else those of `X-Forwarded-For` with `X-Forwarded-Proto`.
fn forwarded(headers: &HeaderMap) -> (Vec<String>, Option<String>) {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let elements = values("forwarded");
    if !elements.is_empty() {
        let mut hops = Vec::new();
        let mut proto = None;
        for element in &elements {
            for pair in element.split(';') {
                let Some((key, value)) = pair.split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"').to_owned();
                match key.trim().to_ascii_lowercase().as_str() {
                    "for" => hops.push(value),
                    "proto" if proto.is_none() => proto = Some(value.to_ascii_lowercase()),
                    _ => {}
                }
            }
        }
        return (hops, proto);
    }
    let proto = values("x-forwarded-proto").into_iter().next().map(|p| p.to_ascii_lowercase());
    (values("x-forwarded-for"), proto)
}

/// A forwarded node: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]:4711` or
/// `2001:db8::1`; answers the address and how the audit log shows it.
fn parse_node(node: &str) -> Option<(IpAddr, String)> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some((ip, ip.to_string()));
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some((addr.ip(), addr.to_string()));
    }
    // `[2001:db8::1]` without a port.
    let ip: IpAddr = node.strip_prefix('[')?.strip_suffix(']')?.parse().ok()?;
    Some((ip, ip.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn blocks_contain_their_addresses() {
        let cases = [
            ("10.0.0.0/8", "10.255.1.2", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("127.0.0.1", "127.0.0.1", true),
            ("127.0.0.1", "127.0.0.2", false),
            ("0.0.0.0/0", "203.0.113.9", true),
            ("192.168.1.0/24", "::ffff:192.168.1.7", true),
            ("fd00::/8", "fd12::1", true),
            ("fd00::/8", "fe80::1", false),
            ("::/0", "2001:db8::1", true),
            ("::/0", "10.0.0.1", false),
        ];
        for (block, ip, inside) in cases {
            let cidr = Cidr::parse(block).unwrap();
            assert_eq!(cidr.contains(ip.parse().unwrap()), inside, "{block} {ip}");
        }
        for bad in ["10.0.0.0/33", "fd00::/129", "10.0.0/8", "proxy", "10.0.0.0/x"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_list("").unwrap(), vec![]);
        assert_eq!(parse_list(" 10.0.0.0/8 , ::1 ").unwrap().len(), 2);
    }

    #[test]
    fn forwarded_addresses_are_believed_from_trusted_peers_only() {
        let trusted = parse_list("10.0.0.0/8").unwrap();
        let proxy: SocketAddr = "10.1.1.1:5000".parse().unwrap();
        let stranger: SocketAddr = "198.51.100.7:5000".parse().unwrap();
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.append(*k, HeaderValue::from_static(v));
            }
            h
        };
        let cases: [(SocketAddr, HeaderMap, &str, Option<&str>); 8] = [
            (stranger, headers(&[("x-forwarded-for", "203.0.113.5")]), "198.51.100.7:5000", None),
            (proxy, headers(&[]), "10.1.1.1:5000", None),
            (
                proxy,
                headers(&[
                    ("x-forwarded-for", "1.2.3.4, 203.0.113.5, 10.2.2.2"),
                    ("x-forwarded-proto", "HTTPS"),
                ]),
                "203.0.113.5",
                Some("https"),
            ),
            (proxy, headers(&[("x-forwarded-for", "10.3.3.3, 10.2.2.2")]), "10.3.3.3", None),
            (proxy, headers(&[("x-forwarded-for", "unknown, 10.2.2.2")]), "10.2.2.2", None),
            (
                proxy,
                headers(&[
                    ("forwarded", "for=1.2.3.4;proto=http, for=\"[2001:db8::1]:4711\""),
                    ("x-forwarded-for", "9.9.9.9"),
                ]),
                "[2001:db8::1]:4711",
                Some("http"),
            ),
            (
                proxy,
                headers(&[("forwarded", "For=203.0.113.5:80"), ("forwarded", "for=10.2.2.2")]),
                "203.0.113.5:80",
                None,
            ),
            (proxy, headers(&[("forwarded", "for=_hidden")]), "10.1.1.1:5000", None),
        ];
        for (peer, headers, remote_host, proto) in cases {
            let c = client(peer, &headers, &trusted);
            assert_eq!(
                (c.remote_host.as_str(), c.proto.as_deref()),
                (remote_host, proto),
                "{peer} {headers:?}"
            );
        }
        assert!(client(proxy, &headers(&[("x-forwarded-for", "203.0.113.5")]), &[]).remote_host == "10.1.1.1:5000");
    }
}
