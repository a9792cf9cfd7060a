//! Hand-computed cases for every rule and the robustness properties they must keep
//! (permutation invariance, fixed points, outliers, non-finite inputs, validation).

use super::*;
use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};

fn matrix(rows: &[&[f32]]) -> Tensor {
    let d = rows[0].len() as i64;
    let flat: Vec<f32> = rows.iter().flat_map(|row| row.iter().copied()).collect();
    Tensor::from_slice(&flat).reshape([rows.len() as i64, d])
}

fn values(tensor: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(&tensor.to_kind(Kind::Double)).unwrap()
}

fn assert_close(actual: &Tensor, expected: &[f64], tolerance: f64) {
    let actual = values(actual);
    assert_eq!(actual.len(), expected.len(), "length of {actual:?}");
    for (a, e) in actual.iter().zip(expected) {
        assert!(
            (a - e).abs() <= tolerance * (1.0 + e.abs()),
            "got {actual:?}, expected {expected:?}"
        );
    }
}

fn run(config: &AggregatorConfig, inputs: &Tensor) -> Result<Tensor> {
    let n = inputs.size()[0] as usize;
    build(config, n)?.aggregate(inputs)
}

fn rule(rule: Rule, f: usize, inputs: &Tensor) -> Tensor {
    run(&AggregatorConfig::new(rule, f), inputs).unwrap()
}

fn random_inputs(rng: &mut StdRng, n: usize, d: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|_| (0..d).map(|_| rng.gen_range(-1.0f32..1.0)).collect())
        .collect()
}

fn to_tensor(rows: &[Vec<f32>]) -> Tensor {
    let borrowed: Vec<&[f32]> = rows.iter().map(|row| row.as_slice()).collect();
    matrix(&borrowed)
}

// ---------------------------------------------------------------- hand cases

#[test]
fn mean_averages_and_drops_non_finite_rows() {
    let inputs = matrix(&[&[1.0, 2.0], &[3.0, 4.0], &[5.0, 0.0]]);
    assert_close(&rule(Rule::Mean, 0, &inputs), &[3.0, 2.0], 1e-7);
    let inputs = matrix(&[&[1.0, 2.0], &[f32::NAN, 0.0], &[3.0, 4.0], &[0.0, f32::INFINITY]]);
    assert_close(&rule(Rule::Mean, 0, &inputs), &[2.0, 3.0], 1e-7);
    let all_bad = matrix(&[&[f32::NAN], &[f32::INFINITY]]);
    assert!(run(&AggregatorConfig::new(Rule::Mean, 0), &all_bad).is_err());
}

#[test]
fn median_odd_even_and_ties() {
    let inputs = matrix(&[
        &[1.0, 10.0, -1.0],
        &[2.0, 20.0, -2.0],
        &[3.0, 30.0, -3.0],
        &[4.0, 40.0, -4.0],
        &[100.0, -50.0, 7.0],
    ]);
    assert_close(&rule(Rule::Median, 2, &inputs), &[3.0, 20.0, -2.0], 0.0);
    // Even n: the mean of the two middle values; a tie in the middle gives that value.
    let inputs = matrix(&[&[1.0, 5.0], &[2.0, 5.0], &[10.0, 1.0], &[3.0, 9.0]]);
    assert_close(&rule(Rule::Median, 1, &inputs), &[2.5, 5.0], 0.0);
}

#[test]
fn trimmed_mean_drops_f_on_each_side() {
    let inputs = matrix(&[
        &[1.0, -3.0],
        &[2.0, 0.0],
        &[3.0, 0.0],
        &[4.0, 100.0],
        &[100.0, 1.0],
    ]);
    assert_close(&rule(Rule::TrimmedMean, 1, &inputs), &[3.0, 1.0 / 3.0], 1e-7);
    // Ties: 1, 7, 7, 7, 9 trimmed by 2 on each side leaves 7.
    let inputs = matrix(&[&[7.0], &[7.0], &[7.0], &[1.0], &[9.0]]);
    assert_close(&rule(Rule::TrimmedMean, 2, &inputs), &[7.0], 0.0);
    // f = 0 is the mean.
    let inputs = matrix(&[&[1.0], &[2.0], &[6.0]]);
    assert_close(&rule(Rule::TrimmedMean, 0, &inputs), &[3.0], 1e-7);
}

