//! A NAT lab made of network namespaces: the namespace the caller runs in plays the public internet (it must
//! be a private one the test made, e.g. with `unshare --net`, holding only `lo`), and each home is a router
//! namespace (WAN on a link to the internet, LAN to the home) and a host namespace behind it.
//!
//! ```text
//!   internet (caller's namespace)  198.51.100.1 on lo: the servers      home i:
//!     veth "inet-i" 100.64.i.1/24  <-->  router "wan" 100.64.i.2/24, "lan" 10.0.i.1/24  <-->  host "eth0" 10.0.i.2/24
//! ```
//!
//! Kinds of NAT, all with iptables on the router:
//! * [`Nat::FullCone`]: MASQUERADE (Linux keeps the source port) plus DNAT of everything arriving on the WAN
//!   to the host — any outside address can reach a mapping once it exists.
//! * [`Nat::Symmetric`]: MASQUERADE `--random-fully` — a new, random port for every destination — and only
//!   replies come in.
//!
//! The namespaces are named with the process id and deleted when the [`Lab`] is dropped.

use std::net::Ipv4Addr;
use std::process::Command;

use crate::{Result, RigError};

/// Where the lab's servers (signaling, STUN/TURN) listen: an address on the internet namespace's `lo`.
pub const PUBLIC_SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nat {
    FullCone,
    Symmetric,
}

pub struct Home {
    pub nat: Nat,
    /// The host's namespace (run peers here with [`Home::command`]).
    pub host: String,
    /// The router's namespace.
    pub router: String,
    /// The host's address in the home.
    pub address: Ipv4Addr,
    /// The router's public (WAN) address: what the internet sees.
    pub public: Ipv4Addr,
}

pub struct Lab {
    pub homes: Vec<Home>,
    namespaces: Vec<String>,
}

