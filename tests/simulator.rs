//! End-to-end runs of every scheme on synthetic data: coded schemes recover the
//! attack-free model exactly under every attack, plain mean does not survive a
//! reverse-gradient attack, and bad configurations are refused before training.

use solon::attack::AttackKind;
use solon::cluster;
use solon::config::{RunConfig, Scheme};
use solon::data::{synthetic, Dataset, DatasetKind};
use solon::model::ModelKind;
use tch::{Device, Tensor};

fn base() -> RunConfig {
    RunConfig {
        model: ModelKind::Logreg,
        dataset: DatasetKind::Synthetic,
        device: solon::config::DeviceChoice::Cpu,
        workers: 12,
        batch_size: 48,
        iterations: 12,
        eval_every: 6,
        test_samples: 256,
        lr: 0.05,
        seed: 5,
        ..Default::default()
    }
}

fn data() -> Dataset {
    synthetic::gaussian_mixture(5, Device::Cpu)
}

fn train(config: &RunConfig, data: &Dataset) -> cluster::RunOutcome {
    cluster::run(config, data, |_, _| {}).unwrap_or_else(|e| panic!("{config:?}: {e:#}"))
}

fn max_rel_diff(a: &Tensor, b: &Tensor) -> f64 {
    let diff = (a - b).abs().max().double_value(&[]);
    diff / b.abs().max().double_value(&[]).max(1e-12)
}

/// The coded schemes of the small grid, s = 1 of P = 12.
fn coded_schemes() -> Vec<RunConfig> {
    let with = |scheme, r: Option<usize>, m: Option<usize>| RunConfig {
        scheme,
        adversaries: 1,
        redundancy: r,
        compression: m,
        ..base()
    };
    vec![
        with(Scheme::DracoRep, Some(3), None),
        with(Scheme::DracoCyclic, None, None),
        with(Scheme::SolonRep, Some(4), Some(2)),
        with(Scheme::SolonCyclic, None, Some(2)),
        with(Scheme::SolonCyclic, Some(5), Some(3)),
    ]
}

/// Every attack a coded scheme accepts: all but `none` and the Signum-only sign attack.
fn attacks() -> Vec<AttackKind> {
    AttackKind::ALL
        .into_iter()
        .filter(|a| !matches!(a, AttackKind::None | AttackKind::SignumAttack))
        .collect()
}

#[test]
fn coded_schemes_under_every_attack_match_attack_free_plain_mean() {
    let data = data();
    let reference = train(&base(), &data).final_params;
    for scheme in coded_schemes() {
        for attack in attacks() {
            for redraw in [false, true] {
                let config = RunConfig {
                    attack,
                    redraw_byzantine: redraw,
                    ..scheme.clone()
                };
                let outcome = train(&config, &data);
                assert!(!outcome.diverged);
                let diff = max_rel_diff(&outcome.final_params, &reference);
                assert!(
                    diff < 1e-5,
                    "{} r={} m={} under {attack} (redraw {redraw}): model differs from plain mean by {diff:e}",
                    config.scheme,
                    config.redundancy_r(),
                    config.compression_m()
                );
                let last = outcome.records.last().unwrap();
                assert_eq!(last.decode_failures, 0);
                assert!(last.bytes_to_ps > 0 && last.sim_time_s > 0.0);
            }
        }
    }
}

#[test]
fn every_scheme_and_aggregator_trains_under_attack() {
    let data = data();
    let mut configs = coded_schemes();
    configs.push(RunConfig {
        scheme: Scheme::Detox,
        adversaries: 1,
        redundancy: Some(3),
        aggregator: solon::aggregate::Rule::Median,
        ..base()
    });
    for rule in [
        solon::aggregate::Rule::Median,
        solon::aggregate::Rule::TrimmedMean,
        solon::aggregate::Rule::Krum,
        solon::aggregate::Rule::MultiKrum,
        solon::aggregate::Rule::Bulyan,
        solon::aggregate::Rule::Geomed,
        solon::aggregate::Rule::Cclip,
    ] {
        configs.push(RunConfig {
            aggregator: rule,
            adversaries: 2,
            ..base()
        });
    }
    configs.push(RunConfig {
        aggregator: solon::aggregate::Rule::Signum,
        adversaries: 2,
        lr: 0.002,
        ..base()
    });
    for config in configs {
        for attack in [AttackKind::Reverse, AttackKind::Alie, AttackKind::Nan] {
            let config = RunConfig {
                attack,
                iterations: 30,
                eval_every: 30,
                ..config.clone()
            };
            let outcome = train(&config, &data);
            let last = outcome.records.last().unwrap();
            assert!(
                !outcome.diverged,
                "{} {} under {attack} diverged",
                config.scheme, config.aggregator
            );
            assert!(last.test_loss.is_finite());
            assert_eq!(last.iteration, 30);
        }
    }
}