#[test]
fn krum_and_multi_krum_hand_case() {
    // 1-D values 20, 2.5, 0, 1, 4; n=5, f=1: 2 neighbours, squared distances.
    // Scores: 1 -> 1+2.25 = 3.25, 2.5 -> 2.25+2.25 = 4.5, 0 -> 1+6.25 = 7.25,
    // 4 -> 2.25+9 = 11.25, 20 -> 256+306.25 = 562.25.
    let inputs = matrix(&[&[20.0, 0.0], &[2.5, 0.0], &[0.0, 0.0], &[1.0, 0.0], &[4.0, 0.0]]);
    assert_close(&rule(Rule::Krum, 1, &inputs), &[1.0, 0.0], 0.0);
    let mut config = AggregatorConfig::new(Rule::MultiKrum, 1);
    config.multi_krum_q = Some(2);
    assert_close(&run(&config, &inputs).unwrap(), &[1.75, 0.0], 1e-7);
    // Default q = n - f = 4: mean of 1, 2.5, 0, 4.
    assert_close(&rule(Rule::MultiKrum, 1, &inputs), &[1.875, 0.0], 1e-7);
}

#[test]
fn krum_breaks_exact_ties_by_coordinate_sum_not_position() {
    // 1-D values 0, 1, 3, 4, 20; scores 10, 5, 5, 10, 545: 1 and 3 tie, the
    // smaller coordinate sum (1) wins in either order.
    let forward = matrix(&[&[0.0], &[1.0], &[3.0], &[4.0], &[20.0]]);
    let backward = matrix(&[&[20.0], &[4.0], &[3.0], &[1.0], &[0.0]]);
    assert_close(&rule(Rule::Krum, 1, &forward), &[1.0], 0.0);
    assert_close(&rule(Rule::Krum, 1, &backward), &[1.0], 0.0);
}

#[test]
fn bulyan_hand_case_one_d() {
    // n=7, f=1: theta=5, beta=3. Values 0, 1, 2, 4, 7, 13, 30.
    // Round 1 (4 neighbours): 0:70 1:47 2:34 4:38 7:106 13:382 30:2278 -> 2
    // Round 2 (3): 0:66 1:46 4:34 7:81 13:261 30:1494 -> 4
    // Round 3 (2): 0:50 1:37 7:72 13:180 30:818 -> 1
    // Round 4 (1): 0:49 7:36 13:36 30:289 -> tie, smaller sum: 7
    // Round 5 (1): 0:169 13:169 30:289 -> tie: 0
    // Selected 0, 1, 2, 4, 7; median 2; closest 2 (0), 1 (1), then 0 and 4
    // both at 2: the smaller, 0. Mean (2 + 1 + 0)/3 = 1.
    let inputs = matrix(&[&[0.0], &[1.0], &[2.0], &[4.0], &[7.0], &[13.0], &[30.0]]);
    assert_eq!(Bulyan::new(1).select(&inputs), vec![2, 3, 1, 4, 0]);
    assert_close(&rule(Rule::Bulyan, 1, &inputs), &[1.0], 1e-7);
    let reversed = matrix(&[&[30.0], &[13.0], &[7.0], &[4.0], &[2.0], &[1.0], &[0.0]]);
    assert_close(&rule(Rule::Bulyan, 1, &reversed), &[1.0], 1e-7);
}

