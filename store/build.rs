//! `sqlx::migrate!` embeds `migrations/` at compile time, but a proc macro cannot ask Cargo to
//! watch a directory: a new migration file would not rebuild the crate, and the binary would go
//! on migrating to the schema of its last build. Watching the directory here is the build script
//! sqlx recommends.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
