//! Acceptance tests of the coding module: exact recovery on the grid for every
//! layout x decoder and every error kind, refusal beyond the bound, agreement of the
//! spectral and sparse decoders, and the random-generator code.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::sparse::binomial;
use super::tradeoff::{
    all_subsets, corrupt, honest_messages, random_gradients, relative_error, true_sum, ErrorKind,
    EXACT_RELATIVE_ERROR,
};
use super::*;

fn spec(
    p: usize,
    s: usize,
    m: usize,
    r: usize,
    layout: Layout,
    offsets: Offsets,
    decoder: DecoderKind,
) -> CodeSpec {
    CodeSpec {
        workers: p,
        adversaries: s,
        redundancy: r,
        compression: m,
        layout,
        offsets,
        decoder,
    }
}

/// The grid: (P, s, m, r, layout, offsets), contiguous offsets only where P - r <= 10,
/// repetition with the smallest r >= 2s + m dividing P.
fn grid() -> Vec<(usize, usize, usize, usize, Layout, Offsets)> {
    use Layout::*;
    use Offsets::*;
    let mut out = Vec::new();
    for (p, s, m) in [
        (15, 2, 1),
        (15, 2, 2),
        (15, 2, 3),
        (24, 3, 2),
        (64, 4, 2),
        (7, 2, 1),
    ] {
        let r = 2 * s + m;
        out.push((p, s, m, r, Cyclic, Spread));
        if p - r <= 10 {
            out.push((p, s, m, r, Cyclic, Contiguous));
        }
        let r_rep = (r..=p).find(|q| p % q == 0).unwrap();
        out.push((p, s, m, r_rep, Repetition, Spread));
    }
    out
}

fn decoders(layout: Layout, m: usize) -> Vec<DecoderKind> {
    let mut out = vec![DecoderKind::Spectral, DecoderKind::Sparse];
    if layout == Layout::Repetition && m == 1 {
        out.push(DecoderKind::Majority);
    }
    out
}

/// Fault sets of each size 0..=s: all of them when few, else random ones plus a run of
/// neighbours (the hardest case for locating on roots of unity).
fn fault_sets(p: usize, s: usize, per_size: usize, rng: &mut StdRng) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new()];
    for size in 1..=s {
        if binomial(p, size) <= per_size as u128 {
            out.extend(all_subsets(p, size));
        } else {
            let start = rng.gen_range(0..p);
            let mut run: Vec<usize> = (0..size).map(|q| (start + q) % p).collect();
            run.sort();
            out.push(run);
            for _ in 1..per_size {
                let mut all: Vec<usize> = (0..p).collect();
                all.shuffle(rng);
                let mut chosen = all[..size].to_vec();
                chosen.sort();
                out.push(chosen);
            }
        }
    }
    out
}

/// Largest relative residual, over the blocks, of fitting the code to the full (not
/// projected) messages outside `flagged`: what the decoder's check estimates.
fn full_residual(code: &Code, messages: &[Vec<f32>], flagged: &[usize]) -> f64 {
    let m = code.spec().compression;
    code.blocks
        .iter()
        .map(|block| {
            let len = messages[block.workers[0]].len() / 2;
            let z = nalgebra::DMatrix::from_fn(block.n(), len, |t, c| {
                let y = &messages[block.workers[t]];
                C64::new(y[2 * c] as f64, y[2 * c + 1] as f64)
            });
            let marked: Vec<bool> = block.workers.iter().map(|w| flagged.contains(w)).collect();
            block
                .fit(&z, &marked, m)
                .map_or(f64::INFINITY, |fit| fit.residual)
        })
        .fold(0.0, f64::max)
}