#[test]
fn bulyan_hand_case_two_d() {
    // n=7, f=1, theta=5, beta=3; points (0,4) (1,0) (2,3) (4,1) (7,2) (13,0) (30,-5).
    // Round 1 (4 nb): 100 77 49 53 116 396 2452 -> (2,3)
    // Round 2 (3 nb): (0,4):95 (1,0):67 (4,1):45 (7,2):90 (13,0):266 -> (4,1)
    // Round 3 (2 nb): (0,4):70 (1,0):57 (7,2):80 (13,0):184 -> (1,0)
    // Round 4 (1 nb): (0,4):53 (7,2):40 (13,0):40 -> tie, sum 9 < 13: (7,2)
    // Round 5 (1 nb): (0,4):185 (13,0):185 (30,-5):314 -> tie, sum 4 < 13: (0,4)
    // x: 0 1 2 4 7, median 2, closest 2, 1, then 0 (tie with 4, smaller) -> 1
    // y: 0 1 2 3 4, median 2, closest 2, 1, 3 -> 2
    let inputs = matrix(&[
        &[0.0, 4.0],
        &[1.0, 0.0],
        &[2.0, 3.0],
        &[4.0, 1.0],
        &[7.0, 2.0],
        &[13.0, 0.0],
        &[30.0, -5.0],
    ]);
    assert_eq!(Bulyan::new(1).select(&inputs), vec![2, 3, 1, 4, 0]);
    assert_close(&rule(Rule::Bulyan, 1, &inputs), &[1.0, 2.0], 1e-7);
}

#[test]
fn geomed_hand_cases() {
    // 1-D: the geometric median is the median.
    let inputs = matrix(&[&[0.0], &[1.0], &[2.0], &[3.0], &[100.0]]);
    assert_close(&rule(Rule::Geomed, 2, &inputs), &[2.0], 1e-5);
    // Equilateral triangle: the Fermat point is the centroid (1, 1/sqrt 3).
    let root3 = 3f32.sqrt();
    let inputs = matrix(&[&[0.0, 0.0], &[2.0, 0.0], &[1.0, root3]]);
    let mut config = AggregatorConfig::new(Rule::Geomed, 1);
    config.geomed_iters = 200;
    assert_close(&run(&config, &inputs).unwrap(), &[1.0, 1.0 / 3f64.sqrt()], 1e-4);
    // Square corners and centre: the centre.
    let inputs = matrix(&[&[0.0, 0.0], &[2.0, 0.0], &[0.0, 2.0], &[2.0, 2.0], &[1.0, 1.0]]);
    assert_close(&rule(Rule::Geomed, 2, &inputs), &[1.0, 1.0], 1e-5);
}

#[test]
fn cclip_hand_case_keeps_state() {
    // tau = 1, one iteration, inputs 0, 0, 10. First call starts at the median 0:
    // v = 0 + (0 + 0 + clip(10, 1)) / 3 = 1/3. Second call starts at 1/3:
    // v = 1/3 + (-1/3 - 1/3 + 1) / 3 = 4/9.
    let mut config = AggregatorConfig::new(Rule::Cclip, 1);
    config.cclip_tau = 1.0;
    config.cclip_iters = 1;
    let inputs = matrix(&[&[0.0], &[0.0], &[10.0]]);
    let mut aggregator = build(&config, 3).unwrap();
    assert_close(&aggregator.aggregate(&inputs).unwrap(), &[1.0 / 3.0], 1e-7);
    assert_close(&aggregator.aggregate(&inputs).unwrap(), &[4.0 / 9.0], 1e-7);
}

#[test]
fn signum_majority_with_ties_and_nan() {
    let inputs = matrix(&[
        &[1.0, -1.0, 1.0, 0.5],
        &[1.0, 1.0, -1.0, -2.0],
        &[-3.0, -1.0, 0.0, f32::NAN],
    ]);
    // Columns: +1+1-1 -> 1; -1+1-1 -> -1; +1-1+0 -> 0; +1-1 (NaN abstains) -> 0.
    assert_close(&rule(Rule::Signum, 1, &inputs), &[1.0, -1.0, 0.0, 0.0], 0.0);
}

