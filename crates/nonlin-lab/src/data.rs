//! Turns a [`DataConfig`] into a task: the data is loaded (or generated) and split into train /
//! validation / test. The split depends only on the data config and its `split_seed`, never on
//! the run seed, so every seed of every arm sees the same examples. A split that would be empty is
//! an error naming the keys that make it so, before anything runs.

use std::path::{Path, PathBuf};

use nonlin_data::{
    Dataset, FitFunction, HeaderMode, MarkovRecall, MarkovRecallConfig, MnistPart, NpyData,
    SbmConfig, Targets, TextCorpus, Vocab, function_fit, load_digits, load_mnist, locate,
    modular_addition, read_csv_matrix, read_npy, smooth_regression, split_indices, two_spirals,
};
use nonlin_learn::task::{
    Classification, LanguageModel, LengthExtrapolation, NodeClassification, NodeMasks, Regression,
    Task, TextSplits,
};

use crate::LabError;
use crate::spec::{DataConfig, FilesTask, VocabKind};

/// The three parts a run uses.
#[derive(Debug, Clone)]
pub struct Splits {
    pub train: Dataset,
    pub validation: Option<Dataset>,
    pub test: Dataset,
}

/// Loads (or generates) the data, splits it, and wraps it in its task.
pub fn load_task(
    config: &DataConfig,
    split_seed: u64,
    data_dir: Option<&Path>,
) -> Result<Box<dyn Task>, LabError> {
    if let DataConfig::Text {
        corpus,
        path,
        vocab,
        context,
        test_fraction,
        validation,
        eval_tokens,
        limit,
    } = config
    {
        let file = match (corpus, path) {
            (Some(name), _) => corpus_file(name, data_dir)?,
            (None, Some(path)) => PathBuf::from(path),
            (None, None) => unreachable!("the spec checks that one is given"),
        };
        let mut text = TextCorpus::read(&file)?.text;
        if let Some(limit) = limit
            && let Some((cut, _)) = text.char_indices().nth(*limit)
        {
            text.truncate(cut);
        }
        let vocab = match vocab {
            VocabKind::Char => Vocab::chars_of(&text),
            VocabKind::Byte => Vocab::bytes(),
        };
        let tokens = vocab.encode(&text)?;
        let splits = text_splits(tokens, vocab, *test_fraction, *validation)?;
        return Ok(Box::new(LanguageModel::new(
            splits,
            *context,
            *eval_tokens,
        )?));
    }
    if let DataConfig::MarkovRecall {
        context,
        train_sequences,
        eval_sequences,
        symbols,
        keys,
        values,
        pairs,
        query_rate,
        sharpness,
        seed,
        validation,
    } = config
    {
        let generator = MarkovRecall::new(MarkovRecallConfig {
            symbols: *symbols,
            keys: *keys,
            values: *values,
            pairs: *pairs,
            query_rate: *query_rate,
            sharpness: *sharpness,
            seed: *seed,
        })?;
        return Ok(Box::new(LengthExtrapolation::new(
            generator,
            *context,
            *train_sequences,
            *eval_sequences,
            *validation,
        )?));
    }
    if let (
        Some(generator),
        DataConfig::Sbm {
            test_fraction,
            validation,
            ..
        },
    ) = (config.sbm(), config)
    {
        return Ok(Box::new(sbm_task(
            &generator,
            *test_fraction,
            *validation,
            split_seed,
        )?));
    }
    let splits = load_splits(config, split_seed, data_dir)?;
    Ok(match config.task() {
        nonlin_learn::TaskKind::Regression => Box::new(Regression::new(
            splits.train,
            splits.validation,
            splits.test,
        )?),
        _ => Box::new(Classification::new(
            splits.train,
            splits.validation,
            splits.test,
        )?),
    })
}