/// Decodes every (fault set, error kind) at gradient length d and checks the sum and
/// the faulty set. Returns how many decodes ran.
fn check_exact(
    code: &Code,
    d: usize,
    sets: &[Vec<usize>],
    rng: &mut StdRng,
    missed_tiny: &mut usize,
) -> usize {
    let p = code.spec().workers;
    let gradients = random_gradients(p, d, rng);
    let truth = true_sum(&gradients, d);
    let honest = honest_messages(code, &gradients);
    let mut runs = 0;
    for faulty in sets {
        let kinds: &[ErrorKind] = if faulty.is_empty() {
            &[ErrorKind::Zeroed]
        } else {
            &ErrorKind::ALL
        };
        for &kind in kinds {
            let mut messages = honest.clone();
            corrupt(&mut messages, faulty, kind, rng);
            let views: Vec<&[f32]> = messages.iter().map(|m| &m[..]).collect();
            let context = format!("{:?} d={d} faulty={faulty:?} {kind:?}", code.spec());
            let decoded = code
                .decode(&views, d, rng)
                .unwrap_or_else(|e| panic!("{context}: {e}"));
            let error = relative_error(&decoded.sum, &truth, &gradients);
            assert!(
                error <= EXACT_RELATIVE_ERROR,
                "{context}: relative error {error:.2e}"
            );
            assert!(decoded.sum.iter().all(|x| x.is_finite()), "{context}");
            // Only faulty workers are flagged. Every error of a kind far above the
            // tolerance is flagged; a tiny one may stay unflagged only where the full
            // messages outside the flagged set really re-encode within tolerance (an
            // error between two flagged neighbours on the circle is nearly invisible).
            assert!(
                decoded.faulty.iter().all(|i| faulty.contains(i)),
                "{context}: flagged {:?}",
                decoded.faulty
            );
            if decoded.faulty != *faulty {
                assert_eq!(kind, ErrorKind::Tiny, "{context}: flagged {:?}", decoded.faulty);
                let residual = full_residual(code, &messages, &decoded.faulty);
                assert!(
                    residual <= 10.0 * RESIDUAL_TOLERANCE,
                    "{context}: flagged {:?}, residual {residual:.2e}",
                    decoded.faulty
                );
                *missed_tiny += 1;
            }
            runs += 1;
        }
    }
    runs
}

#[test]
fn exact_recovery_on_the_grid_small_d() {
    let mut rng = StdRng::seed_from_u64(7);
    let mut runs = 0;
    let mut missed = 0;
    for (p, s, m, r, layout, offsets) in grid() {
        for decoder in decoders(layout, m) {
            let code = Code::new(spec(p, s, m, r, layout, offsets, decoder)).unwrap();
            let per_size = if p > 30 { 3 } else { 16 };
            for d in [1, 7, 1000] {
                let sets = fault_sets(p, s, per_size, &mut rng);
                runs += check_exact(&code, d, &sets, &mut rng, &mut missed);
            }
        }
    }
    println!("{runs} decodes, {missed} tiny errors left unflagged within tolerance");
    assert!(runs > 5000 && missed * 100 < runs, "{runs} {missed}");
}

#[test]
fn exact_recovery_on_the_grid_large_d() {
    let mut rng = StdRng::seed_from_u64(8);
    for (p, s, m, r, layout, offsets) in grid() {
        for decoder in decoders(layout, m) {
            let code = Code::new(spec(p, s, m, r, layout, offsets, decoder)).unwrap();
            let sets = fault_sets(p, s, 1, &mut rng)
                .into_iter()
                .filter(|f| f.len() == s)
                .take(1)
                .collect::<Vec<_>>();
            check_exact(&code, 100_000, &sets, &mut rng, &mut 0);
        }
    }
}

/// One trial beyond what the code tolerates; true when the decoder refused or was right.
fn beyond_bound_trial(code: &Code, faults: usize, d: usize, rng: &mut StdRng) -> bool {
    let p = code.spec().workers;
    let gradients = random_gradients(p, d, rng);
    let truth = true_sum(&gradients, d);
    let mut messages = honest_messages(code, &gradients);
    let mut all: Vec<usize> = (0..p).collect();
    all.shuffle(rng);
    let kind = *ErrorKind::ALL.choose(rng).unwrap();
    corrupt(&mut messages, &all[..faults], kind, rng);
    let views: Vec<&[f32]> = messages.iter().map(|m| &m[..]).collect();
    match code.decode(&views, d, rng) {
        Err(_) => true,
        Ok(decoded) => relative_error(&decoded.sum, &truth, &gradients) <= EXACT_RELATIVE_ERROR,
    }
}

