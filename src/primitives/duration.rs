//! Durations as people read them: `45 s`, `3 min`, `2 h 55 min`, `3 d 4 h`. For what a person
//! reads (an error's description, a page, the console); machine headers (`Retry-After`,
//! `RateLimit`) stay in seconds.

/// `secs` as people read it, rounded up so that nobody comes back too early: seconds under a
/// minute, then minutes, then hours and minutes, then days and hours.
pub fn human_duration(secs: u64) -> String {
    if secs < 60 {
        return format!("{secs} s");
    }
    let minutes = secs.div_ceil(60);
    if minutes < 60 {
        return format!("{minutes} min");
    }
    if minutes < 24 * 60 {
        return match (minutes / 60, minutes % 60) {
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        };
    }
    match (secs.div_ceil(3600) / 24, secs.div_ceil(3600) % 24) {
        (d, 0) => format!("{d} d"),
        (d, h) => format!("{d} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn durations_read_as_people_read_them_at_every_boundary() {
        for (secs, shown) in [
            (0, "0 s"),
            (1, "1 s"),
            (45, "45 s"),
            (59, "59 s"),
            (60, "1 min"),
            (61, "2 min"),
            (150, "3 min"),
            (3_540, "59 min"),
            (3_541, "1 h"),
            (3_599, "1 h"),
            (3_600, "1 h"),
            (3_601, "1 h 1 min"),
            (10_485, "2 h 55 min"),
            (86_340, "23 h 59 min"),
            (86_341, "1 d"),
            (86_400, "1 d"),
            (86_401, "1 d 1 h"),
            (2_592_000, "30 d"),
            (u64::MAX, "213503982334601 d 8 h"),
        ] {
            assert_eq!(human_duration(secs), shown, "{secs} s");
        }
    }
}
