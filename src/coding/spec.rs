//! The parameters of a gradient code (P, s, r, m, layout, offsets, decoder) and the
//! rules they must satisfy, checked once with errors that name the constraint.

use anyhow::bail;
use serde::{Deserialize, Serialize};

/// How partitions are spread over workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// Groups of r workers all computing the same r partitions (needs r | P).
    Repetition,
    /// Circulant: partition j is held by workers j + T (mod P).
    Cyclic,
}

/// The offset set T of the cyclic layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Offsets {
    /// T = {floor(t P / r)}: encoder coefficients stay small (about P / r).
    Spread,
    /// T = {0, 1, ..., r-1}: Draco's cyclic code; coefficients grow exponentially in P - r.
    Contiguous,
}

/// How the parameter server locates the faulty messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DecoderKind {
    /// Majority vote inside each repetition group (m = 1 only).
    Majority,
    /// Syndromes from the inverse DFT and Prony / Peterson-Gorenstein-Zierler.
    Spectral,
    /// Support search on the syndrome of any linear code.
    Sparse,
}

/// One code's parameters. P workers, s adversaries, redundancy r (partitions per
/// worker), compression m (each message carries d/m reals).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeSpec {
    pub workers: usize,
    pub adversaries: usize,
    pub redundancy: usize,
    pub compression: usize,
    pub layout: Layout,
    pub offsets: Offsets,
    pub decoder: DecoderKind,
}

impl CodeSpec {
    /// All rules, including the trade-off bound r >= 2s + m.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.validate_structure()?;
        let (s, r, m) = (self.adversaries, self.redundancy, self.compression);
        if r < 2 * s + m {
            bail!(
                "r={r} cannot tolerate s={s} with m={m}: need r >= 2s+m = {}",
                2 * s + m
            );
        }
        Ok(())
    }

    /// The rules without which no code can be built at all (everything but r >= 2s + m).
    pub(crate) fn validate_structure(&self) -> anyhow::Result<()> {
        let (p, s, r, m) = (self.workers, self.adversaries, self.redundancy, self.compression);
        if p == 0 {
            bail!("P={p}: need at least one worker");
        }
        if m == 0 {
            bail!("m={m}: compression must be at least 1");
        }
        if r == 0 || r > p {
            bail!("r={r} with P={p}: need 1 <= r <= P");
        }
        if m > r {
            bail!("m={m} with r={r}: need m <= r (each worker's r partitions must carry m chunks)");
        }
        if s >= p {
            bail!("s={s} with P={p}: need s < P");
        }
        if self.layout == Layout::Repetition && p % r != 0 {
            bail!("repetition layout needs P divisible by r: P={p}, r={r}");
        }
        if self.decoder == DecoderKind::Majority {
            if self.layout != Layout::Repetition {
                bail!("majority vote needs the repetition layout (got cyclic)");
            }
            if m != 1 {
                bail!("majority vote needs m = 1 (got m={m}): compressed messages differ inside a group");
            }
        }
        Ok(())
    }

    /// The smallest redundancy the trade-off allows: 2s + m.
    pub fn redundancy_bound(&self) -> usize {
        2 * self.adversaries + self.compression
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    fn spec(p: usize, s: usize, r: usize, m: usize, layout: Layout, decoder: DecoderKind) -> CodeSpec {
        CodeSpec {
            workers: p,
            adversaries: s,
            redundancy: r,
            compression: m,
            layout,
            offsets: Offsets::Spread,
            decoder,
        }
    }

    #[test]
    fn bound_error_names_the_constraint() {
        let e = spec(15, 2, 5, 2, Layout::Cyclic, DecoderKind::Spectral)
            .validate()
            .unwrap_err()
            .to_string();
        assert_eq!(e, "r=5 cannot tolerate s=2 with m=2: need r >= 2s+m = 6");
    }

    #[test]
    fn structural_rules() {
        use DecoderKind::*;
        use Layout::*;
        assert!(spec(15, 2, 5, 1, Repetition, Majority).validate().is_ok());
        assert!(spec(16, 2, 5, 1, Repetition, Majority).validate().is_err());
        assert!(spec(15, 1, 5, 2, Repetition, Majority).validate().is_err());
        assert!(spec(15, 2, 5, 1, Cyclic, Majority).validate().is_err());
        assert!(spec(15, 2, 16, 1, Cyclic, Spectral).validate().is_err());
        assert!(spec(15, 0, 5, 0, Cyclic, Spectral).validate().is_err());
        assert!(spec(0, 0, 0, 1, Cyclic, Spectral).validate().is_err());
        assert!(spec(15, 0, 1, 1, Cyclic, Sparse).validate().is_ok());
        // Below the bound only the unchecked path accepts it.
        let below = spec(15, 2, 5, 2, Cyclic, Spectral);
        assert!(below.validate().is_err());
        assert!(below.validate_structure().is_ok());
    }

    #[test]
    fn serde_names_are_kebab_case() {
        let s = spec(15, 2, 5, 1, Layout::Repetition, DecoderKind::Majority);
        let text = format!("{:?}", serde_names(&s));
        assert!(text.contains("repetition") && text.contains("majority") && text.contains("spread"));
    }

    fn serde_names(s: &CodeSpec) -> Vec<String> {
        // No serde_json in this crate: use clap's ValueEnum names, which match serde's.
        use clap::ValueEnum;
        vec![
            s.layout.to_possible_value().unwrap().get_name().to_string(),
            s.decoder.to_possible_value().unwrap().get_name().to_string(),
            s.offsets.to_possible_value().unwrap().get_name().to_string(),
        ]
    }
}
