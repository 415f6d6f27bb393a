//! A home LAN of its own for a test: network namespaces joined by a bridge through veth
//! pairs (iproute2), so that stations find each other by multicast (mDNS) as on a real
//! LAN, apart from this machine's own network and from other tests. Needs root.
//!
//! Commands enter a namespace with `nsenter --net`, which switches the network
//! namespace alone: `ip -n` and `ip netns exec` also remount `/` and `/sys` in a mount
//! namespace of their own, which fails where `/` is not a mount point (a chroot, as a
//! fresh CI machine is).
#![allow(dead_code)]

use super::requires;
use std::process::{Command, Stdio};

/// The LAN: a namespace holding the bridge, and one namespace per host on it.
pub struct Lan {
    tag: String,
    hosts: Vec<String>,
}

/// Runs `ip ARGS` (in namespace `ns` when given), panicking with what it said when it
/// fails.
fn ip_in(ns: Option<&str>, args: &[&str]) {
    let mut command = match ns {
        Some(ns) => {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net=/run/netns/{ns}")).arg("ip");
            c
        }
        None => Command::new("ip"),
    };
    let out = command.args(args).stdin(Stdio::null()).output().expect("ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {} (namespace {ns:?}): {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ip(args: &[&str]) {
    ip_in(None, args)
}

impl Lan {
    /// A new LAN; `tag` (a few letters) names its namespaces and interfaces.
    pub fn new(tag: &str) -> Lan {
        requires::program("ip", "iproute2");
        requires::program("nsenter", "util-linux");
        // A unique tag: tests in one binary run in parallel, and a LAN left by a test
        // that was killed must not be in the way.
        let tag = format!("{tag}{}", std::process::id() % 10000);
        let lan = Lan { tag, hosts: vec![] };
        ip(&["netns", "add", &lan.bridge_ns()]);
        ip_in(Some(&lan.bridge_ns()), &["link", "add", "br0", "type", "bridge"]);
        ip_in(Some(&lan.bridge_ns()), &["link", "set", "br0", "up"]);
        lan
    }

    fn bridge_ns(&self) -> String {
        format!("{}-lan", self.tag)
    }

    /// The namespace of host `n`.
    pub fn namespace(&self, n: u8) -> String {
        format!("{}-h{n}", self.tag)
    }

    /// Adds host `n` with address 10.77.0.`n`/24; returns its namespace.
    pub fn add_host(&mut self, n: u8) -> String {
        let ns = self.namespace(n);
        let (inside, outside) = (format!("{}h{n}", self.tag), format!("{}b{n}", self.tag));
        ip(&["netns", "add", &ns]);
        ip(&["link", "add", &inside, "type", "veth", "peer", "name", &outside]);
        ip(&["link", "set", &inside, "netns", &ns]);
        ip(&["link", "set", &outside, "netns", &self.bridge_ns()]);
        ip_in(
            Some(&self.bridge_ns()),
            &["link", "set", &outside, "master", "br0", "up"],
        );
        self.bring_up(&ns, n, &inside);
        ns
    }

    /// Host `n`'s namespace `ns` with loopback up, and `device` (moved in already) as
    /// its `eth0` with address 10.77.0.`n`/24.
    fn bring_up(&mut self, ns: &str, n: u8, device: &str) {
        ip_in(Some(ns), &["link", "set", "lo", "up"]);
        ip_in(Some(ns), &["link", "set", device, "name", "eth0"]);
        ip_in(Some(ns), &["addr", "add", &format!("10.77.0.{n}/24"), "dev", "eth0"]);
        ip_in(Some(ns), &["link", "set", "eth0", "up"]);
        self.hosts.push(ns.to_string());
    }

    /// Adds host `n` with address 10.77.0.`n`/24 on a TAP device instead of the bridge:
    /// every frame it sends comes out of the returned file, and what is written to that
    /// file arrives on its `eth0` (a wire a program can impair, `tests/common/impair.rs`).
    pub fn add_tap_host(&mut self, n: u8) -> std::fs::File {
        let ns = self.namespace(n);
        let name = format!("{}t{n}", self.tag);
        ip(&["netns", "add", &ns]);
        let tap = open_tap(&name);
        ip(&["link", "set", &name, "netns", &ns]);
        self.bring_up(&ns, n, &name);
        tap
    }

    /// Moves host `n` from its address to 10.77.0.`to` (as a DHCP lease that changed).
    pub fn readdress(&self, n: u8, from: u8, to: u8) {
        let ns = self.namespace(n);
        // The old one goes first: deleting a primary address takes its secondaries
        // with it.
        ip_in(
            Some(&ns),
            &["addr", "del", &format!("10.77.0.{from}/24"), "dev", "eth0"],
        );
        ip_in(Some(&ns), &["addr", "add", &format!("10.77.0.{to}/24"), "dev", "eth0"]);
    }

    /// Moves the calling thread into host `n`'s network namespace: the sockets it opens
    /// from then on, and the threads it starts, are on that host.
    pub fn enter_on_this_thread(&self, n: u8) {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open(format!("/run/netns/{}", self.namespace(n))).expect("the host's namespace");
        // SAFETY: setns on a namespace file we hold open; it affects this thread only.
        let done = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(done, 0, "setns: {}", std::io::Error::last_os_error());
    }

    /// `program ARGS` run in host `n`'s network namespace.
    pub fn command(&self, n: u8, program: &str) -> Command {
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net=/run/netns/{}", self.namespace(n)))
            .arg(program);
        command
    }
}

/// A new TAP device named `name` (frames without a packet-information header).
fn open_tap(name: &str) -> std::fs::File {
    use std::os::fd::AsRawFd;
    const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
    #[repr(C)]
    struct IfReq {
        name: [libc::c_char; libc::IFNAMSIZ],
        flags: libc::c_short,
        _pad: [u8; 22],
    }
    let tun = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .expect("/dev/net/tun (the tun module)");
    let mut request = IfReq {
        name: [0; libc::IFNAMSIZ],
        flags: (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short,
        _pad: [0; 22],
    };
    assert!(name.len() < libc::IFNAMSIZ, "interface name {name} too long");
    for (to, from) in request.name.iter_mut().zip(name.bytes()) {
        *to = from as libc::c_char;
    }
    // SAFETY: TUNSETIFF reads and writes one ifreq, which `request` is laid out as.
    let done = unsafe { libc::ioctl(tun.as_raw_fd(), TUNSETIFF, &mut request) };
    assert_eq!(done, 0, "TUNSETIFF {name}: {}", std::io::Error::last_os_error());
    tun
}

impl Drop for Lan {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of each veth pair, and with it the other.
        for ns in self.hosts.iter().chain(std::iter::once(&self.bridge_ns())) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}
