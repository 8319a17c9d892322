//! Integration tests of veranda-kpt: the kpt upgrade goldens, property tests, and a
//! differential test against the real `kpt pkg update`.

mod differential;
mod goldens;
mod packages;
mod props;
mod util;
