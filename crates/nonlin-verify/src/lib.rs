//! Verification of networks with general nonlinearities: bound propagation (IBP, CROWN,
//! alpha-CROWN) and branch-and-bound. Each method lands as one file here.
