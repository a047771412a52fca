//! Which hosts the gateway may fetch on a caller's say-so (client ID metadata documents): public
//! addresses and public-looking names only.
//!
//! Hosts are judged as the WHATWG URL parser reads them (the `url` crate, which is also what the
//! fetched URL is serialised from): `2130706433`, `0x7f.1` and `0177.0.0.1` are all 127.0.0.1.
//! The decision is made on the parsed address. IPv6 is fetched only from global unicast space
//! (`2000::/3`), and an IPv6 address that carries an IPv4 one is judged by that IPv4 as well:
//! IPv4-mapped (`::ffff:0:0/96`), IPv4-compatible (`::/96`) and IPv4-translated
//! (`::ffff:0:0:0/96`) addresses, and 6to4 (`2002::/16`). NAT64 prefixes (`64:ff9b::/96`,
//! `64:ff9b:1::/48`) lie outside `2000::/3`, and Teredo (`2001::/32`) within the IETF protocol
//! assignments (`2001::/23`), which are refused whatever they embed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Whether the host of a parsed URL may be fetched.
pub fn url_host_is_public(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(v4)) => ipv4_is_public(v4),
        Some(Host::Ipv6(v6)) => ipv6_is_public(v6),
        Some(Host::Domain(name)) => name_is_public(name),
        None => false,
    }
}

/// Whether a host (a name, an IPv4 address in any WHATWG spelling, or a bracketed IPv6 one) may
/// be fetched. Anything the URL parser refuses is refused.
pub fn host_is_public(host: &str) -> bool {
    match Host::parse(host) {
        Ok(Host::Ipv4(v4)) => ipv4_is_public(v4),
        Ok(Host::Ipv6(v6)) => ipv6_is_public(v6),
        Ok(Host::Domain(name)) => name_is_public(&name),
        Err(_) => false,
    }
}

pub fn ip_is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => ipv4_is_public(v4),
        IpAddr::V6(v6) => ipv6_is_public(v6),
    }
}

/// Not loopback, private, link-local, shared (CGNAT), documentation, benchmarking, multicast,
/// broadcast, "this network" or otherwise reserved.
pub fn ipv4_is_public(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0 // "this network" (RFC 791)
        || (a == 100 && (64..128).contains(&b)) // shared address space (RFC 6598)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments (RFC 6890)
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast (RFC 7526)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking (RFC 2544)
        || a >= 240) // reserved (RFC 1112)
}

/// Global unicast, not documentation or IETF protocol assignments, and any IPv4 it carries public.
pub fn ipv6_is_public(v6: Ipv6Addr) -> bool {
    if let Some(v4) = ipv4_in_low_bits(v6) {
        return ipv4_is_public(v4);
    }
    let s = v6.segments();
    // Only global unicast (2000::/3): refuses ::/8 (loopback, unspecified, NAT64 64:ff9b::/96
    // and 64:ff9b:1::/48), 100::/64 (discard), fc00::/7 (unique local), fe80::/10 (link-local),
    // fec0::/10 (site-local) and ff00::/8 (multicast).
    if s[0] & 0xe000 != 0x2000 {
        return false;
    }
    let reserved = match s[0] {
        // IETF protocol assignments incl. Teredo (RFC 2928, 4380); documentation (RFC 3849)
        0x2001 => s[1] < 0x0200 || s[1] == 0x0db8,
        // documentation (RFC 9637)
        0x3fff => s[1] < 0x1000,
        _ => false,
    };
    if reserved {
        return false;
    }
    match six_to_four(v6) {
        Some(v4) => ipv4_is_public(v4),
        None => true,
    }
}

/// The IPv4 address in the low 32 bits of an IPv4-mapped, -compatible or -translated address.
fn ipv4_in_low_bits(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s[..6] {
        [0, 0, 0, 0, 0, 0xffff] // mapped (RFC 4291)
        | [0, 0, 0, 0, 0, 0] // compatible (RFC 4291, deprecated); :: and ::1 land in 0.0.0.0/8
        | [0, 0, 0, 0, 0xffff, 0] => Some(low), // translated (RFC 2765)
        _ => None,
    }
}

/// The IPv4 address a 6to4 address (`2002:AABB:CCDD::/48`, RFC 3056) routes to.
fn six_to_four(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    (s[0] == 0x2002)
        .then(|| Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8))
}