#[test]
fn nnm_mixes_with_nearest_neighbours() {
    // n=4, f=1: each input becomes the mean of its 3 nearest (itself included).
    // 0: {0,1,3}; 1: {1,0,3}; 3: {3,1,0}; 10: {10,3,1} -> 4/3, 4/3, 4/3, 14/3.
    let inputs = matrix(&[&[0.0], &[1.0], &[3.0], &[10.0]]);
    let mixed = NearestNeighbourMixing::new(1).aggregate_rows(&inputs).unwrap();
    assert_close(
        &mixed.reshape([-1]),
        &[4.0 / 3.0, 4.0 / 3.0, 4.0 / 3.0, 14.0 / 3.0],
        1e-6,
    );
    let mut config = AggregatorConfig::new(Rule::Mean, 1);
    config.nnm = true;
    assert_close(&run(&config, &inputs).unwrap(), &[13.0 / 6.0], 1e-6);
    // Median after mixing: middle of 4/3, 4/3, 4/3, 14/3 -> 4/3.
    config.rule = Rule::Median;
    assert_close(&run(&config, &inputs).unwrap(), &[4.0 / 3.0], 1e-6);
}

#[test]
fn bucketing_averages_disjoint_buckets() {
    let inputs = matrix(&[&[1.0], &[2.0], &[4.0], &[8.0], &[16.0]]);
    let mut bucketing = Bucketing::new(2, 7);
    for _ in 0..5 {
        let means = values(&bucketing.bucket_means(&inputs).unwrap().reshape([-1]));
        assert_eq!(means.len(), 3, "ceil(5/2) buckets");
        // Bucket means times bucket sizes partition the total 31: two pairs and a single.
        let single = means.iter().find(|m| {
            [1.0, 2.0, 4.0, 8.0, 16.0].contains(*m) && {
                let rest: f64 = means.iter().sum::<f64>() - **m;
                (2.0 * rest + **m - 31.0).abs() < 1e-9
            }
        });
        assert!(single.is_some(), "{means:?}");
    }
    // Same seed, same buckets.
    let first = Bucketing::new(2, 3).bucket_means(&inputs).unwrap();
    let again = Bucketing::new(2, 3).bucket_means(&inputs).unwrap();
    assert!(first.equal(&again));
}

// ---------------------------------------------------------------- properties

fn every_config(f: usize) -> Vec<AggregatorConfig> {
    let mut configs: Vec<AggregatorConfig> = Rule::ALL
        .iter()
        .map(|&rule| AggregatorConfig::new(rule, f))
        .collect();
    for rule in [Rule::Median, Rule::Krum, Rule::TrimmedMean] {
        let mut config = AggregatorConfig::new(rule, f);
        config.nnm = true;
        configs.push(config);
    }
    configs
}

#[test]
fn every_rule_is_permutation_invariant() {
    let mut rng = StdRng::seed_from_u64(1);
    for trial in 0..5 {
        let rows = random_inputs(&mut rng, 7, 4);
        let mut shuffled = rows.clone();
        shuffled.shuffle(&mut rng);
        for config in every_config(1) {
            let a = run(&config, &to_tensor(&rows)).unwrap();
            let b = run(&config, &to_tensor(&shuffled)).unwrap();
            let difference = (&a - &b).abs().max().double_value(&[]);
            assert!(
                difference < 1e-5,
                "{} trial {trial}: {:?} vs {:?}",
                config.name(),
                values(&a),
                values(&b)
            );
        }
    }
}

#[test]
fn identical_inputs_come_back() {
    let row = [0.25f32, -3.0, 1e-3, 7.5];
    let rows: Vec<Vec<f32>> = vec![row.to_vec(); 7];
    let inputs = to_tensor(&rows);
    let mut configs = every_config(1);
    let mut bucketed = AggregatorConfig::new(Rule::Median, 1);
    bucketed.bucketing = Some(2);
    configs.push(bucketed);
    for config in configs {
        let output = run(&config, &inputs).unwrap();
        let expected: Vec<f64> = if config.rule == Rule::Signum {
            row.iter().map(|&x| f64::from(x.signum())).collect()
        } else {
            row.iter().map(|&x| f64::from(x)).collect()
        };
        assert_close(&output, &expected, 1e-6);
        assert_eq!(output.size(), vec![4], "{}", config.name());
    }
}