fn run(args: &[&str]) -> Result<()> {
    let output = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|source| RigError::Spawn { program: "ip/iptables", source })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(RigError::Setup(format!("`{}` failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim())))
    }
}

/// In namespace `ns`: `ip netns exec ns ARGS`.
fn inside(ns: &str, args: &[&str]) -> Result<()> {
    let mut all = vec!["ip", "netns", "exec", ns];
    all.extend_from_slice(args);
    run(&all)
}

impl Lab {
    /// Build the internet side and one home per entry of `nats`.
    pub fn build(nats: &[Nat]) -> Result<Lab> {
        // /proc/net/dev follows the caller's namespace (/sys/class/net shows the one sysfs was mounted in).
        let devices = std::fs::read_to_string("/proc/net/dev")?;
        let links = devices.lines().skip(2).filter_map(|l| l.split(':').next()).filter(|n| n.trim() != "lo").count();
        if links > 0 {
            return Err(RigError::Setup(
                "the NAT lab needs a private network namespace with only lo (run it under `unshare --net`)".into(),
            ));
        }
        let mut lab = Lab { homes: Vec::new(), namespaces: Vec::new() };
        run(&["ip", "link", "set", "lo", "up"])?;
        run(&["ip", "addr", "add", &format!("{PUBLIC_SERVER}/32"), "dev", "lo"])?;
        run(&["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        for (i, nat) in nats.iter().enumerate() {
            let n = i + 1;
            let (router, host) =
                (format!("tincan-r{n}-{}", std::process::id()), format!("tincan-h{n}-{}", std::process::id()));
            for ns in [&router, &host] {
                run(&["ip", "netns", "add", ns])?;
                lab.namespaces.push(ns.clone());
                inside(ns, &["ip", "link", "set", "lo", "up"])?;
                // An IPv4 lab: no IPv6 link-local addresses for ICE to try.
                inside(ns, &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])?;
                inside(ns, &["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"])?;
            }
            let public = Ipv4Addr::new(100, 64, n as u8, 2);
            let address = Ipv4Addr::new(10, 0, n as u8, 2);
            let inet = format!("inet-{n}");
            run(&["ip", "link", "add", &inet, "type", "veth", "peer", "name", "wan", "netns", &router])?;
            run(&["ip", "addr", "add", &format!("100.64.{n}.1/24"), "dev", &inet])?;
            run(&["ip", "link", "set", &inet, "up"])?;
            inside(&router, &["ip", "addr", "add", &format!("{public}/24"), "dev", "wan"])?;
            inside(&router, &["ip", "link", "set", "wan", "up"])?;
            inside(&router, &["ip", "route", "add", "default", "via", &format!("100.64.{n}.1")])?;
            inside(&router, &["ip", "link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns", &host])?;
            inside(&router, &["ip", "addr", "add", &format!("10.0.{n}.1/24"), "dev", "lan"])?;
            inside(&router, &["ip", "link", "set", "lan", "up"])?;
            inside(&router, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
            inside(&host, &["ip", "addr", "add", &format!("{address}/24"), "dev", "eth0"])?;
            inside(&host, &["ip", "link", "set", "eth0", "up"])?;
            inside(&host, &["ip", "route", "add", "default", "via", &format!("10.0.{n}.1")])?;
            // mDNS sockets (webrtc-rs opens one) need a multicast route.
            inside(&host, &["ip", "route", "add", "224.0.0.0/4", "dev", "eth0"])?;
            let nat_rule: &[&str] = match nat {
                Nat::FullCone => &["iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE"],
                Nat::Symmetric => {
                    &["iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE", "--random-fully"]
                }
            };
            inside(&router, nat_rule)?;
            // Nothing comes in on the WAN to go back out of it (a packet for an address the router no longer
            // has would otherwise bounce between it and the internet).
            inside(&router, &["iptables", "-A", "FORWARD", "-i", "wan", "-o", "wan", "-j", "DROP"])?;
            if *nat == Nat::FullCone {
                full_cone(&router, public, address, "-A")?;
            }
            lab.homes.push(Home { nat: *nat, host, router, address, public });
        }
        Ok(lab)
    }

    /// Home `i`'s router lets out only TCP to `ports` (a network that allows only TCP 443, say): everything
    /// else from the home, UDP above all, is dropped; replies to what went out come back.
    pub fn only_tcp_out(&self, i: usize, ports: &[u16]) -> Result<()> {
        let router = &self.homes[i].router;
        for port in ports {
            let port = port.to_string();
            inside(
                router,
                &["iptables", "-A", "FORWARD", "-i", "lan", "-o", "wan", "-p", "tcp", "--dport", &port, "-j", "ACCEPT"],
            )?;
        }
        inside(router, &["iptables", "-A", "FORWARD", "-i", "lan", "-o", "wan", "-j", "DROP"])
    }

    /// Home `i`'s router gets a new public address (its provider renumbers it, or the home moves to another
    /// network): its NAT mappings and every connection through them are gone. Returns the new address.
    pub fn renumber(&mut self, i: usize) -> Result<Ipv4Addr> {
        let home = &mut self.homes[i];
        let n = i + 1;
        let [a, b, c, last] = home.public.octets();
        let new = Ipv4Addr::new(a, b, c, if last == 2 { 3 } else { 2 });
        // Old address out first (deleting a primary address also deletes secondaries in its subnet); the
        // kernel drops the masqueraded connections with it, and the default route with the subnet's route.
        inside(&home.router, &["ip", "addr", "del", &format!("{}/24", home.public), "dev", "wan"])?;
        inside(&home.router, &["ip", "addr", "add", &format!("{new}/24"), "dev", "wan"])?;
        inside(&home.router, &["ip", "route", "replace", "default", "via", &format!("100.64.{n}.1")])?;
        if home.nat == Nat::FullCone {
            full_cone(&home.router, home.public, home.address, "-D")?;
            full_cone(&home.router, new, home.address, "-A")?;
        }
        home.public = new;
        Ok(new)
    }
}

/// The full-cone rule: every UDP packet for the router's public address goes to the host (`op` -A adds it,
/// -D deletes it).
fn full_cone(router: &str, public: Ipv4Addr, host: Ipv4Addr, op: &str) -> Result<()> {
    let (public, host) = (public.to_string(), host.to_string());
    let rule =
        ["-t", "nat", op, "PREROUTING", "-i", "wan", "-d", &public, "-p", "udp", "-j", "DNAT", "--to-destination"];
    let mut args = vec!["iptables"];
    args.extend_from_slice(&rule);
    args.push(&host);
    inside(router, &args)
}

impl Home {
    /// `program` to be run in this home's host namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.host]).arg(program);
        c
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.namespaces.drain(..).rev() {
            let _ = run(&["ip", "netns", "del", &ns]);
        }
    }
}
