// Makes the `solon` binaries run without LD_LIBRARY_PATH and really use CUDA when
// the libtorch they link has it: an rpath to the libtorch lib dir, and libtorch_cuda
// linked with --no-as-needed (nothing references its symbols, so the linker would
// otherwise drop it and torch would report CUDA as unavailable).

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // torch-sys (links = "tch") publishes the lib dir it built against.
    let Ok(lib_dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    let lib_dir = PathBuf::from(lib_dir);
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib_dir.display());
    println!("cargo:rustc-env=SOLON_LIBTORCH_LIB={}", lib_dir.display());
    if lib_dir.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-L{}", lib_dir.display());
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