/// n = 7 inputs, f = 2 of them replaced by `bad`; returns (inputs, honest rows).
fn with_outliers(seed: u64, bad: f32) -> (Tensor, Vec<Vec<f32>>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut rows = random_inputs(&mut rng, 7, 4);
    let honest: Vec<Vec<f32>> = rows[..5].to_vec();
    rows[5] = vec![bad; 4];
    rows[6] = vec![bad; 4];
    rows[6][1] = -bad;
    rows.swap(1, 5);
    (to_tensor(&rows), honest)
}

fn honest_range(honest: &[Vec<f32>]) -> Vec<(f64, f64)> {
    (0..honest[0].len())
        .map(|k| {
            let column = honest.iter().map(|row| f64::from(row[k]));
            (
                column.clone().fold(f64::INFINITY, f64::min),
                column.fold(f64::NEG_INFINITY, f64::max),
            )
        })
        .collect()
}

fn assert_within(output: &Tensor, range: &[(f64, f64)], name: &str) {
    for (value, (low, high)) in values(output).iter().zip(range) {
        assert!(
            *low - 1e-6 <= *value && *value <= *high + 1e-6,
            "{name}: {value} outside the honest range [{low}, {high}]"
        );
    }
}

#[test]
fn outliers_at_1e6_do_not_move_robust_rules() {
    for seed in 0..4 {
        let (inputs, honest) = with_outliers(seed, 1e6);
        let range = honest_range(&honest);
        // Krum needs n >= 2f+3 = 7: exactly our n. Bulyan would need 11, so use f=1
        // with one outlier for it below.
        for rule in [Rule::Median, Rule::TrimmedMean, Rule::MultiKrum, Rule::Geomed] {
            let output = run(&AggregatorConfig::new(rule, 2), &inputs).unwrap();
            assert_within(&output, &range, rule.as_str());
        }
        let picked = values(&run(&AggregatorConfig::new(Rule::Krum, 2), &inputs).unwrap());
        assert!(
            honest
                .iter()
                .any(|row| row.iter().zip(&picked).all(|(a, b)| f64::from(*a) == *b)),
            "krum picked {picked:?}, not an honest input"
        );
    }
    // Bulyan with n=7, f=1, one outlier.
    let mut rng = StdRng::seed_from_u64(9);
    let mut rows = random_inputs(&mut rng, 7, 4);
    let honest: Vec<Vec<f32>> = rows[1..].to_vec();
    rows[0] = vec![1e6; 4];
    let output = rule(Rule::Bulyan, 1, &to_tensor(&rows));
    assert_within(&output, &honest_range(&honest), "bulyan");
}

#[test]
fn huge_values_are_outliers_not_nan() {
    // 1e30 squares to 1e60, beyond f32: distances must be computed without overflow.
    let (inputs, honest) = with_outliers(3, 1e30);
    let range = honest_range(&honest);
    for rule in [
        Rule::Krum,
        Rule::MultiKrum,
        Rule::Median,
        Rule::TrimmedMean,
        Rule::Geomed,
    ] {
        let output = run(&AggregatorConfig::new(rule, 2), &inputs).unwrap();
        assert_within(&output, &range, rule.as_str());
    }
    let output = rule(Rule::Cclip, 2, &inputs);
    assert!(all_finite(&output));
}

