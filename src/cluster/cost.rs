//! The communication cost model of the simulator. Workers send their messages to the
//! PS over links of `bandwidth_gbps`; the PS ingress link is shared by all P senders,
//! so the upload takes latency + P * bytes / bandwidth. The new model goes back by a
//! binomial-tree broadcast (as MPI_Bcast does): ceil(log2(P + 1)) rounds of
//! latency + 4d / bandwidth.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Network {
    pub bandwidth_gbps: f64,
    pub latency_ms: f64,
}

impl Network {
    fn bytes_per_second(&self) -> f64 {
        self.bandwidth_gbps * 1e9 / 8.0
    }

    /// Seconds for `senders` workers to each deliver `bytes_each` through the PS ingress link.
    pub fn upload_s(&self, senders: usize, bytes_each: u64) -> f64 {
        self.latency_ms * 1e-3 + senders as f64 * bytes_each as f64 / self.bytes_per_second()
    }

    /// Seconds to broadcast a model of `d` f32 parameters to `workers` workers.
    pub fn broadcast_s(&self, workers: usize, d: usize) -> f64 {
        let rounds = ((workers + 1) as f64).log2().ceil().max(1.0);
        rounds * (self.latency_ms * 1e-3 + 4.0 * d as f64 / self.bytes_per_second())
    }
}

/// Bytes one worker sends per iteration: `floats` f32 values, or one bit per
/// coordinate when it sends signs (Signum).
pub fn message_bytes(floats: usize, signs: bool) -> u64 {
    if signs {
        floats.div_ceil(8) as u64
    } else {
        4 * floats as u64
    }
}

/// One iteration's simulated time, split as the CSV reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct IterationCost {
    /// Slowest worker's gradient computation: r partitions each.
    pub compute_s: f64,
    pub encode_s: f64,
    /// Upload to the PS plus the model broadcast back.
    pub comm_s: f64,
    pub decode_s: f64,
    pub update_s: f64,
    pub bytes_to_ps: u64,
}

impl IterationCost {
    pub fn total_s(&self) -> f64 {
        self.compute_s + self.encode_s + self.comm_s + self.decode_s + self.update_s
    }

    pub fn add(&mut self, other: &IterationCost) {
        self.compute_s += other.compute_s;
        self.encode_s += other.encode_s;
        self.comm_s += other.comm_s;
        self.decode_s += other.decode_s;
        self.update_s += other.update_s;
        self.bytes_to_ps += other.bytes_to_ps;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_shares_the_ps_link_and_compression_divides_it() {
        let net = Network {
            bandwidth_gbps: 8.0,
            latency_ms: 0.0,
        };
        // 1e9 bytes/s: 15 workers x 4 MB = 60 ms.
        assert!((net.upload_s(15, 4_000_000) - 0.06).abs() < 1e-12);
        assert!((net.upload_s(15, 2_000_000) * 2.0 - net.upload_s(15, 4_000_000)).abs() < 1e-12);
        assert_eq!(message_bytes(1000, false), 4000);
        assert_eq!(message_bytes(1001, true), 126);
        // 15 workers + PS: 4 tree rounds.
        assert!((net.broadcast_s(15, 250_000) - 4.0 * 1e-3).abs() < 1e-12);
        let slow = Network {
            bandwidth_gbps: 8.0,
            latency_ms: 2.0,
        };
        assert!((slow.upload_s(1, 0) - 0.002).abs() < 1e-12);
    }
}