#[test]
fn beyond_the_bound_never_silently_wrong() {
    use DecoderKind::*;
    use Layout::*;
    use Offsets::*;
    let mut rng = StdRng::seed_from_u64(9);
    // (code, number of faults): s + 1 faults on valid codes, s faults below r = 2s + m.
    // Not here: spread offsets with r | P (e.g. P=15, r=5), which make the cyclic code a
    // repetition code, so s + 1 colluders inside one residue class mod P/r outvote it
    // undetectably, exactly as in the repetition layout with m = 1.
    let mut families: Vec<(String, Code, usize)> = Vec::new();
    for (p, s, m, r, layout, offsets, decoder) in [
        (16, 2, 1, 5, Cyclic, Spread, Spectral),
        (15, 2, 2, 6, Cyclic, Spread, Sparse),
        (24, 3, 2, 8, Cyclic, Spread, Spectral),
        (15, 2, 1, 5, Cyclic, Contiguous, Sparse),
        (24, 3, 2, 8, Repetition, Spread, Spectral),
    ] {
        let code = Code::new(spec(p, s, m, r, layout, offsets, decoder)).unwrap();
        families.push((format!("s+1 faults {:?}", code.spec()), code, s + 1));
    }
    for (p, s, m, layout, offsets, decoder) in [
        (15, 2, 2, Cyclic, Spread, Spectral),
        (15, 2, 1, Cyclic, Contiguous, Sparse),
        (24, 3, 2, Cyclic, Spread, Sparse),
        (16, 1, 3, Repetition, Spread, Spectral),
    ] {
        let code = Code::new_unchecked(spec(p, s, m, 2 * s + m - 1, layout, offsets, decoder)).unwrap();
        families.push((format!("r=2s+m-1 {:?}", code.spec()), code, s));
    }
    let trials_each = 1000usize.div_ceil(families.len());
    let mut good = 0;
    let mut total = 0;
    for (name, code, faults) in &families {
        let ok = (0..trials_each)
            .filter(|_| beyond_bound_trial(code, *faults, 16, &mut rng))
            .count();
        println!("beyond the bound: {ok}/{trials_each} refused or exact: {name}");
        good += ok;
        total += trials_each;
    }
    let rate = good as f64 / total as f64;
    println!(
        "beyond the bound: {good}/{total} = {:.2}% refused or exact",
        100.0 * rate
    );
    assert!(total >= 1000 && rate >= 0.99, "rate {rate}");
}

#[test]
fn below_the_bound_with_s_faults_is_refused_not_wrong() {
    // r = 2s + m - 1 with exactly s random errors: the code cannot locate them, so every
    // trial must end in an error, never a returned sum.
    let mut rng = StdRng::seed_from_u64(10);
    let code = Code::new_unchecked(spec(
        15,
        2,
        2,
        5,
        Layout::Cyclic,
        Offsets::Spread,
        DecoderKind::Spectral,
    ))
    .unwrap();
    for _ in 0..100 {
        let gradients = random_gradients(15, 10, &mut rng);
        let mut messages = honest_messages(&code, &gradients);
        let mut all: Vec<usize> = (0..15).collect();
        all.shuffle(&mut rng);
        corrupt(&mut messages, &all[..2], ErrorKind::Gaussian, &mut rng);
        let views: Vec<&[f32]> = messages.iter().map(|m| &m[..]).collect();
        assert!(code.decode(&views, 10, &mut rng).is_err());
    }
}

#[test]
fn spectral_and_sparse_agree_on_cyclic_codes() {
    let mut rng = StdRng::seed_from_u64(11);
    for (p, s, m, offsets) in [
        (15, 2, 2, Offsets::Spread),
        (15, 2, 1, Offsets::Contiguous),
        (24, 3, 2, Offsets::Spread),
        (64, 4, 2, Offsets::Spread),
    ] {
        let r = 2 * s + m;
        let spectral = Code::new(spec(p, s, m, r, Layout::Cyclic, offsets, DecoderKind::Spectral)).unwrap();
        let sparse = Code::new(spec(p, s, m, r, Layout::Cyclic, offsets, DecoderKind::Sparse)).unwrap();
        for trial in 0..20 {
            let d = 33;
            let gradients = random_gradients(p, d, &mut rng);
            let mut messages = honest_messages(&spectral, &gradients);
            let faults = trial % (s + 1);
            let mut all: Vec<usize> = (0..p).collect();
            all.shuffle(&mut rng);
            corrupt(&mut messages, &all[..faults], ErrorKind::ALL[trial % 7], &mut rng);
            let views: Vec<&[f32]> = messages.iter().map(|m| &m[..]).collect();
            let seed = rng.gen();
            let a = spectral
                .decode(&views, d, &mut StdRng::seed_from_u64(seed))
                .unwrap();
            let b = sparse
                .decode(&views, d, &mut StdRng::seed_from_u64(seed))
                .unwrap_or_else(|e| {
                    panic!(
                        "P={p} faults {:?} {:?}: {e}",
                        &all[..faults],
                        ErrorKind::ALL[trial % 7]
                    )
                });
            assert_eq!(a.faulty, b.faulty);
            let truth: Vec<f64> = a.sum.iter().map(|&x| x as f64).collect();
            assert!(relative_error(&b.sum, &truth, &gradients) < 1e-6);
        }
    }
}

