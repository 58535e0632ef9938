//! Turns a [`DataConfig`] into train / validation / test sets. The split depends only on the
//! data config and its `split_seed`, never on the run seed, so every seed of every arm sees the
//! same examples.

use std::path::Path;

use nonlin_data::{
    Dataset, MnistPart, load_digits, load_mnist, locate, modular_addition, two_spirals,
};

use crate::LabError;
use crate::spec::DataConfig;

/// The three parts a run uses.
#[derive(Debug, Clone)]
pub struct Splits {
    pub train: Dataset,
    pub validation: Option<Dataset>,
    pub test: Dataset,
}

/// Loads (or generates) the data and splits it.
pub fn load_splits(
    config: &DataConfig,
    split_seed: u64,
    data_dir: Option<&Path>,
) -> Result<Splits, LabError> {
    match config {
        DataConfig::Mnist {
            validation,
            train_limit,
        } => {
            let dir = locate("mnist", data_dir)?;
            let mut train = load_mnist(&dir, MnistPart::Train)?;
            if let Some(limit) = train_limit {
                let keep: Vec<usize> = (0..(*limit).min(train.len())).collect();
                train = train.subset(&keep);
            }
            let test = load_mnist(&dir, MnistPart::Test)?;
            let (train, validation) = hold_out(train, *validation, split_seed)?;
            Ok(Splits {
                train,
                validation,
                test,
            })
        }
        DataConfig::Digits {
            test_fraction,
            validation,
        } => three_way(
            load_digits()?,
            1.0 - test_fraction - validation,
            *validation,
            split_seed,
        ),
        DataConfig::TwoSpirals {
            n_per_class,
            noise,
            test_fraction,
            validation,
        } => three_way(
            two_spirals(*n_per_class, *noise as f32, split_seed)?,
            1.0 - test_fraction - validation,
            *validation,
            split_seed,
        ),
        DataConfig::ModularAddition {
            p,
            train_fraction,
            validation,
        } => three_way(
            modular_addition(*p)?,
            train_fraction - validation,
            *validation,
            split_seed,
        ),
    }
}

fn hold_out(
    train: Dataset,
    fraction: f64,
    seed: u64,
) -> Result<(Dataset, Option<Dataset>), LabError> {
    if fraction <= 0.0 {
        return Ok((train, None));
    }
    let (train, validation) = train.split_off_validation(fraction, seed)?;
    Ok((train, Some(validation)))
}

/// Splits into train (`train_fraction`), validation and test (the rest).
fn three_way(
    data: Dataset,
    train_fraction: f64,
    validation: f64,
    seed: u64,
) -> Result<Splits, LabError> {
    let mut fractions = vec![train_fraction];
    if validation > 0.0 {
        fractions.push(validation);
    }
    fractions.push(1.0 - train_fraction - validation);
    let mut parts = data.split(&fractions, seed)?;
    let test = parts.pop().expect("three_way asks for at least two parts");
    let validation = if validation > 0.0 { parts.pop() } else { None };
    let train = parts.pop().expect("train part");
    Ok(Splits {
        train,
        validation,
        test,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_split_is_disjoint_complete_and_seeded() {
        let config = DataConfig::Digits {
            test_fraction: 0.25,
            validation: 0.1,
        };
        let a = load_splits(&config, 0, None).unwrap();
        let n = a.train.len() + a.validation.as_ref().unwrap().len() + a.test.len();
        assert_eq!(n, 1797);
        // 0.25 of 1797 = 449.25 -> about 449 test samples
        assert!((a.test.len() as i64 - 449).abs() <= 1, "{}", a.test.len());
        let b = load_splits(&config, 0, None).unwrap();
        assert_eq!(a.test.y, b.test.y);
        let c = load_splits(&config, 1, None).unwrap();
        assert_ne!(a.test.x, c.test.x);
    }

    #[test]
    fn modular_addition_uses_the_train_fraction() {
        let config = DataConfig::ModularAddition {
            p: 11,
            train_fraction: 0.5,
            validation: 0.0,
        };
        let s = load_splits(&config, 3, None).unwrap();
        assert!(s.validation.is_none());
        assert_eq!(s.train.len() + s.test.len(), 121);
        assert!((s.train.len() as i64 - 60).abs() <= 1);
    }
}
