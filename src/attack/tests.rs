//! Each attack against its formula on small inputs, plus the selector, the
//! label flip and the validation of contexts and configurations.

use super::*;
use crate::aggregate;

fn matrix(rows: &[&[f32]]) -> Tensor {
    let d = rows[0].len() as i64;
    let flat: Vec<f32> = rows.iter().flat_map(|row| row.iter().copied()).collect();
    Tensor::from_slice(&flat).reshape([rows.len() as i64, d])
}

fn rows_of(tensor: &Tensor) -> Vec<Vec<f64>> {
    Vec::<Vec<f64>>::try_from(&tensor.to_kind(Kind::Double)).unwrap()
}

fn assert_rows(actual: &Tensor, expected: &[&[f64]], tolerance: f64) {
    let actual = rows_of(actual);
    assert_eq!(actual.len(), expected.len(), "{actual:?}");
    for (row, expected_row) in actual.iter().zip(expected) {
        assert_eq!(row.len(), expected_row.len());
        for (a, e) in row.iter().zip(expected_row.iter()) {
            assert!(
                (a - e).abs() <= tolerance * (1.0 + e.abs()),
                "got {actual:?}, expected {expected:?}"
            );
        }
    }
}

fn apply(config: &AttackConfig, ctx: &AttackContext) -> Tensor {
    build(config).unwrap().apply(ctx).unwrap()
}

/// Five workers; 0 and 4 Byzantine; the honest rows 1..=3 are (1,2) (3,2) (5,8).
fn five_workers() -> Tensor {
    matrix(&[
        &[100.0, -7.0],
        &[1.0, 2.0],
        &[3.0, 2.0],
        &[5.0, 8.0],
        &[-50.0, 9.0],
    ])
}

#[test]
fn alie_z_matches_the_formula() {
    // Expected values from Python's statistics.NormalDist().inv_cdf:
    // n=20, f=8: k = 11 - 8 = 3, p = 9/12 = 0.75; n=25, f=5: k = 8, p = 12/20 = 0.6.
    assert!((alie_z(20, 8) - 0.674_489_750_196_081_7).abs() < 1e-9);
    assert!((alie_z(25, 5) - 0.253_347_103_135_799_8).abs() < 1e-9);
    // Phi^-1 across its range, same source.
    for (p, z) in [
        (1e-6, -4.753_424_308_822_899),
        (0.01, -2.326_347_874_040_840_8),
        (0.3, -0.524_400_512_708_040_7),
        (0.975, 1.959_963_984_540_053_6),
        (0.999_999, 4.753_424_308_817_089),
    ] {
        let got = inverse_normal_cdf(p);
        assert!((got - z).abs() <= 1e-9 * z.abs(), "Phi^-1({p}) = {got}, not {z}");
    }
    assert_eq!(inverse_normal_cdf(0.5), 0.0);
    // The fraction leaves (0, 1): n <= 2, or f > n/2.
    assert_eq!(alie_z(2, 0), f64::NEG_INFINITY);
    assert_eq!(alie_z(5, 3), f64::INFINITY);
}

#[test]
fn alie_sends_mean_minus_z_sigma_of_honest_rows() {
    let honest = five_workers();
    let byzantine = [0, 4];
    let ctx = AttackContext::new(&honest, &byzantine, 2);
    // Honest columns: (1, 3, 5): mean 3, unbiased std 2; (2, 2, 8): mean 4, std sqrt(12).
    let mut config = AttackConfig::new(AttackKind::Alie);
    config.alie_z = Some(1.5);
    let expected = [0.0, 4.0 - 1.5 * 12f64.sqrt()];
    assert_rows(&apply(&config, &ctx), &[&expected, &expected], 1e-6);
    // z from n=5, f=2: k = 1, p = 2/3, z = 0.43072729929545733 (statistics.NormalDist).
    config.alie_z = None;
    let expected = [2.138_545_401_409_085, 2.507_916_866_826_683];
    assert_rows(&apply(&config, &ctx), &[&expected, &expected], 1e-6);
}

