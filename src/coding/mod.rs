//! Gradient codes for Byzantine-resilient aggregation: Draco's repetition and cyclic
//! codes and Solon's compressed codes (r >= 2s + m), with spectral, sparse-recovery
//! and majority-vote decoders. Pure Rust; complex f64 for the code, f32 on the wire.

mod assignment;
mod block;
mod decode;
mod encode;
mod kernels;
mod majority;
mod sparse;
mod spec;
mod spectral;
pub mod tradeoff;

#[cfg(test)]
mod tests;

pub use decode::{DecodeError, Decoded};
pub use spec::{CodeSpec, DecoderKind, Layout, Offsets};
pub use tradeoff::{tradeoff, TradeoffConfig, TradeoffRow};

use block::Block;
use nalgebra::Complex;

type C64 = Complex<f64>;

/// Relative tolerance of every consistency test (residual check, majority equality).
/// Honest f32 messages carry rounding of about 6e-8 of their norm; 1e-6 leaves a wide
/// margin above that while still catching errors far below the 1e-5 accuracy target.
pub const RESIDUAL_TOLERANCE: f64 = 1e-6;

/// A gradient code with everything that depends only on (P, s, r, m, layout, offsets)
/// precomputed: assignment, encoder coefficients, and the decoding blocks.
#[derive(Debug, Clone)]
pub struct Code {
    spec: CodeSpec,
    assignments: Vec<Vec<usize>>,
    holders: Vec<Vec<usize>>,
    /// coefficients[(worker * r + slot) * m + chunk]: weight of chunk `chunk` of the
    /// gradient in `assignment(worker)[slot]` in that worker's message.
    coefficients: Vec<C64>,
    /// Independent codes the messages split into: one for the cyclic layout, one per
    /// group for the repetition layout.
    blocks: Vec<Block>,
}

impl Code {
    /// Builds a code after validating the spec (r >= 2s + m and the layout rules).
    pub fn new(spec: CodeSpec) -> anyhow::Result<Code> {
        spec.validate()?;
        Code::build(spec)
    }

    /// Builds a code without the r >= 2s + m requirement, to measure what happens
    /// below the bound. The structural rules (r <= P, m <= r, divisibility) still hold.
    #[doc(hidden)]
    pub fn new_unchecked(spec: CodeSpec) -> anyhow::Result<Code> {
        spec.validate_structure()?;
        Code::build(spec)
    }

    fn build(spec: CodeSpec) -> anyhow::Result<Code> {
        let (assignments, holders) = assignment::assign(&spec);
        let (coefficients, blocks) = match spec.layout {
            Layout::Repetition => encode::repetition_code(&spec),
            Layout::Cyclic => encode::cyclic_code(&spec, &assignments, &holders),
        };
        let code = Code {
            spec,
            assignments,
            holders,
            coefficients,
            blocks,
        };
        code.check_decoder_applies()?;
        Ok(code)
    }

    /// A code with a dense random complex Gaussian generator: every worker holds every
    /// partition (r = P) and sends G a, with a_0..a_{m-1} the chunk sums and the other
    /// P - 2s - m coefficients random mixtures of partitions. It has no Fourier structure,
    /// so only the sparse-recovery decoder applies; it exists to exercise that path.
    #[doc(hidden)]
    pub fn random_gaussian<R: rand::Rng>(
        workers: usize,
        adversaries: usize,
        compression: usize,
        rng: &mut R,
    ) -> anyhow::Result<Code> {
        let spec = CodeSpec {
            workers,
            adversaries,
            redundancy: workers,
            compression,
            layout: Layout::Cyclic,
            offsets: Offsets::Contiguous,
            decoder: DecoderKind::Sparse,
        };
        spec.validate()?;
        let (assignments, holders) = assignment::assign(&spec);
        let (coefficients, blocks) = encode::random_gaussian_code(&spec, rng);
        Ok(Code {
            spec,
            assignments,
            holders,
            coefficients,
            blocks,
        })
    }

    pub fn spec(&self) -> &CodeSpec {
        &self.spec
    }

    /// Partitions worker `worker` computes, in the order `encode` expects them (length r).
    pub fn assignment(&self, worker: usize) -> &[usize] {
        &self.assignments[worker]
    }

    /// Workers holding partition `partition`.
    pub fn holders(&self, partition: usize) -> &[usize] {
        &self.holders[partition]
    }

    /// Number of f32 in one message for gradients of length d: ceil(d / 2m) complex
    /// numbers stored as (re, im) pairs.
    pub fn message_len(&self, d: usize) -> usize {
        2 * complex_chunk_len(d, self.spec.compression)
    }

    /// Largest |encoder coefficient|; f32 messages lose about that factor of precision.
    pub fn max_encoder_coefficient(&self) -> f64 {
        self.coefficients.iter().map(|c| c.norm()).fold(0.0, f64::max)
    }

    fn check_decoder_applies(&self) -> anyhow::Result<()> {
        if self.spec.decoder == DecoderKind::Spectral && !self.blocks.iter().all(|b| b.fourier) {
            anyhow::bail!("the spectral decoder needs a Reed-Solomon code at roots of unity");
        }
        Ok(())
    }

    fn coefficient(&self, worker: usize, slot: usize, chunk: usize) -> C64 {
        let r = self.spec.redundancy;
        let m = self.spec.compression;
        self.coefficients[(worker * r + slot) * m + chunk]
    }
}

/// Complex numbers in one chunk: the packed gradient of d reals is ceil(d/2) complex
/// numbers, padded to m equal chunks.
fn complex_chunk_len(d: usize, m: usize) -> usize {
    d.div_ceil(2 * m)
}