/// A stochastic-block-model graph with its node masks: `validation` and `test_fraction` of the
/// nodes (drawn from `split_seed`), the rest train; a mask that would be empty is an error.
fn sbm_task(
    generator: &SbmConfig,
    test_fraction: f64,
    validation: f64,
    split_seed: u64,
) -> Result<NodeClassification, LabError> {
    let graph = generator.generate()?;
    let n = graph.nodes();
    let mut fractions = vec![1.0 - test_fraction - validation];
    if validation > 0.0 {
        fractions.push(validation);
    }
    fractions.push(test_fraction);
    let empty = |part: &str| LabError::EmptySplit {
        keys: "data.nodes / data.test_fraction / data.validation".into(),
        reason: format!("the {part} mask of {n} nodes would be empty"),
    };
    if fractions[0] <= 1e-9 {
        return Err(empty("train"));
    }
    let mut parts = split_indices(n, &fractions, split_seed)?;
    let test = parts.pop().expect("a test part");
    let validation = (validation > 0.0).then(|| parts.pop().expect("a validation part"));
    let train = parts.pop().expect("a train part");
    for (name, part) in [
        ("train", Some(&train)),
        ("validation", validation.as_ref()),
        ("test", Some(&test)),
    ] {
        if part.is_some_and(Vec::is_empty) {
            return Err(empty(name));
        }
    }
    Ok(NodeClassification::new(
        graph.features,
        graph.feature_dim,
        &graph.edges,
        graph.labels,
        graph.classes,
        NodeMasks {
            train,
            validation,
            test,
        },
    )?)
}

/// The file of a named text data set found by [`locate`].
fn corpus_file(name: &str, data_dir: Option<&Path>) -> Result<PathBuf, LabError> {
    let spec = nonlin_data::DATA_SETS
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| {
            LabError::Other(format!(
                "unknown corpus `{name}`; known: shakespeare (or give `path` to a text file)"
            ))
        })?;
    let folder = locate(name, data_dir)?;
    let plain = folder.join(spec.files[0]);
    Ok(if plain.exists() {
        plain
    } else {
        folder.join(format!("{}.gz", spec.files[0]))
    })
}

/// Cuts a token sequence in order: train, then validation, then the last `test_fraction` as test.
fn text_splits(
    tokens: Vec<u32>,
    vocab: Vocab,
    test_fraction: f64,
    validation: f64,
) -> Result<TextSplits, LabError> {
    let n = tokens.len();
    let test_start = n - ((n as f64 * test_fraction).round() as usize).min(n);
    let val_start = test_start - ((n as f64 * validation).round() as usize).min(test_start);
    let empty = |part: &str| LabError::EmptySplit {
        keys: "data.test_fraction / data.validation".into(),
        reason: format!("the {part} split of {n} tokens would be empty"),
    };
    if val_start == 0 {
        return Err(empty("train"));
    }
    if test_start == n {
        return Err(empty("test"));
    }
    if validation > 0.0 && val_start == test_start {
        return Err(empty("validation"));
    }
    Ok(TextSplits {
        train: tokens[..val_start].to_vec(),
        validation: (validation > 0.0).then(|| tokens[val_start..test_start].to_vec()),
        test: tokens[test_start..].to_vec(),
        vocab,
    })
}

/// Loads (or generates) a data set of samples and splits it.
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
        } => three_way(load_digits()?, *test_fraction, *validation, split_seed),
        DataConfig::TwoSpirals {
            n_per_class,
            noise,
            test_fraction,
            validation,
        } => three_way(
            two_spirals(*n_per_class, *noise as f32, split_seed)?,
            *test_fraction,
            *validation,
            split_seed,
        ),
        DataConfig::ModularAddition {
            p,
            train_fraction,
            validation,
        } => three_way(
            modular_addition(*p)?,
            1.0 - train_fraction,
            *validation,
            split_seed,
        ),
        DataConfig::FunctionFit {
            function,
            n,
            seed,
            test_fraction,
            validation,
        } => {
            let function: FitFunction = function.parse()?;
            let (x, y) = function_fit(function, *n, *seed)?;
            let data = Dataset::regression("function-fit", x, vec![2], y, vec![1])?;
            three_way(data, *test_fraction, *validation, split_seed)
        }
        DataConfig::SmoothRegression {
            n,
            dims,
            terms,
            noise,
            seed,
            test_fraction,
            validation,
        } => {
            let (x, y) = smooth_regression(*n, *dims, *terms, *noise, *seed)?;
            let data = Dataset::regression("smooth-regression", x, vec![*dims], y, vec![1])?;
            three_way(data, *test_fraction, *validation, split_seed)
        }
        DataConfig::Files {
            inputs,
            targets,
            task,
            input_shape,
            test_fraction,
            validation,
        } => {
            let data = load_files(
                Path::new(inputs),
                Path::new(targets),
                *task,
                input_shape.as_deref(),
            )?;
            three_way(data, *test_fraction, *validation, split_seed)
        }
        DataConfig::Text { .. } | DataConfig::MarkovRecall { .. } => Err(LabError::Other(
            "a token sequence task is not a set of samples".into(),
        )),
        DataConfig::Sbm { .. } => Err(LabError::Other(
            "a node-classification graph is not a set of samples".into(),
        )),
    }
}