#[test]
fn ipm_sends_minus_eps_times_honest_mean() {
    let honest = five_workers();
    let byzantine = [0, 4];
    let ctx = AttackContext::new(&honest, &byzantine, 2);
    let config = AttackConfig::new(AttackKind::Ipm);
    assert_rows(&apply(&config, &ctx), &[&[-0.3, -0.4], &[-0.3, -0.4]], 1e-6);
    let mut large = config.clone();
    large.ipm_eps = 100.0;
    assert_rows(
        &apply(&large, &ctx),
        &[&[-300.0, -400.0], &[-300.0, -400.0]],
        1e-6,
    );
}

#[test]
fn signum_attack_votes_against_narrow_majorities() {
    // n=6, workers 4 and 5 Byzantine, f=2: threshold |S| < 4.
    // Honest sums S = (4, 2, 0, -4): column 0 wide -> +1 (with the majority);
    // column 1 narrow -> -1 (against); column 2 tie -> -1; column 3 wide -> -1.
    let honest = matrix(&[
        &[1.0, 1.0, 1.0, -1.0],
        &[1.0, 1.0, -1.0, -1.0],
        &[1.0, 1.0, 1.0, -1.0],
        &[1.0, -1.0, -1.0, -1.0],
        &[-1.0, -1.0, 1.0, 1.0],
        &[-1.0, 1.0, 1.0, 1.0],
    ]);
    let byzantine = [4, 5];
    let ctx = AttackContext::new(&honest, &byzantine, 2);
    let sent = apply(&AttackConfig::new(AttackKind::SignumAttack), &ctx);
    let vote: &[f64] = &[1.0, -1.0, -1.0, -1.0];
    assert_rows(&sent, &[vote, vote], 0.0);
    // The narrow column loses its majority under Signum: 2 - 2 = 0.
    let attacked = honest.index_copy(0, &index_tensor(&byzantine, Device::Cpu), &sent);
    let mut signum =
        aggregate::build(&aggregate::AggregatorConfig::new(aggregate::Rule::Signum, 2), 6).unwrap();
    let result: Vec<f64> = Vec::try_from(&signum.aggregate(&attacked).unwrap()).unwrap();
    assert_eq!(result, vec![1.0, 0.0, -1.0, -1.0]);
}

#[test]
fn simple_attacks_follow_their_formulas() {
    let honest = five_workers();
    let byzantine = [0, 4];
    let ctx = AttackContext::new(&honest, &byzantine, 2);
    let sent = |kind| apply(&AttackConfig::new(kind), &ctx);
    assert_rows(&sent(AttackKind::None), &[&[100.0, -7.0], &[-50.0, 9.0]], 0.0);
    assert_rows(
        &sent(AttackKind::LabelFlip),
        &[&[100.0, -7.0], &[-50.0, 9.0]],
        0.0,
    );
    assert_rows(
        &sent(AttackKind::Reverse),
        &[&[-10000.0, 700.0], &[5000.0, -900.0]],
        0.0,
    );
    assert_rows(
        &sent(AttackKind::Constant),
        &[&[-100.0, -100.0], &[-100.0, -100.0]],
        0.0,
    );
    assert_rows(&sent(AttackKind::SignFlip), &[&[-100.0, 7.0], &[50.0, -9.0]], 0.0);
    assert_rows(&sent(AttackKind::Huge), &[&[1e30, 1e30], &[1e30, 1e30]], 1e-6);
    assert!(rows_of(&sent(AttackKind::Nan))
        .iter()
        .flatten()
        .all(|v| v.is_nan()));
    assert!(rows_of(&sent(AttackKind::Inf))
        .iter()
        .flatten()
        .all(|v| *v == f64::INFINITY));
    assert!(build(&AttackConfig::new(AttackKind::LabelFlip))
        .unwrap()
        .flips_labels());
    assert!(!build(&AttackConfig::new(AttackKind::Reverse))
        .unwrap()
        .flips_labels());
}

#[test]
fn corrupting_a_fraction_touches_that_many_coordinates() {
    let honest = Tensor::ones([3, 10], (Kind::Float, Device::Cpu));
    let byzantine = [1, 2];
    let ctx = AttackContext::new(&honest, &byzantine, 1);
    let mut config = AttackConfig::new(AttackKind::Nan);
    config.corrupt_fraction = 0.3;
    for row in rows_of(&apply(&config, &ctx)) {
        assert_eq!(row.iter().filter(|v| v.is_nan()).count(), 3);
        assert!(row.iter().filter(|v| !v.is_nan()).all(|v| *v == 1.0));
    }
}

