//! CIDR lists from configuration and OpenAI's published egress list.
#![no_main]
use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use portcullis::proxy::cidr::{parse_egress_list, IpRanges};

fuzz_target!(|data: &[u8]| {
    let _ = parse_egress_list(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ranges) = IpRanges::parse(text.split(',')) {
        for ip in ["0.0.0.0", "255.255.255.255", "10.1.2.3", "::", "::1", "2001:db8::1"] {
            let ip: IpAddr = ip.parse().expect("a literal address");
            let _ = ranges.contains(ip);
        }
    }
});
