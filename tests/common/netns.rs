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
        ip_in(Some(&ns), &["link", "set", "lo", "up"]);
        ip_in(Some(&ns), &["link", "set", &inside, "name", "eth0"]);
        ip_in(Some(&ns), &["addr", "add", &format!("10.77.0.{n}/24"), "dev", "eth0"]);
        ip_in(Some(&ns), &["link", "set", "eth0", "up"]);
        self.hosts.push(ns.clone());
        ns
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

impl Drop for Lan {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of each veth pair, and with it the other.
        for ns in self.hosts.iter().chain(std::iter::once(&self.bridge_ns())) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}
