//! Theory probes: code that computes a paper's quantity on real (small) networks and checks
//! its claim numerically. Each probe is one file; [`kernels`] holds the machinery they share
//! (Gaussian expectations, dual activations, NNGP/NTK recursions, CKA, empirical NTK).
//!
//! A probe reads a model (and data) or builds its own small networks, and returns a
//! [`ProbeReport`] of named numbers, series and tables; it never trains unless training is its
//! purpose (deep-linear dynamics, grokking). The lab turns a report into a probe folder.

pub mod error;
pub mod feature_diversity;
pub mod kernels;
pub mod probe;

pub use error::TheoryError;
pub use feature_diversity::{Features, effective_dimension, relative_diversity};
pub use probe::{
    Line, Probe, ProbeData, ProbeInput, ProbeReport, ReportTable, RunRecord, SeriesGroup,
};

use serde::{Deserialize, Serialize};

/// Declares the registry of probes: one line per probe, `file_name => Variant(Config)`. The line
/// declares the module `file_name.rs`, re-exports its config, and registers it under the name
/// `file_name` (an experiment's `[probe]` table says `kind = "file_name"`).
macro_rules! probes {
    ($($file:ident => $variant:ident($config:ident)),* $(,)?) => {
        $(pub mod $file; pub use $file::$config;)*

        /// The config of any registered probe, as written in a `[probe]` table.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum ProbeConfig {
            $(#[doc = concat!("`kind = \"", stringify!($file), "\"`")] $variant($config),)*
        }

        impl ProbeConfig {
            /// Every registered name, in registry order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($file)),*];

            /// The probe's registry name.
            pub fn name(&self) -> &'static str {
                match self {
                    $(ProbeConfig::$variant(_) => stringify!($file),)*
                }
            }

            fn probe(&self) -> &dyn Probe {
                match self {
                    $(ProbeConfig::$variant(c) => c,)*
                }
            }
        }
    };
}

probes! {
    deep_linear => DeepLinear(DeepLinearConfig),
    criticality => Criticality(CriticalityConfig),
    ntk => Ntk(NtkConfig),
    infinite_depth => InfiniteDepth(InfiniteDepthConfig),
    rep_geometry => RepGeometry(RepGeometryConfig),
    permutation_ntk => PermutationNtk(PermutationNtkConfig),
    kappa_tune => KappaTune(KappaTuneConfig),
    dense_hebbian => DenseHebbian(DenseHebbianConfig),
    multitask_hebbian => MultitaskHebbian(MultitaskHebbianConfig),
    mutual_info => MutualInfo(MutualInfoConfig),
    zero_cost_nas => ZeroCostNas(ZeroCostNasConfig),
    grokking => Grokking(GrokkingConfig),
}

impl ProbeConfig {
    /// Checks every field of the probe's config.
    pub fn validate(&self) -> Result<(), TheoryError> {
        self.probe().validate()
    }

    /// The numbers the probe reports for this config.
    pub fn metrics(&self) -> Vec<String> {
        self.probe().metrics()
    }

    /// Whether its numbers depend on the seed.
    pub fn random(&self) -> bool {
        self.probe().random()
    }

    /// Runs the probe.
    pub fn run(&self, input: &ProbeInput<'_>) -> Result<ProbeReport, TheoryError> {
        self.probe().validate()?;
        self.probe().run(input)
    }
}
