//! `.npy` files written by NumPy itself (`tests/fixtures/make_npy_fixtures.py`, NumPy 2.4) read
//! back with the values the script wrote, and the writer reproduces NumPy's bytes.

use std::path::PathBuf;

use nonlin_data::{DataError, NpyData, read_npy, write_npy_f32, write_npy_f64};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

#[test]
fn f32_matrix() {
    let a = read_npy(&fixture("f32_2x3.npy")).unwrap();
    assert_eq!(a.shape, vec![2, 3]);
    assert_eq!(a.data, NpyData::F32(vec![0.0, 1.5, -2.0, 3.25, 0.125, 7.0]));
}

#[test]
fn f64_vector_keeps_nan_and_infinity() {
    let a = read_npy(&fixture("f64_vector.npy")).unwrap();
    assert_eq!(a.shape, vec![5]);
    let NpyData::F64(v) = &a.data else {
        panic!("expected f64 data, got {:?}", a.data);
    };
    assert_eq!(&v[..3], &[0.1, -2.5, 1e300]);
    assert!(v[3].is_nan());
    assert_eq!(v[4], f64::INFINITY);
    // 1e300 overflows f32.
    assert_eq!(a.to_f32()[2], f32::INFINITY);
}

#[test]
fn i64_matrix() {
    let a = read_npy(&fixture("i64_matrix.npy")).unwrap();
    assert_eq!(a.shape, vec![2, 3]);
    assert_eq!(a.data, NpyData::I64(vec![0, -1, 2, 1 << 40, 5, -(1 << 62)]));
}

#[test]
fn fortran_order_is_a_clear_error() {
    let path = fixture("f32_fortran.npy");
    let e = read_npy(&path).unwrap_err();
    assert!(
        matches!(&e, DataError::NpyFortranOrder { path: p } if p == &path),
        "{e}"
    );
}

#[test]
fn writer_reproduces_numpy_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("f32_2x3.npy");
    write_npy_f32(&ours, &[2, 3], &[0.0, 1.5, -2.0, 3.25, 0.125, 7.0]).unwrap();
    assert_eq!(
        std::fs::read(&ours).unwrap(),
        std::fs::read(fixture("f32_2x3.npy")).unwrap()
    );
    let ours = dir.path().join("f64_vector.npy");
    write_npy_f64(&ours, &[5], &[0.1, -2.5, 1e300, f64::NAN, f64::INFINITY]).unwrap();
    assert_eq!(
        std::fs::read(&ours).unwrap(),
        std::fs::read(fixture("f64_vector.npy")).unwrap()
    );
}