/// A name with a dot that is not `localhost` and not under a suffix that only resolves inside a
/// network.
fn name_is_public(host: &str) -> bool {
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    !(name.is_empty()
        || !name.contains('.')
        || name == "localhost"
        || [
            ".localhost",
            ".local",
            ".internal",
            ".intranet",
            ".lan",
            ".home.arpa",
            ".corp",
        ]
        .iter()
        .any(|suffix| name.ends_with(suffix)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::registration::check_metadata_document_url;

    fn parsed_host_is_public(url: &str) -> bool {
        url_host_is_public(&Url::parse(url).unwrap())
    }

    #[test]
    fn ipv4_hosts_are_judged_as_the_url_parser_reads_them() {
        for spelling in [
            "https://2130706433/c.json",
            "https://0x7f000001/c.json",
            "https://0x7f.1/c.json",
            "https://0177.0.0.1/c.json",
            "https://127.1/c.json",
            "https://0x7F.0.0.1./c.json",
            "https://%31%32%37.0.0.1/c.json",
            "https://167772161/c.json",
            "https://012.0.0.1/c.json",
            "https://0xa9.0xfe.0xa9.0xfe/c.json",
            "https://2852039166/c.json",
            "https://0/c.json",
        ] {
            let url = Url::parse(spelling).unwrap();
            assert!(
                matches!(url.host(), Some(Host::Ipv4(_))),
                "{spelling} parses to an IPv4 address"
            );
            assert!(!url_host_is_public(&url), "{spelling} -> {url}");
            assert!(
                !host_is_public(url::Url::parse(spelling).unwrap().host_str().unwrap()),
                "{spelling}"
            );
        }
        for spelling in ["0x7f.1", "2130706433", "0177.0.0.1", "127.1"] {
            assert!(!host_is_public(spelling), "{spelling}");
        }
        assert!(parsed_host_is_public("https://134744072/c.json")); // 8.8.8.8
    }

    #[test]
    fn ipv6_literals_with_an_embedded_private_ipv4_are_refused() {
        for literal in [
            "::1",
            "::",
            "::7f00:1",                             // IPv4-compatible 127.0.0.1
            "::a00:1",                              // IPv4-compatible 10.0.0.1
            "::ffff:7f00:1",                        // IPv4-mapped, in hex
            "::ffff:127.0.0.1",                     // IPv4-mapped, dotted
            "::ffff:a9fe:a9fe",                     // IPv4-mapped 169.254.169.254
            "::ffff:0:7f00:1",                      // IPv4-translated 127.0.0.1
            "2002:7f00:1::",                        // 6to4 of 127.0.0.1
            "2002:a9fe:a9fe::1",                    // 6to4 of 169.254.169.254
            "2002:c0a8:101::",                      // 6to4 of 192.168.1.1
            "64:ff9b::a00:1",                       // NAT64 of 10.0.0.1
            "64:ff9b::808:808", // NAT64 of 8.8.8.8: a translator's prefix, never ours to use
            "64:ff9b:1::a00:1", // local-use NAT64 (RFC 8215)
            "2001:0:4136:e378:8000:63bf:f5ff:fffe", // Teredo, client 10.0.0.1
            "2001::1",
            "2001:2::1", // benchmarking
            "2001:db8::1",
            "3fff::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1", // site-local
            "ff02::1",
            "100::1", // discard-only
        ] {
            let url = format!("https://[{literal}]/c.json");
            assert!(!parsed_host_is_public(&url), "{literal}");
            assert!(!host_is_public(&format!("[{literal}]")), "{literal}");
            assert!(
                check_metadata_document_url(&url, false).is_err(),
                "{literal}"
            );
        }
        for public in ["2606:4700::1111", "::ffff:808:808", "2002:808:808::1"] {
            assert!(host_is_public(&format!("[{public}]")), "{public}");
        }
    }

    #[test]
    fn normal_form_client_ids_on_embedded_private_addresses_are_refused() {
        for url in [
            "https://[::7f00:1]/client.json",
            "https://[::ffff:7f00:1]/client.json",
            "https://[2002:7f00:1::]/client.json",
            "https://[64:ff9b:1::a00:1]/client.json",
            "https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/client.json",
            "https://[fec0::1]/client.json",
        ] {
            assert_eq!(
                Url::parse(url).unwrap().as_str(),
                url,
                "{url} is in normal form"
            );
            assert_eq!(
                check_metadata_document_url(url, false).err().as_deref(),
                Some("the client_id URL's host is not a public address"),
                "{url}"
            );
        }
        assert!(
            check_metadata_document_url("https://[2606:4700::1111]/client.json", false).is_ok()
        );
    }

    /// A small deterministic generator (xorshift64*), so the property tests need no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn u32(&mut self) -> u32 {
            (self.next() >> 32) as u32
        }

        fn u16(&mut self) -> u16 {
            (self.next() >> 48) as u16
        }
    }

    /// Ranges no fetch may reach, as (network, prefix length).
    const NOT_PUBLIC_V4: [([u8; 4], u32); 16] = [
        ([0, 0, 0, 0], 8),
        ([10, 0, 0, 0], 8),
        ([100, 64, 0, 0], 10),
        ([127, 0, 0, 0], 8),
        ([169, 254, 0, 0], 16),
        ([172, 16, 0, 0], 12),
        ([192, 0, 0, 0], 24),
        ([192, 0, 2, 0], 24),
        ([192, 88, 99, 0], 24),
        ([192, 168, 0, 0], 16),
        ([198, 18, 0, 0], 15),
        ([198, 51, 100, 0], 24),
        ([203, 0, 113, 0], 24),
        ([224, 0, 0, 0], 4),
        ([240, 0, 0, 0], 4),
        ([255, 255, 255, 255], 32),
    ];

    fn in_range(rng: &mut Rng, (network, len): ([u8; 4], u32)) -> Ipv4Addr {
        let host_bits = if len == 32 { 0 } else { u32::MAX >> len };
        Ipv4Addr::from(u32::from_be_bytes(network) | (rng.u32() & host_bits))
    }

    /// Every IPv6 form that carries `v4`, with random bits where the form leaves them free.
    fn embeddings(rng: &mut Rng, v4: Ipv4Addr) -> Vec<Ipv6Addr> {
        let [a, b, c, d] = v4.octets();
        let hi = u16::from_be_bytes([a, b]);
        let lo = u16::from_be_bytes([c, d]);
        let r = |rng: &mut Rng| rng.u16();
        vec![
            Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, hi, lo), // mapped
            Ipv6Addr::new(0, 0, 0, 0, 0, 0, hi, lo),      // compatible
            Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, hi, lo), // translated
            Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, hi, lo), // NAT64
            Ipv6Addr::new(0x64, 0xff9b, 1, r(rng), r(rng), r(rng), hi, lo), // local-use NAT64
            Ipv6Addr::new(0x2002, hi, lo, r(rng), r(rng), r(rng), r(rng), r(rng)), // 6to4
            Ipv6Addr::new(0x2001, 0, hi, lo, r(rng), r(rng), r(rng), r(rng)), // Teredo server
            Ipv6Addr::new(0x2001, 0, r(rng), r(rng), r(rng), r(rng), !hi, !lo), // Teredo client
        ]
    }

    #[test]
    fn any_non_public_ipv4_is_refused_in_every_spelling_and_embedding() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for range in NOT_PUBLIC_V4 {
            for _ in 0..300 {
                let v4 = in_range(&mut rng, range);
                assert!(!ipv4_is_public(v4), "{v4}");
                let n = u32::from(v4);
                let [a, b, c, d] = v4.octets();
                for spelling in [
                    format!("https://{n}/c.json"),
                    format!("https://0x{n:x}/c.json"),
                    format!("https://0{a:o}.0{b:o}.0{c:o}.0{d:o}/c.json"),
                    format!("https://{a}.{}/c.json", n & 0x00ff_ffff),
                    format!("https://{a}.{b}.{}/c.json", n & 0xffff),
                ] {
                    assert!(!parsed_host_is_public(&spelling), "{spelling}");
                }
                for v6 in embeddings(&mut rng, v4) {
                    assert!(!ipv6_is_public(v6), "{v6} carries {v4}");
                    let url = format!("https://[{v6}]/c.json");
                    assert!(!parsed_host_is_public(&url), "{url}");
                    assert!(
                        matches!(
                            check_metadata_document_url(&url, false).err().as_deref(),
                            Some(
                                "the client_id URL is not in normal form"
                                    | "the client_id URL's host is not a public address"
                            )
                        ),
                        "{url}"
                    );
                }
            }
        }
    }

    #[test]
    fn mapped_compatible_and_6to4_addresses_are_judged_as_the_ipv4_they_carry() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let v4 = Ipv4Addr::from(rng.u32());
            let [a, b, c, d] = v4.octets();
            let (hi, lo) = (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
            let expected = ipv4_is_public(v4);
            for v6 in [
                Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, hi, lo),
                Ipv6Addr::new(0, 0, 0, 0, 0, 0, hi, lo),
                Ipv6Addr::new(0x2002, hi, lo, rng.u16(), 0, 0, 0, rng.u16()),
            ] {
                assert_eq!(ipv6_is_public(v6), expected, "{v6} carries {v4}");
            }
        }
    }

    #[test]
    fn names_that_only_resolve_inside_a_network_are_refused() {
        for name in [
            "localhost",
            "localhost.",
            "api.localhost",
            "printer.local",
            "metadata.google.internal",
            "intranet",
            "nas.home.arpa",
            "HOST.CORP",
        ] {
            assert!(!host_is_public(name), "{name}");
        }
        assert!(host_is_public("app.example.com"));
        assert!(!host_is_public("exa mple.com"));
    }
}
