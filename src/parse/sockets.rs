//! `/proc/net/{tcp,tcp6,udp,udp6}`: the sockets of the network namespace.
//!
//! Addresses are hex dumps of the kernel's network-order words printed as host-order
//! integers, so each 32-bit word is decoded with `to_ne_bytes` (correct on any endianness);
//! ports are plain host-order hex.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One socket line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Socket {
    pub proto: Proto,
    pub local: IpAddr,
    pub local_port: u16,
    pub remote: IpAddr,
    pub remote_port: u16,
    /// Kernel TCP state number (`0A` LISTEN, `07` CLOSE...).
    pub state: u8,
}

const TCP_LISTEN: u8 = 0x0A;
const TCP_CLOSE: u8 = 0x07;

impl Socket {
    /// A TCP socket in LISTEN, or a bound UDP socket not connected to a peer: both accept
    /// traffic from anyone who can reach the address.
    pub fn is_listening(&self) -> bool {
        match self.proto {
            Proto::Tcp => self.state == TCP_LISTEN,
            Proto::Udp => {
                self.state == TCP_CLOSE && self.remote.is_unspecified() && self.remote_port == 0
            }
        }
    }

    /// Whether only the machine itself can reach the socket.
    pub fn is_loopback(&self) -> bool {
        match self.local {
            IpAddr::V4(a) => a.is_loopback(),
            IpAddr::V6(a) => {
                a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        }
    }
}

fn addr(hex: &str) -> Option<IpAddr> {
    let word = |i: usize| -> Option<[u8; 4]> {
        Some(
            u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16)
                .ok()?
                .to_ne_bytes(),
        )
    };
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(0)?))),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

fn endpoint(s: &str) -> Option<(IpAddr, u16)> {
    let (a, p) = s.split_once(':')?;
    Some((addr(a)?, u16::from_str_radix(p, 16).ok()?))
}

/// Parses one of the files; the header and malformed lines are skipped.
pub fn parse(text: &str, proto: Proto) -> Vec<Socket> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let _slot = f.next()?.strip_suffix(':')?;
            let (local, local_port) = endpoint(f.next()?)?;
            let (remote, remote_port) = endpoint(f.next()?)?;
            let state = u8::from_str_radix(f.next()?, 16).ok()?;
            Some(Socket {
                proto,
                local,
                local_port,
                remote,
                remote_port,
                state,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   107        0 10159 1 0000000000000000 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 549 1 0000000000000000 100 0 0 10 0
   2: 0F02000A:0016 0202000A:C35A 01 00000000:00000000 02:0009A3C2 00000000     0        0 5123 2 0000000000000000 20 4 29 10 -1
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 5688 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5223 1 0000000000000000 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5224 1 0000000000000000 100 0 0 10 0
   3: 000080FE00000000FF005452B4F6A1FE:14E9 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5225 1 0000000000000000 100 0 0 10 0
";
    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  331: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 17543 2 0000000000000000 0
  700: 0F02000A:A1B2 08080808:0035 01 00000000:00000000 00:00000000 00000000   100        0 17544 2 0000000000000000 0
";

    #[cfg(target_endian = "little")]
    #[test]
    fn decodes_ipv4_sockets_and_listen_state() {
        let s = parse(TCP, Proto::Tcp);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].local, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(s[0].local_port, 3306);
        assert!(s[0].is_listening() && s[0].is_loopback());
        assert!(s[1].is_listening() && !s[1].is_loopback());
        assert_eq!(s[2].local, IpAddr::from([10, 0, 2, 15]));
        assert!(!s[2].is_listening()); // established
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn decodes_ipv6_words_including_mapped_and_link_local() {
        let s = parse(TCP6, Proto::Tcp);
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].local, "::1".parse::<IpAddr>().unwrap());
        assert!(s[0].is_loopback());
        assert_eq!(s[1].local, "::".parse::<IpAddr>().unwrap());
        assert!(!s[1].is_loopback());
        assert_eq!(s[2].local, "::ffff:127.0.0.1".parse::<IpAddr>().unwrap());
        assert!(s[2].is_loopback());
        assert_eq!(
            s[3].local,
            "fe80::5254:ff:fea1:f6b4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(s[3].local_port, 5353);
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn udp_bound_sockets_listen_connected_ones_do_not() {
        let s = parse(UDP, Proto::Udp);
        assert_eq!(s[0].local_port, 68);
        assert!(s[0].is_listening());
        assert!(!s[1].is_listening());
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let text = "header\n 0: zz:1 00000000:0000 0A\n 1: 0100007F 00000000:0000 0A\n 2: 0100007F:0016 00000000:0000\n 3: 0100007F:0016 00000000:0000 0A\n";
        assert_eq!(parse(text, Proto::Tcp).len(), 1);
        assert!(parse("", Proto::Udp).is_empty());
    }

    /// Our view of this machine's listening TCP ports agrees with what binding shows:
    /// a socket we open ourselves must appear, with its port, as listening on loopback.
    #[test]
    fn sees_a_socket_opened_by_the_test() {
        let Ok(l) = std::net::TcpListener::bind("127.0.0.1:0") else {
            return;
        };
        let port = l.local_addr().unwrap().port();
        let Ok(text) = std::fs::read_to_string("/proc/net/tcp") else {
            return;
        };
        let s = parse(&text, Proto::Tcp);
        assert!(s
            .iter()
            .any(|s| s.local_port == port && s.is_listening() && s.is_loopback()));
    }
}