#[test]
fn up_to_f_non_finite_inputs_give_finite_results() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let (inputs, honest) = with_outliers(5, bad);
        let range = honest_range(&honest);
        let mut configs = every_config(2);
        let mut bucketed = AggregatorConfig::new(Rule::Median, 2);
        bucketed.bucketing = Some(1);
        configs.push(bucketed);
        // Bulyan needs n >= 11 for f = 2; it is checked with f = 1 below.
        configs.retain(|config| config.rule != Rule::Bulyan);
        for config in configs {
            let output =
                run(&config, &inputs).unwrap_or_else(|error| panic!("{} with {bad}: {error}", config.name()));
            assert!(all_finite(&output), "{} with {bad}", config.name());
            if matches!(
                config.rule,
                Rule::Median | Rule::TrimmedMean | Rule::Krum | Rule::MultiKrum | Rule::Mean
            ) {
                assert_within(&output, &range, &config.name());
            }
        }
    }
    // Bulyan, n = 7, f = 1 NaN row; a single NaN coordinate counts too.
    let mut rng = StdRng::seed_from_u64(11);
    let mut rows = random_inputs(&mut rng, 7, 4);
    rows[3][2] = f32::NAN;
    assert!(all_finite(&rule(Rule::Bulyan, 1, &to_tensor(&rows))));
    // Bucketing puts the NaN in one bucket, which the rule then discards.
    let rows = random_inputs(&mut rng, 12, 4);
    let inputs = to_tensor(&rows);
    let _ = inputs.get(4).fill_(f64::NAN);
    let mut config = AggregatorConfig::new(Rule::Median, 1);
    config.bucketing = Some(2);
    assert!(all_finite(&run(&config, &inputs).unwrap()));
}

#[test]
fn too_many_non_finite_inputs_are_an_error_not_nan() {
    let inputs = matrix(&[&[f32::NAN], &[f32::NAN], &[1.0]]);
    let error = run(&AggregatorConfig::new(Rule::Median, 1), &inputs).unwrap_err();
    assert!(error.to_string().contains("not finite"), "{error}");
}

#[test]
fn finite_extremes_never_give_nan() {
    let big = f32::MAX;
    let inputs = matrix(&[
        &[big, -big],
        &[big, -big],
        &[-big, big],
        &[-big, big],
        &[big, big],
        &[-big, -big],
        &[big, -big],
    ]);
    for config in every_config(1) {
        let output = run(&config, &inputs).unwrap_or_else(|error| panic!("{}: {error}", config.name()));
        assert!(
            !values(&output).iter().any(|v| v.is_nan()),
            "{}: {:?}",
            config.name(),
            values(&output)
        );
    }
}

#[test]
fn output_keeps_device_and_kind() {
    let inputs = matrix(&[&[1.0, 2.0], &[3.0, 4.0], &[5.0, 6.0]]).to_kind(Kind::Double);
    for rule in [Rule::Mean, Rule::Median, Rule::Geomed, Rule::Signum] {
        let output = run(&AggregatorConfig::new(rule, 1), &inputs).unwrap();
        assert_eq!(output.kind(), Kind::Double, "{rule}");
        assert_eq!(output.device(), inputs.device());
    }
}

// ---------------------------------------------------------------- validation

