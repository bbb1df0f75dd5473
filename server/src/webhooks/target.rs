//! Where a webhook may be sent (issue 13, attack 8: server-side request forgery).
//!
//! A dispatcher chooses the URL, and the delivery log shows what answered (status or connect
//! error, duration): without a rule, a webhook to `http://10.0.0.5:22/` or
//! `http://169.254.169.254/` turns the server into a scanner of the network it runs in.
//!
//! The rule is one pure function over an address ([`classify`]): public addresses are allowed;
//! private ones (loopback, RFC 1918, unique local, CGNAT) only when the operator allows them
//! ([`crate::ServerConfig::allow_private_webhooks`], for on-premises receivers and the tests'
//! loopback receivers); the rest (link-local with the cloud metadata service, unspecified,
//! multicast, broadcast, reserved) never, because no webhook receiver lives there.
//!
//! It is applied to every address a host name resolves to, twice: when the webhook is created
//! or enabled ([`check_url_blocking`], a 400 with the reason), and when a delivery connects
//! ([`GuardedResolver`]): the delivery client resolves through it, so the address it connects
//! to is the one just checked and a name that resolves elsewhere the second time (DNS
//! rebinding) is caught. An address written in the URL is never resolved; [`literal`] gives it
//! to be checked before sending.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

/// What an address is, for a webhook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// Reachable on the internet: always allowed.
    Public,
    /// Inside the server's own network: allowed only with `allow_private_webhooks`.
    Private(&'static str),
    /// Never a webhook receiver, whatever the configuration.
    Never(&'static str),
}

/// What `ip` is: public, private (with what kind), or never a receiver. Pure.
pub(crate) fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    let [a, b, c, _] = ip.octets();
    if ip.is_unspecified() || a == 0 {
        // 0.0.0.0/8, "this network": connecting to 0.0.0.0 reaches the server's own host.
        Class::Never("an unspecified address")
    } else if ip.is_broadcast() {
        Class::Never("the broadcast address")
    } else if ip.is_multicast() {
        Class::Never("a multicast address")
    } else if ip.is_link_local() {
        // 169.254/16 holds cloud metadata services (169.254.169.254): never, not even on-premises.
        Class::Never("a link-local address")
    } else if a >= 240 {
        Class::Never("a reserved address")
    } else if ip.is_loopback() {
        Class::Private("a loopback address")
    } else if ip.is_private() {
        Class::Private("a private (RFC 1918) address")
    } else if a == 100 && (b & 0xc0) == 64 {
        Class::Private("a shared (CGNAT, 100.64.0.0/10) address")
    } else if a == 198 && (b & 0xfe) == 18 {
        Class::Private("a benchmarking (198.18.0.0/15) address")
    } else if a == 192 && b == 0 && c == 0 {
        Class::Private("an IETF protocol (192.0.0.0/24) address")
    } else {
        Class::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    let segments = ip.segments();
    // Forms that carry an IPv4 address are judged by that address: ::ffff:127.0.0.1 reaches
    // 127.0.0.1, and so do the deprecated IPv4-compatible ::127.0.0.1, NAT64 64:ff9b::/96 and
    // 6to4 2002::/16 (the IPv4 address in bits 16 to 48).
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    if segments[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_unspecified() && !ip.is_loopback() {
        return classify_v4(embedded_v4(segments[6], segments[7]));
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return classify_v4(embedded_v4(segments[6], segments[7]));
    }
    if segments[0] == 0x2002 {
        return classify_v4(embedded_v4(segments[1], segments[2]));
    }
    if ip.is_unspecified() {
        Class::Never("an unspecified address")
    } else if ip.is_multicast() {
        Class::Never("a multicast address")
    } else if segments[0] & 0xffc0 == 0xfe80 {
        Class::Never("a link-local address")
    } else if segments[0] & 0xffc0 == 0xfec0 {
        Class::Never("a site-local address")
    } else if segments[0] == 0x2001 && segments[1] == 0 {
        // Teredo: the client's IPv4 address is hidden (obfuscated) in the address.
        Class::Never("a Teredo tunnel address")
    } else if segments[..4] == [0x100, 0, 0, 0] {
        Class::Never("a discard-only address")
    } else if ip.is_loopback() {
        Class::Private("a loopback address")
    } else if segments[0] & 0xfe00 == 0xfc00 {
        Class::Private("a unique local (fc00::/7) address")
    } else {
        Class::Public
    }
}

fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

/// Why a webhook may not be sent to a target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The host is, or resolves to, an address webhooks may not reach.
    #[error("{}", refused_text(host, *address, reason, *private))]
    Refused {
        /// The host as written in the URL.
        host: String,
        /// The refused address.
        address: IpAddr,
        /// What it is ("a loopback address", ...).
        reason: &'static str,
        /// Whether `allow_private_webhooks` would allow it.
        private: bool,
    },
    /// The host name does not resolve (when the webhook is created or enabled).
    #[error("the webhook host {host} does not resolve: {detail}")]
    Unresolvable {
        /// The host as written in the URL.
        host: String,
        /// What the resolver said.
        detail: String,
    },
}

fn refused_text(host: &str, address: IpAddr, reason: &str, private: bool) -> String {
    let what = if host.trim_matches(['[', ']']) == address.to_string() {
        format!("webhooks may not be sent to {address}: it is {reason}")
    } else {
        format!("webhooks may not be sent to {host}: it resolves to {address}, {reason}")
    };
    if private {
        format!("{what} (a server started with --allow-private-webhooks allows private receivers)")
    } else {
        what
    }
}

/// Whether a webhook may connect to `address` (reached through `host`). Pure.
pub(crate) fn check(host: &str, address: IpAddr, allow_private: bool) -> Result<(), TargetError> {
    let refused = |reason, private| TargetError::Refused { host: host.to_owned(), address, reason, private };
    match classify(address) {
        Class::Public => Ok(()),
        Class::Private(_) if allow_private => Ok(()),
        Class::Private(reason) => Err(refused(reason, true)),
        Class::Never(reason) => Err(refused(reason, false)),
    }
}

/// Checks every address: a name with one refused address is refused as a whole (which of its
/// addresses a connection would use is not ours to choose).
fn check_all(host: &str, addresses: &[SocketAddr], allow_private: bool) -> Result<(), TargetError> {
    addresses.iter().try_for_each(|a| check(host, a.ip(), allow_private))
}

/// The address written in `url`'s host (`http://10.0.0.1/`, `http://[::1]/`), if it is one:
/// such a host is connected to without resolving, so it is checked on its own.
pub(crate) fn literal(url: &reqwest::Url) -> Option<IpAddr> {
    // The parser already turned every spelling of an IPv4 address (`2130706433`, `0x7f.1`)
    // into dotted form, and keeps IPv6 in brackets; a domain never parses as an address.
    url.host_str()?.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

/// Checks `url`'s host, resolving a name with the system resolver. Blocking (DNS): what
/// creating or enabling a webhook runs, inside `spawn_blocking`.
pub(crate) fn check_url_blocking(url: &reqwest::Url, allow_private: bool) -> Result<(), TargetError> {
    let host = url.host_str().unwrap_or_default().to_owned();
    if let Some(ip) = literal(url) {
        return check(&host, ip, allow_private);
    }
    let port = url.port_or_known_default().unwrap_or(0);
    let addresses: Vec<SocketAddr> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| TargetError::Unresolvable { host: host.clone(), detail: e.to_string() })?
        .collect();
    if addresses.is_empty() {
        return Err(TargetError::Unresolvable { host, detail: "no addresses".into() });
    }
    check_all(&host, &addresses, allow_private)
}

/// The delivery client's resolver: resolves with the system resolver and hands the connector
/// only addresses that pass [`check`], so the address connected to is the one checked (no
/// second lookup in between for DNS rebinding to answer differently).
#[derive(Clone, Copy, Debug)]
pub(crate) struct GuardedResolver {
    /// [`crate::ServerConfig::allow_private_webhooks`].
    pub(crate) allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: the connector puts the URL's port in.
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            check_all(&host, &addresses, allow_private)?;
            let addresses: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

/// The refusal inside a failed request's error chain, when [`GuardedResolver`] refused it.
pub(crate) fn refusal_of(error: &(dyn std::error::Error + 'static)) -> Option<TargetError> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(refused) = e.downcast_ref::<TargetError>() {
            return Some(refused.clone());
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(text: &str) -> Class {
        classify(text.parse().expect("an address"))
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in
            ["93.184.215.14", "8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.1", "172.32.0.1", "2606:4700::1111"]
        {
            assert_eq!(class(ip), Class::Public, "{ip}");
        }
    }

    #[test]
    fn the_servers_own_networks_are_private() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "198.18.0.1",
            "192.0.0.8",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            // IPv4 inside IPv6: judged by the IPv4 address.
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::10.1.2.3",
            "64:ff9b::a00:1",
            "2002:c0a8:101::1",
        ] {
            assert!(matches!(class(ip), Class::Private(_)), "{ip}: {:?}", class(ip));
        }
    }

    #[test]
    fn some_addresses_are_never_receivers() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "169.254.169.254",
            "169.254.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "100::1",
        ] {
            assert!(matches!(class(ip), Class::Never(_)), "{ip}: {:?}", class(ip));
        }
    }

    #[test]
    fn the_option_allows_private_targets_only() {
        let loopback: IpAddr = "127.0.0.1".parse().expect("ip");
        let metadata: IpAddr = "169.254.169.254".parse().expect("ip");
        let public: IpAddr = "93.184.215.14".parse().expect("ip");
        assert!(check("127.0.0.1", loopback, true).is_ok());
        let refused = check("127.0.0.1", loopback, false).expect_err("refused");
        assert!(refused.to_string().contains("loopback") && refused.to_string().contains("--allow-private-webhooks"));
        let refused = check("169.254.169.254", metadata, true).expect_err("never");
        assert!(refused.to_string().contains("link-local") && !refused.to_string().contains("--allow"), "{refused}");
        assert!(check("x", public, false).is_ok());
    }

    #[test]
    fn literals_in_every_spelling_are_found_and_refused() {
        // The URL parser normalizes the odd spellings of 127.0.0.1 to the address.
        for url in [
            "http://127.0.0.1/h",
            "http://2130706433/h",
            "http://0x7f.1/h",
            "http://[::1]:8080/h",
            "http://[::ffff:7f00:1]/h",
        ] {
            let url = reqwest::Url::parse(url).expect("url");
            assert!(literal(&url).is_some(), "{url}");
            assert!(check_url_blocking(&url, false).is_err(), "{url}");
            assert!(check_url_blocking(&url, true).is_ok(), "{url}");
        }
        let named = reqwest::Url::parse("https://crm.example/h").expect("url");
        assert_eq!(literal(&named), None);
    }

    #[test]
    fn names_are_judged_by_what_they_resolve_to() {
        // Only `localhost` is resolved in tests: no outside DNS.
        let url = reqwest::Url::parse("http://localhost:9/h").expect("url");
        let refused = check_url_blocking(&url, false).expect_err("localhost is loopback");
        assert!(refused.to_string().contains("localhost: it resolves to"), "{refused}");
        assert!(check_url_blocking(&url, true).is_ok());
    }

    #[tokio::test]
    async fn the_delivery_resolver_refuses_what_it_resolves_to_a_private_address() {
        use reqwest::dns::Resolve;
        let name: reqwest::dns::Name = "localhost".parse().expect("name");
        let refused = GuardedResolver { allow_private: false }.resolve(name).await.err().expect("refused");
        assert!(matches!(refusal_of(refused.as_ref()), Some(TargetError::Refused { private: true, .. })), "{refused}");
        let name: reqwest::dns::Name = "localhost".parse().expect("name");
        let allowed = GuardedResolver { allow_private: true }.resolve(name).await.expect("allowed");
        assert!(allowed.into_iter().all(|a| a.ip().is_loopback()));
    }
}