#[test]
fn sparse_decoder_handles_a_random_gaussian_code() {
    let mut rng = StdRng::seed_from_u64(12);
    for (p, s, m) in [(12, 3, 1), (16, 2, 2), (20, 4, 3)] {
        let code = Code::random_gaussian(p, s, m, &mut rng).unwrap();
        assert!(!code.blocks[0].fourier);
        for d in [7, 1000] {
            let sets = fault_sets(p, s, 6, &mut rng);
            check_exact(&code, d, &sets, &mut rng, &mut 0);
        }
    }
}

#[test]
fn spectral_refuses_a_code_without_fourier_structure() {
    let mut rng = StdRng::seed_from_u64(13);
    let mut code = Code::random_gaussian(12, 2, 1, &mut rng).unwrap();
    code.spec.decoder = DecoderKind::Spectral;
    assert!(code.check_decoder_applies().is_err());
}

#[test]
fn malformed_input_is_a_fault_or_an_error_not_a_panic() {
    let mut rng = StdRng::seed_from_u64(14);
    let code = Code::new(spec(
        7,
        2,
        1,
        5,
        Layout::Cyclic,
        Offsets::Spread,
        DecoderKind::Spectral,
    ))
    .unwrap();
    let d = 9;
    let gradients = random_gradients(7, d, &mut rng);
    let truth = true_sum(&gradients, d);
    let mut messages = honest_messages(&code, &gradients);
    messages[3].pop();
    messages[5] = vec![1.0; 100];
    let views: Vec<&[f32]> = messages.iter().map(|m| &m[..]).collect();
    let decoded = code.decode(&views, d, &mut rng).unwrap();
    assert_eq!(decoded.faulty, vec![3, 5]);
    assert!(relative_error(&decoded.sum, &truth, &gradients) < EXACT_RELATIVE_ERROR);
    // One short message too many.
    let mut three = messages.clone();
    three[0].clear();
    let views: Vec<&[f32]> = three.iter().map(|m| &m[..]).collect();
    let err = code.decode(&views, d, &mut rng).unwrap_err();
    assert!(matches!(err, DecodeError::TooManyFaults { .. }), "{err}");
    assert!(err.to_string().contains("s=2"), "{err}");
    let err = code.decode(&views[..6], d, &mut rng).unwrap_err();
    assert_eq!(err, DecodeError::WrongMessageCount { expected: 7, got: 6 });
}

#[test]
fn residual_failure_reports_numbers() {
    let mut rng = StdRng::seed_from_u64(15);
    let code = Code::new(spec(
        7,
        1,
        1,
        3,
        Layout::Cyclic,
        Offsets::Spread,
        DecoderKind::Spectral,
    ))
    .unwrap();
    let gradients = random_gradients(7, 20, &mut rng);
    let mut messages = honest_messages(&code, &gradients);
    corrupt(&mut messages, &[1, 4], ErrorKind::Gaussian, &mut rng);
    let views: Vec<&[f32]> = messages.iter().map(|m| &m[..]).collect();
    let err = code.decode(&views, 20, &mut rng).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("residual") && text.contains("tolerance 1.0e-6"),
        "{text}"
    );
}

#[test]
fn zero_length_gradients_decode_to_nothing() {
    let mut rng = StdRng::seed_from_u64(16);
    let code = Code::new(spec(
        7,
        1,
        2,
        4,
        Layout::Cyclic,
        Offsets::Spread,
        DecoderKind::Spectral,
    ))
    .unwrap();
    let empty: Vec<Vec<f32>> = vec![Vec::new(); 7];
    let views: Vec<&[f32]> = empty.iter().map(|m| &m[..]).collect();
    let decoded = code.decode(&views, 0, &mut rng).unwrap();
    assert!(decoded.sum.is_empty() && decoded.faulty.is_empty());
}

#[test]
fn tradeoff_finds_the_bound_with_spread_offsets() {
    let config = tradeoff::TradeoffConfig {
        workers: vec![12],
        adversaries: vec![1, 2],
        compressions: vec![1, 3],
        offsets: vec![Offsets::Spread],
        trials: 28,
        exhaustive_subsets: 12,
        seed: 3,
        d: 16,
    };
    let rows = tradeoff(&config);
    assert_eq!(rows.len(), 4);
    for row in &rows {
        assert_eq!(row.r_min_found, Some(row.r_bound), "{row:?}");
        assert_eq!(row.r_bound, 2 * row.s + row.m);
        // Spread coefficients stay at about P / r.
        assert!(row.max_rel_error <= EXACT_RELATIVE_ERROR, "{row:?}");
        assert!(
            row.max_encoder_coefficient <= 1.5 * 12.0 / row.r_bound as f64,
            "{row:?}"
        );
    }
}
