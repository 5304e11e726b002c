//! The local node: its name and capacity (CPUs, and memory from /proc/meminfo).

use crate::model::NodeView;
use crate::version::VERSION;

/// What the daemon knows of the machine it runs on; read once at start, memory on each read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalNode {
    /// The node's name: the host name.
    pub name: String,
    /// CPUs available to this process.
    pub cpus: u32,
}

impl LocalNode {
    /// Reads the host name and the CPU count.
    pub fn detect() -> LocalNode {
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "localhost".into());
        let cpus = std::thread::available_parallelism()
            .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
            .unwrap_or(1);
        LocalNode { name, cpus }
    }

    /// The node's view, with memory read now and `instances` placed on it.
    pub fn view(&self, instances: u32) -> NodeView {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        NodeView {
            name: self.name.clone(),
            status: orco_wire::NodeStatus::Ready,
            cpus: self.cpus,
            memory_bytes: meminfo_bytes(&meminfo, "MemTotal"),
            memory_available_bytes: meminfo_bytes(&meminfo, "MemAvailable"),
            instances,
            version: VERSION.into(),
            os: format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
            address: None,
            allocatable_cpu_millis: None,
            allocatable_memory_bytes: None,
            labels: Default::default(),
            taints: Vec::new(),
            cordoned: false,
            draining: false,
            epoch: 0,
        }
    }
}

/// A `/proc/meminfo` field in bytes (the file says kB); 0 when absent.
pub fn meminfo_bytes(meminfo: &str, key: &str) -> u64 {
    meminfo
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(key)?.strip_prefix(':')?;
            let kb: u64 = rest.split_whitespace().next()?.parse().ok()?;
            Some(kb.saturating_mul(1024))
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_fields_are_read_in_bytes() {
        let text = "MemTotal:       16314916 kB\nMemFree:  1 kB\nMemAvailable:   8000 kB\n";
        assert_eq!(meminfo_bytes(text, "MemTotal"), 16_314_916 * 1024);
        assert_eq!(meminfo_bytes(text, "MemAvailable"), 8000 * 1024);
        assert_eq!(meminfo_bytes(text, "Mem"), 0);
    }
}
