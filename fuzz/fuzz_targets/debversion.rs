//! Debian version comparison (`grappe_agent::parse::debversion`).
//!
//! The input is split at NUL bytes into versions, of which the first three are used
//! (with no NUL: in two at the middle), so that no version holds a NUL. `compare` must be an order: `compare(a, a) == Equal`, antisymmetric
//! (`compare(a, b) == compare(b, a).reverse()`), transitive (`a <= b` and `b <= c` give
//! `a <= c`, for every arrangement of the three), and versions it finds equal compare
//! alike with a third. The same on raw bytes with `compare_bytes`.
#![no_main]

use grappe_agent::parse::debversion::{compare, compare_bytes};
use libfuzzer_sys::fuzz_target;
use std::cmp::Ordering;

fn check<T: ?Sized + std::fmt::Debug>(v: &[&T], cmp: impl Fn(&T, &T) -> Ordering) {
    for &a in v {
        assert_eq!(cmp(a, a), Ordering::Equal, "compare({a:?}, {a:?})");
        for &b in v {
            let ab = cmp(a, b);
            assert_eq!(
                ab,
                cmp(b, a).reverse(),
                "compare({a:?}, {b:?}) not antisymmetric"
            );
            for &c in v {
                let (bc, ac) = (cmp(b, c), cmp(a, c));
                if ab != Ordering::Greater && bc != Ordering::Greater {
                    assert_ne!(
                        ac,
                        Ordering::Greater,
                        "{a:?} <= {b:?} <= {c:?} but {a:?} > {c:?}"
                    );
                }
                if ab == Ordering::Equal {
                    assert_eq!(ac, bc, "{a:?} == {b:?} but they compare unlike with {c:?}");
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let parts: Vec<&[u8]> = if data.contains(&0) {
        data.split(|&c| c == 0).take(3).collect()
    } else {
        let (a, b) = data.split_at(data.len() / 2);
        vec![a, b]
    };
    check(&parts, |a: &[u8], b: &[u8]| compare_bytes(a, b));
    let strs: Vec<&str> = parts
        .iter()
        .filter_map(|p| std::str::from_utf8(p).ok())
        .collect();
    check(&strs, |a: &str, b: &str| compare(a, b));
});
