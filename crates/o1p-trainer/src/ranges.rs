//! The range of every numeric key of the run config, checked in one table so that a bad value
//! is refused with its key and its range (`optim.beta2 = 1.5: must be in [0, 1)`) before any
//! work starts.

use crate::config::{Method, TrainConfig};

/// Where a value must lie. Every range also requires a finite number.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Range {
    /// `> 0`.
    Positive,
    /// `>= 0`.
    NonNegative,
    /// `(0, 1)`.
    OpenUnit,
    /// `[0, 1)`.
    HalfOpenUnit,
    /// `(0, 1]`.
    UnitExcludingZero,
    /// `[0, 1]`.
    ClosedUnit,
    /// An integer `>= n`.
    AtLeast(u32),
}

impl Range {
    fn contains(self, x: f64) -> bool {
        x.is_finite()
            && match self {
                Range::Positive => x > 0.0,
                Range::NonNegative => x >= 0.0,
                Range::OpenUnit => x > 0.0 && x < 1.0,
                Range::HalfOpenUnit => (0.0..1.0).contains(&x),
                Range::UnitExcludingZero => x > 0.0 && x <= 1.0,
                Range::ClosedUnit => (0.0..=1.0).contains(&x),
                Range::AtLeast(n) => x >= f64::from(n),
            }
    }

    fn describe(self) -> String {
        match self {
            Range::Positive => "must be a finite number > 0".into(),
            Range::NonNegative => "must be a finite number >= 0".into(),
            Range::OpenUnit => "must be in (0, 1)".into(),
            Range::HalfOpenUnit => "must be in [0, 1)".into(),
            Range::UnitExcludingZero => "must be in (0, 1]".into(),
            Range::ClosedUnit => "must be in [0, 1]".into(),
            Range::AtLeast(n) => format!("must be at least {n}"),
        }
    }
}

/// Checks every numeric key; `Err` is `key = value: range`.
pub(crate) fn check(c: &TrainConfig) -> Result<(), String> {
    let o = &c.optim;
    let p = &c.on_policy;
    let mut table: Vec<(&str, f64, Range)> = vec![
        ("optim.lr", o.lr, Range::Positive),
        ("optim.min_lr_ratio", o.min_lr_ratio, Range::ClosedUnit),
        ("optim.warmup_ratio", o.warmup_ratio, Range::HalfOpenUnit),
        (
            "optim.weight_decay",
            o.weight_decay.into(),
            Range::NonNegative,
        ),
        ("optim.beta1", o.beta1.into(), Range::HalfOpenUnit),
        ("optim.beta2", o.beta2.into(), Range::HalfOpenUnit),
        // PyTorch's default 1e-8; Burn's 1e-5 damps small updates (see OptimConfig::epsilon).
        ("optim.epsilon", o.epsilon.into(), Range::OpenUnit),
        // 0 turns clipping off, as documented; a negative norm used to do so silently.
        ("optim.max_grad_norm", o.max_grad_norm, Range::NonNegative),
        ("optim.batch_size", o.batch_size as f64, Range::AtLeast(1)),
        (
            "optim.token_budget",
            o.token_budget as f64,
            Range::AtLeast(1),
        ),
        ("optim.epochs", o.epochs as f64, Range::AtLeast(1)),
        ("optim.max_seq_len", o.max_seq_len as f64, Range::AtLeast(2)),
        ("loss.eps", c.loss.eps.into(), Range::OpenUnit),
        ("loss.kl_coef", c.loss.kl_coef.into(), Range::NonNegative),
        ("on_policy.rounds", p.rounds as f64, Range::AtLeast(1)),
        (
            "on_policy.samples_per_round",
            p.samples_per_round as f64,
            Range::AtLeast(1),
        ),
        (
            "on_policy.decode_batch",
            p.decode_batch as f64,
            Range::AtLeast(1),
        ),
    ];
    if let Some(n) = o.trainable_last_layers {
        table.push(("optim.trainable_last_layers", n as f64, Range::AtLeast(1)));
    }
    if let Some(t) = p.temperature {
        table.push(("on_policy.temperature", t.into(), Range::NonNegative));
    }
    if let Some(top_p) = p.top_p {
        table.push(("on_policy.top_p", top_p.into(), Range::UnitExcludingZero));
    }
    if let Some(n) = p.max_new_tokens {
        table.push(("on_policy.max_new_tokens", n as f64, Range::AtLeast(1)));
    }
    match c.method {
        Method::O1Pruner => {}
        Method::Sft { per_problem } => {
            table.push(("method.per_problem", per_problem as f64, Range::AtLeast(1)));
        }
        Method::Dpo { beta, per_problem } => {
            table.push(("method.beta", beta.into(), Range::Positive));
            table.push(("method.per_problem", per_problem as f64, Range::AtLeast(1)));
        }
    }
    for (key, value, range) in table {
        if !range.contains(value) {
            return Err(format!("{key} = {value}: {}", range.describe()));
        }
    }
    // The reward's parameters depend on its kind: o1p-reward checks them, in the same words.
    c.reward.spec.check("reward")
}

