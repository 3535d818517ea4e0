//! The cost of one argon2id password hash with Locus's parameters
//! (m = 19 MiB, t = 2, p = 1): what every sign-up, sign-in and password change pays.

use criterion::{criterion_group, criterion_main, Criterion};

fn argon2id(c: &mut Criterion) {
    let mut group = c.benchmark_group("argon2id");
    group.sample_size(20);
    group.bench_function("hash m=19MiB t=2 p=1", |b| {
        b.iter(|| locus_server::auth::passwords::hash_blocking("Correct-horse-battery-9").expect("hash"))
    });
    group.finish();
}

criterion_group!(benches, argon2id);
criterion_main!(benches);
