//! URL rules: the form of an endpoint URL and the SSRF check of the addresses it stands for.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::model::bounded;
use super::{MAX_ERROR_LEN, MAX_URL_LEN, WebhookOptions};

/// IPv4-mapped and NAT64/6to4-embedded IPv4 addresses as IPv4, the rest unchanged.
pub(super) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) embeds the IPv4 target in the last 32 bits.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                return IpAddr::V4(std::net::Ipv4Addr::from(
                    (u32::from(s[6]) << 16) | u32::from(s[7]),
                ));
            }
            // 6to4 (2002::/16) embeds it in bits 16..48.
            if s[0] == 0x2002 {
                return IpAddr::V4(std::net::Ipv4Addr::from(
                    (u32::from(s[1]) << 16) | u32::from(s[2]),
                ));
            }
            ip
        }
        v4 => v4,
    }
}

/// Why `ip` is not a public unicast address, if it is not: loopback, private, link-local
/// (cloud metadata, 169.254.169.254), unique-local, carrier-grade NAT, multicast, broadcast,
/// unspecified or reserved.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() {
                Some("private")
            } else if v4.is_link_local() {
                Some("link-local (cloud metadata)")
            } else if v4.is_unspecified() || o[0] == 0 {
                Some("unspecified")
            } else if v4.is_multicast() {
                Some("multicast")
            } else if v4.is_broadcast() || o[0] >= 240 {
                Some("reserved")
            } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
                Some("carrier-grade NAT (shared address space)")
            } else if o[0] == 192 && o[1] == 0 && o[2] == 0 {
                Some("IETF protocol assignments")
            } else if o[0] == 198 && (o[1] & 0xfe) == 18 {
                Some("benchmarking")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if (s[0] & 0xfe00) == 0xfc00 {
                Some("unique-local (private)")
            } else if (s[0] & 0xffc0) == 0xfe80 || (s[0] & 0xffc0) == 0xfec0 {
                Some("link-local")
            } else if s[0] == 0x0100 && s[1..4] == [0, 0, 0] {
                Some("discard-only")
            } else {
                None
            }
        }
    }
}

impl WebhookOptions {
    /// Refuses `ip` unless it is public, private targets are allowed, or it is in an allowed
    /// network.
    pub fn check_ip(&self, ip: IpAddr) -> std::result::Result<(), String> {
        if self.allow_private || self.allow_networks.iter().any(|n| n.contains(ip)) {
            return Ok(());
        }
        match forbidden_reason(ip) {
            Some(why) => Err(format!(
                "{ip} is a {why} address; webhook targets must be public unless allowed \
                 (RIVO_WEBHOOK_ALLOW_PRIVATE / RIVO_WEBHOOK_ALLOW_NETWORKS)"
            )),
            None => Ok(()),
        }
    }
}

/// Checks an endpoint URL's form: `http`/`https`, a host, no credentials or fragment, bounded.
pub(super) fn parse_url(raw: &str) -> std::result::Result<url::Url, String> {
    if raw.chars().count() > MAX_URL_LEN {
        return Err(format!(
            "Ensure this field has no more than {MAX_URL_LEN} characters."
        ));
    }
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("Enter a valid URL ({e})."))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "The URL scheme must be http or https, not {:?}.",
            url.scheme()
        ));
    }
    if url.host().is_none() {
        return Err("The URL must have a host.".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("The URL may not contain credentials.".into());
    }
    if url.fragment().is_some() {
        return Err("The URL may not contain a fragment (#…).".into());
    }
    Ok(url)
}

/// The addresses a URL's host stands for (an IP literal, or what the name resolves to).
async fn resolve(url: &url::Url) -> std::result::Result<Vec<SocketAddr>, String> {
    let port = url
        .port_or_known_default()
        .ok_or_else(|| "the URL has no port".to_owned())?;
    match url.host() {
        Some(url::Host::Ipv4(ip)) => Ok(vec![SocketAddr::new(IpAddr::V4(ip), port)]),
        Some(url::Host::Ipv6(ip)) => Ok(vec![SocketAddr::new(IpAddr::V6(ip), port)]),
        Some(url::Host::Domain(name)) => {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
                .await
                .map_err(|e| bounded(&format!("cannot resolve {name}: {e}"), MAX_ERROR_LEN))?
                .collect();
            if addrs.is_empty() {
                return Err(format!("{name} resolves to no address"));
            }
            Ok(addrs)
        }
        None => Err("the URL has no host".into()),
    }
}

/// Every address the URL's host stands for, if all of them are allowed.
pub(super) async fn allowed_addrs(
    url: &url::Url,
    options: &WebhookOptions,
) -> std::result::Result<Vec<SocketAddr>, String> {
    let addrs = resolve(url).await?;
    for a in &addrs {
        options.check_ip(a.ip())?;
    }
    Ok(addrs)
}

/// The registration check: the form, then the SSRF rules for an IP literal, `localhost`, and
/// (when the name resolves now) every address it resolves to. A name that does not resolve yet
/// is accepted; each delivery checks again.
pub(super) async fn check_url(
    raw: &str,
    options: &WebhookOptions,
) -> std::result::Result<String, String> {
    let url = parse_url(raw)?;
    if let Some(url::Host::Domain(name)) = url.host() {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if (name == "localhost" || name.ends_with(".localhost"))
            && !options.allow_private
            && options
                .check_ip(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
                .is_err()
        {
            return Err(format!(
                "{name} is a loopback name; webhook targets must be public unless allowed \
                 (RIVO_WEBHOOK_ALLOW_PRIVATE / RIVO_WEBHOOK_ALLOW_NETWORKS)"
            ));
        }
        if let Ok(Ok(addrs)) = tokio::time::timeout(Duration::from_secs(3), resolve(&url)).await {
            for a in addrs {
                options.check_ip(a.ip())?;
            }
        }
    } else {
        allowed_addrs(&url, options).await?;
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::Network;

    #[test]
    fn ssrf_rules() {
        let deny = WebhookOptions::default();
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert!(deny.check_ip(ip).is_err(), "{ip} should be refused");
        }
        for ip in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "8.8.8.8",
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert!(deny.check_ip(ip).is_ok(), "{ip} should be allowed");
        }
        let allow = WebhookOptions {
            allow_networks: vec!["10.0.0.0/8".parse().expect("net")],
            ..Default::default()
        };
        assert!(allow.check_ip("10.9.9.9".parse().expect("ip")).is_ok());
        assert!(allow.check_ip("192.168.0.1".parse().expect("ip")).is_err());
        assert!("10.0.0.0/33".parse::<Network>().is_err());
        assert!(parse_url("ftp://example.com/").is_err());
        assert!(parse_url("https://user:pw@example.com/").is_err());
        assert!(parse_url(&format!("https://example.com/{}", "a".repeat(MAX_URL_LEN))).is_err());
        assert!(parse_url("https://example.com/hook?x=1").is_ok());
    }
}