#[test]
fn gaussian_is_seeded_noise_of_the_given_sigma() {
    let honest = Tensor::zeros([4, 20_000], (Kind::Float, Device::Cpu));
    let byzantine = [0, 3];
    let ctx = AttackContext::new(&honest, &byzantine, 1);
    let mut config = AttackConfig::new(AttackKind::Gaussian);
    config.sigma = 3.0;
    config.seed = 42;
    let first = apply(&config, &ctx);
    let again = apply(&config, &ctx);
    assert!(first.equal(&again), "same seed, same noise");
    let std = first.std(true).double_value(&[]);
    let mean = first.mean(Kind::Double).double_value(&[]);
    // 40k samples: the standard error of std is ~0.011, of the mean ~0.015.
    assert!((std - 3.0).abs() < 0.06, "std {std}");
    assert!(mean.abs() < 0.08, "mean {mean}");
    config.seed = 43;
    assert!(!apply(&config, &ctx).equal(&first));
}

fn norms(rows: &Tensor) -> Vec<f64> {
    row_norms(rows)
}

#[test]
fn shift_adds_one_common_vector_of_the_message_norm() {
    let honest = matrix(&[
        &[3.0, 4.0, 0.0],
        &[0.0, 0.0, 1.0],
        &[6.0, 8.0, 0.0],
        &[1.0, 1.0, 1.0],
    ]);
    let byzantine = [0, 2];
    let ctx = AttackContext::new(&honest, &byzantine, 1);
    let sent = apply(&AttackConfig::new(AttackKind::Shift), &ctx);
    let shifts = &sent - ctx.byzantine_messages();
    let difference = (shifts.get(0) - shifts.get(1)).abs().max().double_value(&[]);
    assert!(difference < 1e-5, "all colluders add the same vector");
    // Mean honest norm of the Byzantine rows: (5 + 10)/2 = 7.5.
    assert!((norms(&shifts)[0] - 7.5).abs() < 1e-4);
}

#[test]
fn tiny_errors_are_relative_to_each_message() {
    let honest = matrix(&[&[3.0, 4.0, 0.0], &[0.0, 0.0, 1.0], &[60.0, 80.0, 0.0]]);
    let byzantine = [0, 2];
    let ctx = AttackContext::new(&honest, &byzantine, 1);
    let sent = apply(&AttackConfig::new(AttackKind::Tiny), &ctx);
    let errors = norms(&(&sent - ctx.byzantine_messages()));
    assert!((errors[0] - 5e-3).abs() < 1e-5, "{errors:?}");
    assert!((errors[1] - 0.1).abs() < 1e-4, "{errors:?}");
}

#[test]
fn targeted_sends_what_the_partition_perturbation_changes() {
    // Messages of dimension 2, gradients of dimension 4. Worker w's message
    // changes by w * (delta_0 + delta_1, delta_2 + delta_3); worker 1 does not hold it.
    let honest = Tensor::zeros([4, 2], (Kind::Float, Device::Cpu));
    let gradient = Tensor::from_slice(&[0.0f32, 3.0, 0.0, 4.0]);
    let byzantine = [1, 2, 3];
    let shift = |worker: usize, delta: &Tensor| -> Tensor {
        assert_eq!(delta.size(), vec![4]);
        if worker == 1 {
            return Tensor::zeros([2], (Kind::Float, Device::Cpu));
        }
        delta.reshape([2, 2]).sum_dim_intlist(1, false, None::<Kind>) * worker as f64
    };
    let mut ctx = AttackContext::new(&honest, &byzantine, 1);
    ctx.partition_shift = Some(&shift);
    ctx.target_gradient = Some(&gradient);
    let mut config = AttackConfig::new(AttackKind::Targeted);
    config.target_scale = 2.0;
    let sent = rows_of(&apply(&config, &ctx));
    assert_eq!(sent[0], vec![0.0, 0.0]);
    for k in 0..2 {
        assert!((sent[2][k] - 1.5 * sent[1][k]).abs() < 1e-5, "{sent:?}");
    }
    assert!(sent[1].iter().any(|v| *v != 0.0));
    // A code without the target gradient cannot size delta.
    ctx.target_gradient = None;
    assert!(build(&config).unwrap().apply(&ctx).is_err());
    // Without a code: every Byzantine message moves by the same delta.
    let honest = matrix(&[&[3.0, 4.0], &[0.0, 1.0], &[3.0, 4.0]]);
    let byzantine = [0, 2];
    let ctx = AttackContext::new(&honest, &byzantine, 1);
    let sent = rows_of(&apply(&AttackConfig::new(AttackKind::Targeted), &ctx));
    assert_eq!(sent[0], sent[1]);
    let moved = ((sent[0][0] - 3.0).powi(2) + (sent[0][1] - 4.0).powi(2)).sqrt();
    assert!((moved - 5.0).abs() < 1e-5);
}

