//! Decoding P received messages into the sum of all partition gradients: project each
//! message to a few numbers, locate the faulty workers on that small problem, check the
//! honest set re-encodes, then one weighted pass over the honest messages.

use std::fmt;

use nalgebra::DMatrix;
use rand::Rng;

use super::block::Block;
use super::kernels::{self, Projection, PROJECTIONS};
use super::sparse::SupportSearch;
use super::spec::DecoderKind;
use super::{complex_chunk_len, majority, spectral, Code, C64, RESIDUAL_TOLERANCE};

/// The decoded gradient sum and the workers found faulty (sorted).
#[derive(Debug, Clone)]
pub struct Decoded {
    pub sum: Vec<f32>,
    pub faulty: Vec<usize>,
}

/// Why the messages could not be decoded. Every variant means "no trustworthy sum".
#[derive(Debug, Clone, PartialEq)]
pub enum DecodeError {
    /// The caller passed the wrong number of messages.
    WrongMessageCount { expected: usize, got: usize },
    /// More workers are certainly faulty (non-finite or wrong-length messages, or the
    /// faults located across blocks) than the code tolerates.
    TooManyFaults { faulty: Vec<usize>, tolerated: usize },
    /// No candidate set of at most s faulty workers leaves messages that re-encode:
    /// more than s faults (or a code below r >= 2s + m).
    ResidualCheckFailed {
        workers: Vec<usize>,
        best_residual: f64,
        tolerance: f64,
        max_faults_tried: usize,
    },
    /// Majority vote found no strict majority in a repetition group.
    NoMajority { workers: Vec<usize> },
    /// The honest messages decode to a sum outside the f32 range.
    NonFiniteSum,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::WrongMessageCount { expected, got } => {
                write!(f, "expected {expected} messages (one per worker), got {got}")
            }
            DecodeError::TooManyFaults { faulty, tolerated } => write!(
                f,
                "too many faults: workers {faulty:?} are faulty, the code tolerates s={tolerated}"
            ),
            DecodeError::ResidualCheckFailed { workers, best_residual, tolerance, max_faults_tried } => write!(
                f,
                "residual check failed for workers {:?}: best relative residual {best_residual:.3e} > tolerance {tolerance:.1e} \
                 with up to {max_faults_tried} faults removed; more faults than the code tolerates",
                compact(workers)
            ),
            DecodeError::NoMajority { workers } => {
                write!(f, "no strict majority of equal messages in the group of workers {:?}", compact(workers))
            }
            DecodeError::NonFiniteSum => write!(f, "the honest messages decode to a sum outside the f32 range"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// "[0..15]" for a contiguous range, the list otherwise.
fn compact(workers: &[usize]) -> String {
    match (workers.first(), workers.last()) {
        (Some(&a), Some(&b)) if b + 1 - a == workers.len() && workers.len() > 2 => {
            format!("{a}..={b}")
        }
        _ => format!("{workers:?}"),
    }
}

/// What one block's decoding settled on, in local positions.
struct BlockDecode {
    faulty: Vec<usize>,
    weights: DMatrix<C64>,
}

enum BlockFailure {
    TooMany(Vec<usize>),
    Residual { best: f64, max_faults: usize },
    NoMajority,
}

impl Code {
    /// Decodes P messages (one per worker, each of `message_len(d)` floats) into the sum
    /// of all P partition gradients. `rng` draws the random projection; draw it fresh for
    /// every decode so that no adversary can know it.
    pub fn decode<R: Rng>(&self, messages: &[&[f32]], d: usize, rng: &mut R) -> Result<Decoded, DecodeError> {
        let p = self.spec.workers;
        let s = self.spec.adversaries;
        let m = self.spec.compression;
        if messages.len() != p {
            return Err(DecodeError::WrongMessageCount {
                expected: p,
                got: messages.len(),
            });
        }
        let complex_len = complex_chunk_len(d, m);
        let expected_len = self.message_len(d);
        let projection = Projection::draw(complex_len, rng);
        let mut z = DMatrix::<C64>::zeros(p, PROJECTIONS);
        // Wrong lengths and non-finite values are faults by definition: erased before
        // any arithmetic sees them (their rows of z stay zero).
        let mut erased = vec![false; p];
        for (i, projected) in projection
            .project_all(messages, expected_len)
            .into_iter()
            .enumerate()
        {
            match projected {
                Some(projected) if projected.iter().all(|x| x.is_finite()) => {
                    for (q, value) in projected.into_iter().enumerate() {
                        z[(i, q)] = value;
                    }
                }
                _ => erased[i] = true,
            }
        }
        let certain: Vec<usize> = (0..p).filter(|&i| erased[i]).collect();
        if certain.len() > s {
            return Err(DecodeError::TooManyFaults {
                faulty: certain,
                tolerated: s,
            });
        }
        let mut weights = DMatrix::<C64>::zeros(m, p);
        let mut faulty = Vec::new();
        for block in &self.blocks {
            let local_z = DMatrix::from_fn(block.n(), PROJECTIONS, |t, q| z[(block.workers[t], q)]);
            let local_erased: Vec<bool> = block.workers.iter().map(|&i| erased[i]).collect();
            match decode_block(block, &local_z, local_erased, s, m, self.spec.decoder) {
                Ok(found) => {
                    faulty.extend(found.faulty.iter().map(|&t| block.workers[t]));
                    for (t, &worker) in block.workers.iter().enumerate() {
                        for k in 0..m {
                            weights[(k, worker)] = found.weights[(k, t)];
                        }
                    }
                }
                Err(BlockFailure::TooMany(local)) => {
                    let faulty = local.iter().map(|&t| block.workers[t]).collect();
                    return Err(DecodeError::TooManyFaults { faulty, tolerated: s });
                }
                Err(BlockFailure::Residual { best, max_faults }) => {
                    return Err(DecodeError::ResidualCheckFailed {
                        workers: block.workers.clone(),
                        best_residual: best,
                        tolerance: RESIDUAL_TOLERANCE,
                        max_faults_tried: max_faults,
                    });
                }
                Err(BlockFailure::NoMajority) => {
                    return Err(DecodeError::NoMajority {
                        workers: block.workers.clone(),
                    });
                }
            }
        }
        faulty.sort();
        if faulty.len() > s {
            return Err(DecodeError::TooManyFaults { faulty, tolerated: s });
        }
        let sum =
            kernels::weighted_sum(messages, &weights, complex_len, d).ok_or(DecodeError::NonFiniteSum)?;
        Ok(Decoded { sum, faulty })
    }
}

/// Locates at most s faults in one block, smallest count first, each candidate accepted
/// only if the rest re-encodes within tolerance.
fn decode_block(
    block: &Block,
    z: &DMatrix<C64>,
    mut erased: Vec<bool>,
    s: usize,
    m: usize,
    decoder: DecoderKind,
) -> Result<BlockDecode, BlockFailure> {
    let n = block.n();
    let redundancy = n - block.k();
    let fit_candidate = |faulty: Vec<usize>, erased: &[bool]| -> Result<BlockDecode, f64> {
        let mut marked = erased.to_vec();
        for &t in &faulty {
            marked[t] = true;
        }
        match block.fit(z, &marked, m) {
            Some(fit) if fit.residual <= RESIDUAL_TOLERANCE => {
                let faulty = (0..n).filter(|&t| marked[t]).collect();
                Ok(BlockDecode {
                    faulty,
                    weights: fit.weights,
                })
            }
            Some(fit) => Err(fit.residual),
            None => Err(f64::INFINITY),
        }
    };
    // A candidate that passes may still hold an honest worker in place of a neighbour
    // with a small error (neighbouring roots of unity are nearly parallel, and an error
    // next to flagged workers hardly shows). Local search for the smallest residual
    // settles it; the result is used only if it passes too.
    let accept = |faulty: Vec<usize>, erased: &[bool]| -> Result<BlockDecode, f64> {
        let first = fit_candidate(faulty.clone(), erased)?;
        if faulty.is_empty() || decoder == DecoderKind::Majority {
            return Ok(first);
        }
        let polished = SupportSearch::new(block, z, erased).polish(&faulty);
        if polished == faulty {
            return Ok(first);
        }
        Ok(fit_candidate(polished, erased).unwrap_or(first))
    };
    let mut best = f64::INFINITY;
    let mut max_faults = 0;
    let certain = erased.iter().filter(|&&x| x).count();
    let mut peeled = 0;
    loop {
        let erasures = certain + peeled;
        if erasures > s {
            return Err(BlockFailure::TooMany((0..n).filter(|&t| erased[t]).collect()));
        }
        // A certain erasure costs one syndrome, an error two. A peeled position is an
        // error whose location was guessed, so it keeps costing two: that keeps every
        // accepted candidate the unique one within the code's correcting radius.
        let capacity = redundancy.saturating_sub(certain) / 2;
        let Some(max_errors) = capacity.checked_sub(peeled).map(|c| c.min(s - erasures)) else {
            return Err(BlockFailure::Residual { best, max_faults });
        };
        max_faults = max_faults.max(erasures + max_errors);
        let mut peel: Option<(f64, usize)> = None;
        match decoder {
            DecoderKind::Majority => {
                let found =
                    majority::locate(z, &erased, RESIDUAL_TOLERANCE).ok_or(BlockFailure::NoMajority)?;
                let located = found.iter().filter(|&&t| !erased[t]).count();
                if located > max_errors {
                    return Err(BlockFailure::TooMany(found));
                }
                match accept(found, &erased) {
                    Ok(done) => return Ok(done),
                    Err(residual) => {
                        return Err(BlockFailure::Residual {
                            best: residual,
                            max_faults,
                        })
                    }
                }
            }
            DecoderKind::Spectral => {
                for nu in 0..=max_errors {
                    let Some(candidate) = spectral::locate(block, z, &erased, nu) else {
                        continue;
                    };
                    match accept(candidate.clone(), &erased) {
                        Ok(done) => return Ok(done),
                        Err(residual) => {
                            best = best.min(residual);
                            let mut marked = erased.clone();
                            for &t in &candidate {
                                marked[t] = true;
                            }
                            if let Some(fit) = block.fit(z, &marked, m) {
                                for (t, size) in fit.error_sizes {
                                    if !erased[t] && peel.is_none_or(|(b, _)| size > b) {
                                        peel = Some((size, t));
                                    }
                                }
                            }
                        }
                    }
                }
            }
            DecoderKind::Sparse => {
                let search = SupportSearch::new(block, z, &erased);
                let exhaustive = search.exhaustive_fits(max_errors);
                let mut greedy = search.greedy();
                for nu in 0..=max_errors {
                    // Cheapest proposal first; the more expensive ones only when it fails.
                    // Beyond the exhaustive limit greedy pursuit is a heuristic (neighbouring
                    // columns are coherent); on a Reed-Solomon block the exact sparse recovery
                    // from Fourier measurements is Prony's, so it is the last proposal.
                    let mut tried: Vec<Vec<usize>> = Vec::new();
                    for stage in 0..3 {
                        let proposal = match stage {
                            0 if exhaustive => search.exhaustive(nu),
                            0 if nu == 0 => Some(Vec::new()),
                            0 => greedy.grow(),
                            1 if !exhaustive && nu > 0 => greedy.refined(),
                            2 if !exhaustive && block.fourier => spectral::locate(block, z, &erased, nu),
                            _ => None,
                        };
                        let Some(candidate) = proposal else { continue };
                        if tried.contains(&candidate) {
                            continue;
                        }
                        tried.push(candidate.clone());
                        match accept(candidate, &erased) {
                            Ok(done) => return Ok(done),
                            Err(residual) => best = best.min(residual),
                        }
                    }
                }
            }
        }
        // An error many orders above the others hides them below f64 precision in the
        // syndromes. The largest located error is certainly one: erase it and retry, so
        // the remaining syndromes are computed without it.
        match peel {
            Some((size, t)) if max_errors > 0 && size > 1.0 => {
                erased[t] = true;
                peeled += 1;
            }
            _ => return Err(BlockFailure::Residual { best, max_faults }),
        }
    }
}
