//! Which client a request came from when the server runs behind reverse proxies
//! (`RIVO_TRUSTED_PROXIES`), for the per-address login throttle and the chat rate limits.
//!
//! Proxies append the address of their peer to `X-Forwarded-For` (nginx's
//! `$proxy_add_x_forwarded_for`), so only the hops that trusted proxies appended can be
//! believed: the client chooses everything to their left. The client address is therefore the
//! right-most hop that is not a trusted proxy, found by walking from the TCP peer leftwards.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IP network such as `10.0.0.0/8` or `::1/128` (a bare address is a single host).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Whether `ip` lies in this network (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Debug for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for IpNet {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr = canonical(addr.parse::<IpAddr>().map_err(|_| ())?);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().map_err(|_| ())?,
            None => max,
        };
        if prefix > max {
            return Err(());
        }
        Ok(Self { addr, prefix })
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The default `RIVO_TRUSTED_PROXIES`: loopback only (a proxy on the same host, as the
/// README's nginx example).
pub fn default_trusted_proxies() -> Vec<IpNet> {
    ["127.0.0.0/8", "::1/128"]
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// Parses a comma-separated list of networks; `None` when an entry is not one.
pub fn parse_trusted_proxies(value: &str) -> Option<Vec<IpNet>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| v.parse().ok())
        .collect()
}

/// One `X-Forwarded-For` hop as an address: `1.2.3.4`, `1.2.3.4:5678`, `[::1]:80` or `::1`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sock) = hop.parse::<std::net::SocketAddr>() {
        return Some(canonical(sock.ip()));
    }
    None
}

/// The client address of a request: the TCP `peer` unless it is a trusted proxy; then the
/// right-most `X-Forwarded-For` hop (over every such header, in order) that is not a trusted
/// proxy. A hop that is not an address (`spoof`) cannot have been appended by a proxy, so the
/// nearest trusted address to its right (the proxy that received it) is used instead: a client
/// cannot pick its own throttle bucket.
pub fn client_address<'a>(
    peer: Option<IpAddr>,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = canonical(peer?);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = forwarded_for
        .into_iter()
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    let mut nearest = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(ip) if is_trusted(ip) => nearest = ip,
            Some(ip) => return Some(ip),
            None => return Some(nearest),
        }
    }
    Some(nearest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn networks_parse_and_match() {
        let net: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains("10.200.1.2".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.0.0.1".parse().unwrap()));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let host: IpNet = "::1".parse().unwrap();
        assert!(host.contains("::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("nonsense".parse::<IpNet>().is_err());
        assert!(parse_trusted_proxies("10.0.0.0/8, x").is_none());
        assert_eq!(parse_trusted_proxies("10.0.0.0/8, ::1").unwrap().len(), 2);
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = default_trusted_proxies();
        // nginx appended the real peer after what the client sent.
        assert_eq!(
            client_address(ip("127.0.0.1"), ["spoof, 203.0.113.7"], &trusted),
            ip("203.0.113.7")
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), ["198.51.100.1, 203.0.113.7"], &trusted),
            ip("203.0.113.7")
        );
        // A client talking to the server directly cannot choose its address.
        assert_eq!(
            client_address(ip("127.0.0.1"), ["spoof"], &trusted),
            ip("127.0.0.1")
        );
        assert_eq!(
            client_address(ip("192.0.2.9"), ["198.51.100.1"], &trusted),
            ip("192.0.2.9")
        );
        // Two trusted proxies in a row (a load balancer in 10/8 in front of nginx).
        let mut chain = trusted.clone();
        chain.push("10.0.0.0/8".parse().unwrap());
        assert_eq!(
            client_address(
                ip("127.0.0.1"),
                ["1.1.1.1, 203.0.113.7", "10.0.0.5"],
                &chain
            ),
            ip("203.0.113.7")
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), ["spoof, 10.0.0.5"], &chain),
            ip("10.0.0.5")
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), [], &trusted),
            ip("127.0.0.1")
        );
        assert_eq!(client_address(None, ["1.2.3.4"], &trusted), None);
    }
}