#[test]
fn no_byzantine_workers_give_no_rows() {
    let honest = five_workers();
    let ctx = AttackContext::new(&honest, &[], 1);
    for kind in AttackKind::ALL {
        let sent = build(&AttackConfig::new(kind)).unwrap().apply(&ctx).unwrap();
        assert_eq!(sent.size(), vec![0, 2], "{kind}");
    }
}

#[test]
fn bad_contexts_and_configs_are_errors() {
    let honest = five_workers();
    let out_of_range = [5];
    let twice = [1, 1];
    let everyone = [0, 1, 2, 3, 4];
    let reverse = AttackConfig::new(AttackKind::Reverse);
    assert!(build(&reverse)
        .unwrap()
        .apply(&AttackContext::new(&honest, &out_of_range, 1))
        .is_err());
    assert!(build(&reverse)
        .unwrap()
        .apply(&AttackContext::new(&honest, &twice, 1))
        .is_err());
    let error = build(&AttackConfig::new(AttackKind::Alie))
        .unwrap()
        .apply(&AttackContext::new(&honest, &everyone, 2))
        .unwrap_err();
    assert!(error.to_string().contains("honest worker"), "{error}");
    // z infinite: f > n/2.
    let byzantine = [0];
    assert!(build(&AttackConfig::new(AttackKind::Alie))
        .unwrap()
        .apply(&AttackContext::new(&honest, &byzantine, 3))
        .is_err());
    let mut config = AttackConfig::new(AttackKind::Gaussian);
    config.sigma = -1.0;
    assert!(build(&config).is_err());
    let mut config = AttackConfig::new(AttackKind::Nan);
    config.corrupt_fraction = 0.0;
    assert!(build(&config).is_err());
}

#[test]
fn selector_fixed_or_redrawn_and_reproducible() {
    let mut fixed = ByzantineSelector::new(10, 3, false, 7).unwrap();
    let first = fixed.select(0);
    assert_eq!(first.len(), 3);
    assert!(first.windows(2).all(|pair| pair[0] < pair[1]) && first[2] < 10);
    assert!((1..20).all(|t| fixed.select(t) == first));

    let mut redrawn = ByzantineSelector::new(10, 3, true, 7).unwrap();
    let draws: Vec<Vec<usize>> = (0..20).map(|t| redrawn.select(t)).collect();
    assert!(draws.iter().any(|draw| *draw != draws[0]), "redrawn sets vary");
    let mut again = ByzantineSelector::new(10, 3, true, 7).unwrap();
    assert_eq!(again.select(13), draws[13], "select(t) depends only on (seed, t)");

    assert!(ByzantineSelector::new(3, 4, false, 0).is_err());
    let mut explicit = ByzantineSelector::with_workers(5, &[4, 0]).unwrap();
    assert_eq!(explicit.select(3), vec![0, 4]);
    assert!(ByzantineSelector::with_workers(5, &[5]).is_err());
}

#[test]
fn labels_flip_to_c_minus_one_minus_y() {
    let labels = Tensor::from_slice(&[0i64, 1, 9, 4]);
    let flipped: Vec<i64> = Vec::try_from(&flip_labels(&labels, 10)).unwrap();
    assert_eq!(flipped, vec![9, 8, 0, 5]);
    assert_eq!(flip_labels(&labels, 10).kind(), Kind::Int64);
}

#[test]
fn names_agree_across_display_parsing_and_clap() {
    use clap::ValueEnum;
    for kind in AttackKind::ALL {
        let name = kind.to_string();
        assert_eq!(name.parse::<AttackKind>().unwrap(), kind);
        assert_eq!(kind.to_possible_value().unwrap().get_name(), name);
    }
    assert_eq!(AttackKind::value_variants().len(), AttackKind::ALL.len());
}