#[test]
fn validation_names_the_constraint_and_values() {
    let error = |rule: Rule, n: usize, f: usize| {
        AggregatorConfig::new(rule, f)
            .validate(n)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        error(Rule::Bulyan, 10, 2),
        "bulyan needs n >= 4f+3: n=10, f=2 (needs 11)"
    );
    assert_eq!(
        error(Rule::Krum, 6, 2),
        "krum needs n >= 2f+3: n=6, f=2 (needs 7)"
    );
    assert_eq!(
        error(Rule::TrimmedMean, 4, 2),
        "trimmed-mean needs n >= 2f+1: n=4, f=2 (needs 5)"
    );
    assert!(error(Rule::Mean, 3, 3).contains("f < n"));
    assert!(AggregatorConfig::new(Rule::Bulyan, 2).validate(11).is_ok());
    assert!(AggregatorConfig::new(Rule::Krum, 2).validate(7).is_ok());

    let mut config = AggregatorConfig::new(Rule::Bulyan, 1);
    config.bucketing = Some(2);
    assert_eq!(
        config.validate(12).unwrap_err().to_string(),
        "bulyan needs n >= 4f+3 on the bucket means: n=12 inputs in buckets of 2 give 6, f=1 (needs 7)"
    );
    assert!(config.validate(13).is_ok(), "ceil(13/2) = 7 bucket means");

    let mut config = AggregatorConfig::new(Rule::MultiKrum, 1);
    config.multi_krum_q = Some(6);
    assert!(config.validate(6).unwrap_err().to_string().contains("q=6"));
    config.multi_krum_q = Some(0);
    assert!(config.validate(6).is_err());

    let mut config = AggregatorConfig::new(Rule::Geomed, 1);
    config.geomed_nu = 0.0;
    assert!(config.validate(5).is_err());
    let mut config = AggregatorConfig::new(Rule::Cclip, 1);
    config.cclip_tau = f64::NAN;
    assert!(config.validate(5).is_err());
    let mut config = AggregatorConfig::new(Rule::Median, 1);
    config.bucketing = Some(0);
    assert!(config.validate(5).is_err());
    assert!(build(&AggregatorConfig::new(Rule::Bulyan, 2), 10).is_err());
}

#[test]
fn aggregate_rejects_bad_shapes() {
    let mut aggregator = build(&AggregatorConfig::new(Rule::Median, 1), 3).unwrap();
    assert!(aggregator
        .aggregate(&Tensor::from_slice(&[1.0f32, 2.0, 3.0]))
        .is_err());
    assert!(aggregator
        .aggregate(&Tensor::zeros([4, 2], (Kind::Float, Device::Cpu)))
        .is_err());
    assert!(aggregator
        .aggregate(&Tensor::zeros([3, 2], (Kind::Int64, Device::Cpu)))
        .is_err());
    assert!(aggregator
        .aggregate(&Tensor::zeros([3, 2], (Kind::Float, Device::Cpu)))
        .is_ok());
}

#[test]
fn names_agree_across_display_parsing_and_clap() {
    use clap::ValueEnum;
    for rule in Rule::ALL {
        let name = rule.to_string();
        assert_eq!(name.parse::<Rule>().unwrap(), rule);
        assert_eq!(rule.to_possible_value().unwrap().get_name(), name);
        assert_eq!(Rule::from_str(&name, false).unwrap(), rule);
    }
    assert_eq!(Rule::value_variants().len(), Rule::ALL.len());
    assert!("krum2".parse::<Rule>().is_err());
}

#[test]
fn pairwise_distances_match_a_direct_computation_across_blocks() {
    // d = 70_000 spans two column blocks of the Gram accumulation.
    tch::manual_seed(3);
    let inputs = Tensor::randn([4, 70_000], (Kind::Float, Device::Cpu));
    let _ = inputs.get(3).fill_(f64::NAN);
    let _ = inputs.get(2).narrow(0, 0, 10).fill_(1e30);
    let distances = pairwise_squared_distances(&inputs);
    let double = inputs.to_kind(Kind::Double);
    for i in 0..3 {
        for j in 0..3 {
            let direct = (double.get(i) - double.get(j))
                .square()
                .sum(Kind::Double)
                .double_value(&[]);
            let got = distances.get(i as usize, j as usize);
            assert!(
                (got - direct).abs() <= 1e-9 * direct.max(1.0),
                "({i},{j}): {got} vs {direct}"
            );
            assert_eq!(got, distances.get(j as usize, i as usize), "exactly symmetric");
        }
        assert_eq!(distances.get(i as usize, 3), f64::INFINITY);
        let sum = double.get(i).sum(Kind::Double).double_value(&[]);
        assert!((distances.keys[i as usize] - sum).abs() <= 1e-9 * sum.abs().max(1.0));
    }
    assert_eq!(distances.get(3, 3), f64::INFINITY);
}