/// A table of numbers from a `.npy` or CSV file: its shape (rows first) and values.
fn read_table(path: &Path) -> Result<(Vec<usize>, Vec<f64>), LabError> {
    let is_npy = path
        .extension()
        .is_some_and(|e| e == "npy" || e == "gz" && path.to_string_lossy().ends_with(".npy.gz"));
    if is_npy {
        let array = read_npy(path)?;
        let values = match &array.data {
            NpyData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            _ => array.to_f64(),
        };
        if array.shape.is_empty() {
            return Err(LabError::Other(format!(
                "{}: a 0-d array holds no samples; expected rows of samples",
                path.display()
            )));
        }
        Ok((array.shape, values))
    } else {
        let table = read_csv_matrix(path, HeaderMode::Auto)?;
        Ok((vec![table.rows, table.cols], table.values))
    }
}

/// A user's data set from an inputs file and a targets file (one sample per row).
fn load_files(
    inputs: &Path,
    targets: &Path,
    task: FilesTask,
    input_shape: Option<&[usize]>,
) -> Result<Dataset, LabError> {
    let (x_shape, x) = read_table(inputs)?;
    let (y_shape, y) = read_table(targets)?;
    let bad =
        |path: &Path, reason: String| LabError::Other(format!("{}: {reason}", path.display()));
    let n = x_shape[0];
    if y_shape[0] != n {
        return Err(bad(
            targets,
            format!(
                "{} target rows for {n} input rows in {}",
                y_shape[0],
                inputs.display()
            ),
        ));
    }
    if n == 0 {
        return Err(bad(inputs, "no samples".into()));
    }
    let mut sample_shape: Vec<usize> = x_shape[1..].to_vec();
    if sample_shape.is_empty() {
        sample_shape = vec![1];
    }
    if let Some(shape) = input_shape {
        let want: usize = shape.iter().product();
        let have: usize = sample_shape.iter().product();
        if want != have {
            return Err(bad(
                inputs,
                format!("input_shape {shape:?} holds {want} values, but each row has {have}"),
            ));
        }
        sample_shape = shape.to_vec();
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(bad(
            inputs,
            format!("value {i} (row {}) is not finite", i / (x.len() / n).max(1)),
        ));
    }
    if let Some(i) = y.iter().position(|v| !v.is_finite()) {
        return Err(bad(
            targets,
            format!("value {i} (row {}) is not finite", i / (y.len() / n).max(1)),
        ));
    }
    let x: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let name = inputs
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "files".into());
    let data = match task {
        FilesTask::Classification => {
            if y.len() != n {
                return Err(bad(
                    targets,
                    format!(
                        "classification needs one label per row; the rows have {} values",
                        y.len() / n
                    ),
                ));
            }
            let mut labels = Vec::with_capacity(n);
            for (row, &v) in y.iter().enumerate() {
                if v < 0.0 || v.fract() != 0.0 || v > u32::MAX as f64 {
                    return Err(bad(
                        targets,
                        format!("row {row}: label {v} is not a non-negative integer"),
                    ));
                }
                labels.push(v as u32);
            }
            let classes = labels.iter().max().map_or(0, |&m| m as usize + 1);
            Dataset::with_targets(name, x, sample_shape, Targets::Classes { labels, classes })?
        }
        FilesTask::Regression => {
            let target_shape = if y_shape.len() == 1 {
                vec![1]
            } else {
                y_shape[1..].to_vec()
            };
            let y: Vec<f32> = y.iter().map(|&v| v as f32).collect();
            Dataset::regression(name, x, sample_shape, y, target_shape)?
        }
    };
    Ok(data)
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
    for (part, d) in [("train", &train), ("validation", &validation)] {
        if d.is_empty() {
            return Err(LabError::EmptySplit {
                keys: "data.validation".into(),
                reason: format!(
                    "the {part} split of {} samples would be empty",
                    train.len() + validation.len()
                ),
            });
        }
    }
    Ok((train, Some(validation)))
}

