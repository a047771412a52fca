//! IP ranges: parsing CIDRs (IPv4 and IPv6), OpenAI's published egress lists, and membership.
//!
//! Ranges are merged into sorted, disjoint intervals, so a lookup is one binary search however
//! many ranges there are (10,000 ranges: 14 comparisons).

use std::net::IpAddr;

use serde::Deserialize;

/// A set of IP ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpRanges {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

/// A CIDR that does not parse; the text says which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrError(pub String);

fn parse_cidr(text: &str) -> Result<(IpAddr, u32), CidrError> {
    let bad = || {
        CidrError(format!(
            "{text:?} is not a CIDR such as 203.0.113.0/24 or 2001:db8::/32"
        ))
    };
    let (addr, len) = match text.trim().split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text.trim(), None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| *l <= max)
            .ok_or_else(bad)?,
    };
    Ok((ip, len))
}

fn merge<T: Copy + Ord + num_like::Succ>(mut ranges: Vec<(T, T)>) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some((_, last_hi)) if lo <= last_hi.succ_saturating() => {
                if hi > *last_hi {
                    *last_hi = hi;
                }
            }
            _ => out.push((lo, hi)),
        }
    }
    out
}

mod num_like {
    pub trait Succ {
        fn succ_saturating(self) -> Self;
    }
    impl Succ for u32 {
        fn succ_saturating(self) -> Self {
            self.saturating_add(1)
        }
    }
    impl Succ for u128 {
        fn succ_saturating(self) -> Self {
            self.saturating_add(1)
        }
    }
}

fn contains<T: Copy + Ord>(ranges: &[(T, T)], x: T) -> bool {
    // The last interval starting at or before x.
    let i = ranges.partition_point(|(lo, _)| *lo <= x);
    i > 0 && x <= ranges[i - 1].1
}

impl IpRanges {
    /// The empty set, usable in a `static`.
    pub const EMPTY: IpRanges = IpRanges {
        v4: Vec::new(),
        v6: Vec::new(),
    };

    /// Parses CIDRs; every bad one is an error naming it.
    pub fn parse<'a>(cidrs: impl IntoIterator<Item = &'a str>) -> Result<IpRanges, CidrError> {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for text in cidrs {
            match parse_cidr(text)? {
                (IpAddr::V4(ip), len) => {
                    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                    let lo = u32::from(ip) & mask;
                    v4.push((lo, lo | !mask));
                }
                (IpAddr::V6(ip), len) => {
                    let mask = if len == 0 {
                        0
                    } else {
                        u128::MAX << (128 - len)
                    };
                    let lo = u128::from(ip) & mask;
                    v6.push((lo, lo | !mask));
                }
            }
        }
        Ok(IpRanges {
            v4: merge(v4),
            v6: merge(v6),
        })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => contains(&self.v4, u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(mapped) => contains(&self.v4, u32::from(mapped)),
                None => contains(&self.v6, u128::from(v6)),
            },
        }
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// The number of disjoint intervals after merging.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }
}

/// OpenAI's published format: `{"creationTime": "...", "prefixes": [{"ipv4Prefix": "..."} |
/// {"ipv6Prefix": "..."}]}`.
#[derive(Debug, Deserialize)]
struct PublishedList {
    #[serde(rename = "creationTime")]
    creation_time: Option<String>,
    prefixes: Vec<PublishedPrefix>,
}

#[derive(Debug, Deserialize)]
struct PublishedPrefix {
    #[serde(rename = "ipv4Prefix")]
    ipv4: Option<String>,
    #[serde(rename = "ipv6Prefix")]
    ipv6: Option<String>,
}

/// A parsed egress list and when its publisher made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressList {
    pub creation_time: Option<String>,
    pub cidrs: Vec<String>,
    pub ranges: IpRanges,
}

/// Longest published list accepted (OpenAI's are a few KiB).
pub const MAX_EGRESS_LIST_BYTES: usize = 1024 * 1024;

