//! Staged rollout: each device has a stable position from 0 to 99, from a hash of its id,
//! and takes a release whose share is above its position. The same devices come first for
//! every release, so a grappe learns which ones are its canaries; the position does not
//! depend on the broker, the clock or anything the device could lose.

/// The device's position in the fleet, 0 to 99.
pub fn position(device: &str) -> u8 {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("grappe-agent rollout\0{device}").as_bytes(),
    );
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_ref()[..8]);
    (u64::from_be_bytes(first) % 100) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_stable_and_spread() {
        assert_eq!(position("tablette-02"), position("tablette-02"));
        let mut buckets = [0u32; 10];
        for n in 0..10_000 {
            buckets[position(&format!("device-{n}")) as usize / 10] += 1;
        }
        // 1,000 expected per tenth; a hash that clumps would leave some far off.
        for (tenth, count) in buckets.iter().enumerate() {
            assert!((850..1150).contains(count), "tenth {tenth}: {count}");
        }
        // A 5 % rollout reaches about 5 % of devices.
        let early = (0..10_000)
            .filter(|n| position(&format!("device-{n}")) < 5)
            .count();
        assert!((400..600).contains(&early), "{early}");
    }
}