/// Splits into train, validation (`validation`) and test (`test_fraction`), checking that no part
/// that is asked for comes out empty.
fn three_way(
    data: Dataset,
    test_fraction: f64,
    validation: f64,
    seed: u64,
) -> Result<Splits, LabError> {
    let n = data.len();
    let train_fraction = 1.0 - test_fraction - validation;
    let empty = |part: &str| LabError::EmptySplit {
        keys: "data.test_fraction / data.validation".into(),
        reason: format!(
            "the {part} split of {n} samples would be empty (test_fraction {test_fraction}, validation {validation})"
        ),
    };
    if train_fraction <= 1e-9 {
        return Err(empty("train"));
    }
    let mut fractions = vec![train_fraction];
    if validation > 0.0 {
        fractions.push(validation);
    }
    fractions.push(test_fraction);
    let sizes: Vec<usize> = split_indices(n, &fractions, seed)?
        .iter()
        .map(Vec::len)
        .collect();
    let names: &[&str] = if validation > 0.0 {
        &["train", "validation", "test"]
    } else {
        &["train", "test"]
    };
    if let Some(k) = sizes.iter().position(|&s| s == 0) {
        return Err(empty(names[k]));
    }
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
        assert_eq!(a.test.targets, b.test.targets);
        let c = load_splits(&config, 1, None).unwrap();
        assert_ne!(a.test.x, c.test.x);
    }

    fn sbm(nodes: usize, test_fraction: f64, validation: f64) -> DataConfig {
        DataConfig::Sbm {
            nodes,
            classes: 2,
            p_in: 0.5,
            p_out: 0.1,
            features: 4,
            separation: 1.0,
            noise: 1.0,
            seed: 0,
            test_fraction,
            validation,
        }
    }

    #[test]
    fn sbm_masks_are_disjoint_complete_and_never_empty() {
        let task = load_task(&sbm(100, 0.2, 0.16), 0, None).unwrap();
        // 64 / 16 / 20 of 100 nodes; one training item, the whole graph
        assert_eq!(task.train_len(), 1);
        assert_eq!(task.split_len(nonlin_learn::task::Split::Validation), 16);
        assert_eq!(task.split_len(nonlin_learn::task::Split::Test), 20);
        // 3 nodes: 0.2 of them rounds to 1 test node, 0.16 to 0 validation nodes
        let e = load_task(&sbm(3, 0.2, 0.16), 0, None)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("validation mask"), "{e}");
        let e = load_task(&sbm(2, 0.2, 0.0), 0, None)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("test mask"), "{e}");
        assert!(load_task(&sbm(0, 0.2, 0.16), 0, None).is_err());
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

    /// Bug: a split that would be empty ran anyway (an empty test split scored loss 0). It must be
    /// an error naming the keys, before anything runs.
    #[test]
    fn empty_splits_are_errors_naming_the_keys() {
        let digits = |test_fraction, validation| DataConfig::Digits {
            test_fraction,
            validation,
        };
        // 0.0001 of 1797 rounds to 0 test samples
        let e = load_splits(&digits(0.0001, 0.0), 0, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("data.test_fraction") && e.contains("test split"),
            "{e}"
        );
        // 0.7 + 0.3 leaves nothing to train on (0.3 < 1 - 0.7 only by rounding)
        let e = load_splits(&digits(0.7, 0.3), 0, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("train split"), "{e}");
        let e = load_splits(&digits(0.25, 0.0001), 0, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("validation split"), "{e}");
        // and the same through the task for a text corpus
        let vocab = Vocab::chars_of("ab");
        let tokens = vec![0u32; 10];
        assert!(text_splits(tokens.clone(), vocab.clone(), 0.01, 0.0).is_err());
        assert!(text_splits(tokens.clone(), vocab.clone(), 0.99, 0.0).is_err());
        assert!(text_splits(tokens.clone(), vocab.clone(), 0.2, 0.01).is_err());
        let s = text_splits(tokens, vocab, 0.2, 0.1).unwrap();
        assert_eq!(
            (s.train.len(), s.validation.unwrap().len(), s.test.len()),
            (7, 1, 2)
        );
    }

    #[test]
    fn smooth_regression_is_a_regression_task() {
        let config = DataConfig::SmoothRegression {
            n: 100,
            dims: 4,
            terms: 3,
            noise: 0.0,
            seed: 1,
            test_fraction: 0.25,
            validation: 0.0,
        };
        let task = load_task(&config, 0, None).unwrap();
        assert_eq!(task.kind(), nonlin_learn::TaskKind::Regression);
        assert_eq!(task.train_len(), 75);
        assert_eq!(task.io().output, vec![1]);
    }

    /// A named function of two inputs as a regression task: 4096 points split in half.
    #[test]
    fn function_fit_is_a_two_input_regression() {
        let config = DataConfig::FunctionFit {
            function: "sin_cos_xy".into(),
            n: 4096,
            seed: 0,
            test_fraction: 0.5,
            validation: 0.0,
        };
        let task = load_task(&config, 0, None).unwrap();
        assert_eq!(task.kind(), nonlin_learn::TaskKind::Regression);
        assert_eq!(task.train_len(), 2048);
        assert_eq!(task.io().output, vec![1]);
        let bad = DataConfig::FunctionFit {
            function: "sine".into(),
            n: 10,
            seed: 0,
            test_fraction: 0.5,
            validation: 0.0,
        };
        assert!(load_task(&bad, 0, None).is_err());
    }

    /// A user's files: inputs and targets from .npy and CSV, with bad files named in errors.
    #[test]
    fn files_load_as_classification_or_regression() {
        let dir = tempfile::tempdir().unwrap();
        let x = dir.path().join("x.npy");
        let xs: Vec<f32> = (0..40).map(|i| i as f32 / 10.0).collect();
        nonlin_data::write_npy_f32(&x, &[10, 2, 2], &xs).unwrap();
        let y = dir.path().join("y.csv");
        std::fs::write(&y, "label\n0\n1\n2\n0\n1\n2\n0\n1\n2\n0\n").unwrap();
        let files = |targets: &Path, task, input_shape: Option<Vec<usize>>| DataConfig::Files {
            inputs: x.display().to_string(),
            targets: targets.display().to_string(),
            task,
            input_shape,
            test_fraction: 0.3,
            validation: 0.0,
        };
        let s = load_splits(&files(&y, FilesTask::Classification, None), 0, None).unwrap();
        assert_eq!(s.train.sample_shape, vec![2, 2]);
        assert_eq!(s.train.classes(), Some(3));
        assert_eq!(s.train.len() + s.test.len(), 10);
        let s = load_splits(&files(&y, FilesTask::Regression, Some(vec![4])), 0, None).unwrap();
        assert_eq!(s.train.sample_shape, vec![4]);
        let e = load_splits(&files(&y, FilesTask::Regression, Some(vec![3])), 0, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("input_shape"), "{e}");
        // fractional labels, NaN targets and a row-count mismatch are errors naming the file
        std::fs::write(&y, "0\n1.5\n2\n0\n1\n2\n0\n1\n2\n0\n").unwrap();
        let e = load_splits(&files(&y, FilesTask::Classification, None), 0, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("y.csv") && e.contains("row 1"), "{e}");
        std::fs::write(&y, "0\nnan\n2\n0\n1\n2\n0\n1\n2\n0\n").unwrap();
        let e = load_splits(&files(&y, FilesTask::Regression, None), 0, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("y.csv") && e.contains("not finite"), "{e}");
        std::fs::write(&y, "0\n1\n").unwrap();
        let e = load_splits(&files(&y, FilesTask::Regression, None), 0, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 target rows for 10"), "{e}");
    }
}