#[test]
fn plain_mean_under_reverse_gradient_is_recorded_as_failing() {
    let data = data();
    let config = RunConfig {
        attack: AttackKind::Reverse,
        adversaries: 2,
        iterations: 60,
        eval_every: 10,
        ..base()
    };
    let outcome = train(&config, &data);
    let clean = train(
        &RunConfig {
            iterations: 60,
            eval_every: 10,
            ..base()
        },
        &data,
    );
    let last = outcome.records.last().unwrap();
    let clean_acc = clean.records.last().unwrap().test_acc;
    assert!(clean_acc > 0.8, "attack-free accuracy {clean_acc}");
    assert!(
        outcome.diverged || last.test_acc < 0.3,
        "plain mean under reverse-gradient should diverge or collapse: acc {} diverged {}",
        last.test_acc,
        outcome.diverged
    );
    assert_eq!(last.diverged, outcome.diverged);
}

#[test]
fn bad_configurations_are_refused_before_training() {
    let too_little_redundancy = RunConfig {
        scheme: Scheme::SolonCyclic,
        adversaries: 2,
        redundancy: Some(5),
        compression: Some(2),
        ..base()
    };
    let e = format!("{:#}", too_little_redundancy.validate().unwrap_err());
    assert!(e.contains("2s+m") || e.contains("2s + m"), "{e}");
    let bulyan = RunConfig {
        aggregator: solon::aggregate::Rule::Bulyan,
        workers: 10,
        batch_size: 40,
        adversaries: 2,
        ..base()
    };
    let e = format!("{:#}", bulyan.validate().unwrap_err());
    assert!(e.contains("bulyan") && e.contains("4f"), "{e}");
    let e = format!(
        "{:#}",
        RunConfig {
            attack: AttackKind::Alie,
            ..base()
        }
        .validate()
        .unwrap_err()
    );
    assert!(e.contains("--adversaries"), "{e}");
    let e = serde_json::from_str::<RunConfig>(r#"{"atack": "alie"}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("atack"), "{e}");
    let e = serde_json::from_str::<RunConfig>(r#"{"attack": "alien"}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("alien"), "{e}");
}

#[test]
fn one_training_costed_on_several_networks() {
    let data = data();
    let config = RunConfig {
        scheme: Scheme::SolonCyclic,
        adversaries: 1,
        attack: AttackKind::Alie,
        ..base()
    };
    let slow = solon::cluster::cost::Network {
        bandwidth_gbps: 1.0,
        latency_ms: 0.5,
    };
    let fast = solon::cluster::cost::Network {
        bandwidth_gbps: 10.0,
        latency_ms: 0.1,
    };
    let outcomes = cluster::run_networks(&config, &data, &[slow, fast], |_, _| {}).unwrap();
    let (a, b) = (&outcomes[0].records, &outcomes[1].records);
    assert_eq!(a.len(), b.len());
    assert!(outcomes[0].final_params.equal(&outcomes[1].final_params));
    for (x, y) in a.iter().zip(b) {
        assert_eq!((x.bandwidth_gbps, y.bandwidth_gbps), (1.0, 10.0));
        assert_eq!(
            (x.test_acc, x.compute_s, x.decode_s, x.bytes_to_ps),
            (y.test_acc, y.compute_s, y.decode_s, y.bytes_to_ps)
        );
        assert!(x.comm_s > 5.0 * y.comm_s, "{} vs {}", x.comm_s, y.comm_s);
        assert!(((x.sim_time_s - y.sim_time_s) - (x.comm_s - y.comm_s)).abs() < 1e-9);
    }
    // Costing on one network is the same as run() with that network in the config.
    let single = cluster::run(
        &RunConfig {
            bandwidth_gbps: 10.0,
            latency_ms: 0.1,
            ..config
        },
        &data,
        |_, _| {},
    )
    .unwrap();
    assert_eq!(single.records.last().unwrap().comm_s, b.last().unwrap().comm_s);
}