#[cfg(test)]
mod tests {
    use crate::TrainConfig;

    #[test]
    fn every_out_of_range_value_is_refused_with_its_key_and_range() {
        let base = "model = 'm'\nsamples = 's'\nout = 'o'\n";
        assert!(TrainConfig::from_toml(base, "run.toml").is_ok());
        // (table, line, key, range as the message words it)
        let cases = [
            ("optim", "lr = 0.0", "optim.lr", "> 0"),
            ("optim", "lr = nan", "optim.lr", "> 0"),
            ("optim", "lr = inf", "optim.lr", "> 0"),
            (
                "optim",
                "min_lr_ratio = 5.0",
                "optim.min_lr_ratio",
                "[0, 1]",
            ),
            (
                "optim",
                "min_lr_ratio = -0.1",
                "optim.min_lr_ratio",
                "[0, 1]",
            ),
            (
                "optim",
                "warmup_ratio = 1.0",
                "optim.warmup_ratio",
                "[0, 1)",
            ),
            ("optim", "weight_decay = -1.0", "optim.weight_decay", ">= 0"),
            ("optim", "weight_decay = nan", "optim.weight_decay", ">= 0"),
            ("optim", "beta1 = 1.0", "optim.beta1", "[0, 1)"),
            ("optim", "beta2 = 1.5", "optim.beta2", "[0, 1)"),
            ("optim", "beta2 = -0.5", "optim.beta2", "[0, 1)"),
            (
                "optim",
                "max_grad_norm = -1.0",
                "optim.max_grad_norm",
                ">= 0",
            ),
            (
                "optim",
                "max_grad_norm = nan",
                "optim.max_grad_norm",
                ">= 0",
            ),
            ("optim", "batch_size = 0", "optim.batch_size", "at least 1"),
            (
                "optim",
                "token_budget = 0",
                "optim.token_budget",
                "at least 1",
            ),
            ("optim", "epochs = 0", "optim.epochs", "at least 1"),
            (
                "optim",
                "max_seq_len = 1",
                "optim.max_seq_len",
                "at least 2",
            ),
            (
                "optim",
                "trainable_last_layers = 0",
                "optim.trainable_last_layers",
                "at least 1",
            ),
            ("reward", "lambda = nan", "reward.lambda", ">= 0"),
            ("reward", "lambda = -2.0", "reward.lambda", ">= 0"),
            ("reward", "clip = [nan, 4.0]", "reward.clip[0]", "finite"),
            ("reward", "clip = [-2.0, inf]", "reward.clip[1]", "finite"),
            ("loss", "eps = 0.0", "loss.eps", "(0, 1)"),
            ("loss", "eps = nan", "loss.eps", "(0, 1)"),
            ("loss", "kl_coef = -1.0", "loss.kl_coef", ">= 0"),
            ("loss", "kl_coef = inf", "loss.kl_coef", ">= 0"),
            ("on_policy", "rounds = 0", "on_policy.rounds", "at least 1"),
            (
                "on_policy",
                "samples_per_round = 0",
                "on_policy.samples_per_round",
                "at least 1",
            ),
            (
                "on_policy",
                "decode_batch = 0",
                "on_policy.decode_batch",
                "at least 1",
            ),
            (
                "on_policy",
                "temperature = nan",
                "on_policy.temperature",
                ">= 0",
            ),
            (
                "on_policy",
                "temperature = -1.0",
                "on_policy.temperature",
                ">= 0",
            ),
            ("on_policy", "top_p = 1.5", "on_policy.top_p", "(0, 1]"),
            ("on_policy", "top_p = 0.0", "on_policy.top_p", "(0, 1]"),
            (
                "on_policy",
                "max_new_tokens = 0",
                "on_policy.max_new_tokens",
                "at least 1",
            ),
            ("method", "method = 'dpo'\nbeta = 0.0", "method.beta", "> 0"),
            ("method", "method = 'dpo'\nbeta = nan", "method.beta", "> 0"),
            (
                "method",
                "method = 'dpo'\nper_problem = 0",
                "method.per_problem",
                "at least 1",
            ),
            (
                "method",
                "method = 'sft'\nper_problem = 0",
                "method.per_problem",
                "at least 1",
            ),
        ];
        for (table, line, key, range) in cases {
            let text = format!("{base}[{table}]\n{line}\n");
            let err = TrainConfig::from_toml(&text, "run.toml")
                .expect_err(&text)
                .to_string();
            assert!(
                err.starts_with("run.toml: ") && err.contains(&format!("{key} = ")),
                "{line}: {err}"
            );
            assert!(err.contains(range), "{line}: {err}");
        }
        // The edges that stay valid: 0 turns clipping and the KL term off, beta2 0 is allowed.
        let edges = format!(
            "{base}[optim]\nmax_grad_norm = 0.0\nmin_lr_ratio = 1.0\nbeta2 = 0.0\n[loss]\nkl_coef = 0.0\n[reward]\nlambda = 0.0\n"
        );
        TrainConfig::from_toml(&edges, "run.toml").unwrap();
    }
}