/// Parses a published egress list, refusing an empty or malformed one (a bad refresh must never
/// replace a good list with nothing).
pub fn parse_egress_list(body: &[u8]) -> Result<EgressList, CidrError> {
    if body.len() > MAX_EGRESS_LIST_BYTES {
        return Err(CidrError("the egress list is larger than 1 MiB".into()));
    }
    let list: PublishedList = serde_json::from_slice(body).map_err(|e| {
        CidrError(format!(
            "the egress list is not the published JSON format: {e}"
        ))
    })?;
    let cidrs: Vec<String> = list
        .prefixes
        .iter()
        .filter_map(|p| p.ipv4.clone().or_else(|| p.ipv6.clone()))
        .collect();
    if cidrs.is_empty() {
        return Err(CidrError("the egress list has no prefixes".into()));
    }
    let ranges = IpRanges::parse(cidrs.iter().map(String::as_str))?;
    Ok(EgressList {
        creation_time: list.creation_time,
        cidrs,
        ranges,
    })
}

/// The snapshot shipped with this build (`data/openai-egress.json`), used until a scheduled
/// refresh stores a newer list, and whenever a refresh fails.
pub const OPENAI_EGRESS_SNAPSHOT: &str = include_str!("../../data/openai-egress.json");

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_ranges_include_their_bounds_only() {
        let r = IpRanges::parse(["23.102.140.112/28"]).unwrap();
        assert!(r.contains(ip("23.102.140.112")));
        assert!(r.contains(ip("23.102.140.127")));
        assert!(!r.contains(ip("23.102.140.128")));
        assert!(!r.contains(ip("23.102.140.111")));
    }

    #[test]
    fn ipv6_ranges_and_mapped_ipv4_work() {
        let r = IpRanges::parse(["2001:db8::/32", "10.0.0.0/8"]).unwrap();
        assert!(r.contains(ip("2001:db8:ffff::1")));
        assert!(!r.contains(ip("2001:db9::1")));
        assert!(r.contains(ip("::ffff:10.1.2.3")));
    }

    #[test]
    fn overlapping_and_adjacent_ranges_merge() {
        let r =
            IpRanges::parse(["10.0.0.0/25", "10.0.0.128/25", "10.0.0.0/24", "10.0.1.5"]).unwrap();
        assert_eq!(r.len(), 2);
        assert!(r.contains(ip("10.0.0.200")));
        assert!(r.contains(ip("10.0.1.5")));
        assert!(!r.contains(ip("10.0.1.6")));
    }

    #[test]
    fn zero_length_prefixes_cover_everything() {
        let r = IpRanges::parse(["0.0.0.0/0"]).unwrap();
        assert!(r.contains(ip("255.255.255.255")));
        assert!(!r.contains(ip("::1")));
    }

    #[test]
    fn bad_cidrs_are_named() {
        for bad in [
            "10.0.0.0/33",
            "300.0.0.0/8",
            "nope",
            "10.0.0.0/x",
            "2001:db8::/129",
        ] {
            let e = IpRanges::parse([bad]).unwrap_err();
            assert!(e.0.contains(bad), "{bad}");
        }
    }

    #[test]
    fn the_shipped_snapshot_parses() {
        let list = parse_egress_list(OPENAI_EGRESS_SNAPSHOT.as_bytes()).unwrap();
        assert_eq!(list.cidrs.len(), 15);
        assert!(list.ranges.contains(ip("40.84.180.130")));
        assert!(!list.ranges.contains(ip("8.8.8.8")));
    }

    #[test]
    fn empty_or_malformed_lists_are_refused() {
        assert!(
            matches!(parse_egress_list(br#"{"prefixes": []}"#), Err(CidrError(ref why)) if *why == "the egress list has no prefixes")
        );
        assert!(
            matches!(parse_egress_list(b"<html>"), Err(CidrError(ref why)) if *why == "the egress list is not the published JSON format: expected value at line 1 column 1")
        );
        assert!(
            matches!(parse_egress_list(br#"{"prefixes": [{"ipv4Prefix": "1.2.3.4/40"}]}"#), Err(CidrError(ref why)) if *why == "\"1.2.3.4/40\" is not a CIDR such as 203.0.113.0/24 or 2001:db8::/32")
        );
        assert!(parse_egress_list(
            br#"{"creationTime":"x","prefixes":[{"ipv6Prefix":"2001:db8::/48"}]}"#
        )
        .is_ok());
    }
}
