//! Debian version comparison (`[EPOCH:]UPSTREAM[-REVISION]`), as dpkg and Trivy's
//! go-deb-version order them: epochs numerically, then upstream and revision part by part,
//! non-digits before digits, `~` before everything (even the end), letters before other
//! characters.

use std::cmp::Ordering;

fn split(v: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if e.chars().all(|c| c.is_ascii_digit()) && !e.is_empty() => {
            (e.parse().unwrap_or(0), r)
        }
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((u, r)) => (epoch, u, r),
        None => (epoch, rest, ""),
    }
}

fn order(c: Option<char>) -> i32 {
    match c {
        None => 0,
        Some('~') => -1,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(c) => c as i32 + 256,
    }
}

fn part(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    while !a.is_empty() || !b.is_empty() {
        // non-digit prefixes
        let na = a.find(|c: char| c.is_ascii_digit()).unwrap_or(a.len());
        let nb = b.find(|c: char| c.is_ascii_digit()).unwrap_or(b.len());
        let (mut ca, mut cb) = (a[..na].chars(), b[..nb].chars());
        loop {
            let (x, y) = (ca.next(), cb.next());
            if x.is_none() && y.is_none() {
                break;
            }
            match order(x).cmp(&order(y)) {
                Ordering::Equal => {}
                other => return other,
            }
        }
        a = &a[na..];
        b = &b[nb..];
        // digit prefixes
        let da = a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len());
        let db = b.find(|c: char| !c.is_ascii_digit()).unwrap_or(b.len());
        let num = |s: &str| s.trim_start_matches('0').to_string();
        let (x, y) = (num(&a[..da]), num(&b[..db]));
        match x.len().cmp(&y.len()).then_with(|| x.cmp(&y)) {
            Ordering::Equal => {}
            other => return other,
        }
        a = &a[da..];
        b = &b[db..];
    }
    Ordering::Equal
}

/// Orders two Debian versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| part(ua, ub))
        .then_with(|| part(ra, rb))
}

#[cfg(test)]
mod tests {
    use super::compare;
    use std::cmp::Ordering::*;

    #[test]
    fn versions_order_as_dpkg_orders_them() {
        for (a, b, want) in [
            ("1.1.1d-0+deb10u6", "1.1.1d-0+deb10u7", Less),
            ("1.1.1d-0+deb10u10", "1.1.1d-0+deb10u7", Greater),
            ("1:8.3.0-6", "8.3.0-7", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0", "1.0+b1", Less),
            ("2.2.53-4", "2.2.53-4", Equal),
            ("1.2a", "1.2+", Less),
            ("7.64.0-4+deb10u2", "7.64.0-4", Greater),
            ("0~20171227-0.2", "0~20171227-0.2+deb10u1", Less),
        ] {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
        }
    }
}
