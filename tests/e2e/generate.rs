//! KV-cached batched generation on the CPU backend (tiny Qwen3 + LoRA fixture): cached logits
//! equal a full recompute on ragged prompts; sampling log-probs equal teacher-forced ones; the
//! same seed gives the same samples; one prefill per prompt whatever the group size; greedy rows
//! of a ragged batch equal the same prompts run alone; stop tokens and max new tokens end rows.

use awpo::rollout::{Finish, GenerateOptions, Sampling};
use burn::tensor::Device;

use crate::common::generation::{cache_vs_recompute, logp_vs_teacher_forcing, prompts, sample, sampled, tiny};
use crate::common::seed;

#[test]
fn kv_cache_equals_full_recompute_on_ragged_rows() {
    let seed = seed("kv_cache_equals_full_recompute_on_ragged_rows");
    let model = tiny(&Device::flex());
    let rows = prompts(seed, &[9, 4, 13, 6], model.config().vocab_size);
    let err = cache_vs_recompute(&model, &rows, &[3, 4, 5, 1]);
    eprintln!("max |cached - recomputed logit| = {err:.2e}");
    assert!(err < 1e-4, "{err}");
}

#[test]
fn sampling_is_seeded_shares_prefill_and_scores_like_teacher_forcing() {
    let seed = seed("sampling_is_seeded_shares_prefill_and_scores_like_teacher_forcing");
    let model = tiny(&Device::flex());
    let v = model.config().vocab_size;
    let ps = prompts(seed, &[5, 2, 8], v);
    let (group, max_new) = (4, 7);
    let out = sample(&model, &ps, group, &sampled(seed, max_new));
    assert_eq!(out.samples.len(), ps.len() * group);
    assert_eq!(out.stats.prefill_rows, ps.len(), "one prefill per prompt, not per sample");
    assert_eq!(out.stats.prefill_tokens, 15);
    assert_eq!(out.stats.decode_steps, max_new - 1, "the first token comes from the prefill");
    for s in &out.samples {
        assert_eq!((s.tokens.len(), s.finish), (max_new, Finish::Length));
        assert!(s.tokens.iter().all(|&t| (t as usize) < v));
        for (lp, q) in s.logps.iter().zip(&s.sample_logps) {
            assert!((lp - q).abs() < 1e-5, "temperature 1, no truncation: q = p");
        }
    }
    let err = logp_vs_teacher_forcing(&model, &ps, &out);
    eprintln!("max |sampling - teacher-forced log-prob| = {err:.2e}");
    assert!(err < 1e-4, "{err}");
    assert_eq!(out, sample(&model, &ps, group, &sampled(seed, max_new)), "same seed, same samples");
    let other = sample(&model, &ps, group, &sampled(seed ^ 1, max_new));
    assert_ne!(out.samples, other.samples, "another seed, other samples");
    let distinct = |p: usize| {
        let mut rows: Vec<_> = out.samples.iter().filter(|s| s.prompt == p).map(|s| &s.tokens).collect();
        rows.dedup();
        rows.len()
    };
    assert!((0..ps.len()).any(|p| distinct(p) > 1), "the samples of a group differ");
}

#[test]
fn greedy_batch_equals_prompts_alone_and_stops_end_rows() {
    let seed = seed("greedy_batch_equals_prompts_alone_and_stops_end_rows");
    let model = tiny(&Device::flex());
    let ps = prompts(seed, &[3, 11, 6], model.config().vocab_size);
    let greedy = GenerateOptions {
        sampling: Sampling { temperature: 0.0, ..Sampling::default() },
        max_new_tokens: 9,
        ..GenerateOptions::default()
    };
    let batch = sample(&model, &ps, 1, &greedy);
    for (p, prompt) in ps.iter().enumerate() {
        let alone = sample(&model, std::slice::from_ref(prompt), 1, &greedy);
        assert_eq!(batch.samples[p].tokens, alone.samples[0].tokens, "prompt {p}: padding leaked into the batch");
        assert!(batch.samples[p].sample_logps.iter().all(|&q| q == 0.0), "greedy: q = 1");
    }
    // Stop on the 4th greedy token of row 0: that row ends there (token kept), the others go on
    // unless they meet it too.
    let stop = batch.samples[0].tokens[3];
    let stopped = sample(&model, &ps, 1, &GenerateOptions { stop_tokens: vec![stop], ..greedy.clone() });
    for (s, full) in stopped.samples.iter().zip(&batch.samples) {
        match full.tokens.iter().position(|&t| t == stop) {
            Some(at) => {
                assert_eq!(s.tokens, full.tokens[..=at], "row ends at its first stop token");
                assert_eq!(s.finish, Finish::StopToken);
            }
            None => assert_eq!((&s.tokens, s.finish), (&full.tokens, Finish::Length)),
        }
    }
    let none = sample(&model, &ps, 2, &GenerateOptions { max_new_tokens: 0, ..greedy });
    assert!(none.samples.iter().all(|s| s.tokens.is_empty()) && none.stats.prefill_rows == 0);
}

#[test]
fn device_draws_equal_the_host_sampler() {
    let seed = seed("device_draws_equal_the_host_sampler");
    let device = Device::flex();
    crate::common::draws::greedy_equals_the_host(&device, seed);
    crate::common::draws::inverse_cdf_equals_the_host_walk(&device, seed);
    crate::common::draws::truncated_draws_follow_the_host_distribution(&device, seed);
}

/// A kept cache continues a conversation like a fresh prefill of the whole of it: rows that
/// ended early (set aside while others decoded), rows whose new prompt extends what they hold,
/// one that diverges inside it (rewound), one whose prompt is a prefix of it, in a new order;
/// then a second continuation from the first's caches.
#[test]
fn a_held_cache_continues_like_a_fresh_prefill() {
    use awpo::rollout::{generate_held, generate_part};
    use rand::{Rng, SeedableRng};
    let seed = seed("a_held_cache_continues_like_a_fresh_prefill");
    let model = tiny(&Device::flex());
    let v = model.config().vocab_size;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let ps = prompts(seed, &[5, 2, 8], v);
    // About one token in six stops a row, so rows end at different steps.
    let stops: Vec<u32> = (0..v as u32).filter(|_| rng.random_range(0..6) == 0).collect();
    let opts = GenerateOptions { stop_tokens: stops, ..sampled(seed, 12) };
    let fresh = |prompts: &[Vec<u32>], group: usize, o: &GenerateOptions| {
        generate_part(&model, prompts, group, o, None, 0, &mut |_, _| {}).unwrap_or_else(|e| panic!("{e}"))
    };
    let (out, held) = generate_held(&model, &ps, 3, &opts, None, 0, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, fresh(&ps, 3, &opts), "keeping the caches changes no draw");
    let lengths: Vec<usize> = out.samples.iter().map(|s| s.tokens.len()).collect();
    assert!(lengths.iter().min() < lengths.iter().max(), "rows ended at different steps: {lengths:?}");
    let held = held.expect("held caches");
    assert_eq!(held.rows(), 9);
    for (r, s) in out.samples.iter().enumerate() {
        let want: Vec<u32> = ps[s.prompt].iter().chain(&s.tokens[..s.tokens.len() - 1]).copied().collect();
        assert_eq!(held.ids(r), Some(&want[..]), "row {r} holds its prompt and all but its last token");
    }
    let greedy = GenerateOptions {
        sampling: Sampling { temperature: 0.0, ..Sampling::default() },
        max_new_tokens: 6,
        ..GenerateOptions::default()
    };
    let order = [7, 0, 4, 2, 8];
    let mut next: Vec<Vec<u32>> = order
        .iter()
        .map(|&r| {
            let s = &out.samples[r];
            let mut p: Vec<u32> = ps[s.prompt].iter().chain(&s.tokens).copied().collect();
            p.extend((0..rng.random_range(1..5)).map(|_| rng.random_range(0..v as u32)));
            p
        })
        .collect();
    next[2][1] = (next[2][1] + 1) % v as u32; // diverges at its second token
    let prefix = held.ids(order[3]).expect("row").to_vec();
    next[3] = prefix[..prefix.len().min(3)].to_vec(); // a prefix of what it holds
    let expect_kept: usize = order
        .iter()
        .zip(&next)
        .map(|(&r, p)| {
            let ids = held.ids(r).expect("row");
            ids.iter().zip(p).take_while(|(a, b)| a == b).count().min(p.len() - 1)
        })
        .sum();
    let held = held.select(&order).unwrap_or_else(|e| panic!("{e}"));
    let (mut held, mut expect_kept) = (Some(held), expect_kept);
    for round in 1..=2 {
        let (cont, kept) =
            generate_held(&model, &next, 1, &greedy, None, 0, held.take()).unwrap_or_else(|e| panic!("{e}"));
        let whole = fresh(&next, 1, &greedy);
        let total: usize = next.iter().map(Vec::len).sum();
        assert_eq!(cont.stats.reused_tokens, expect_kept, "round {round}: the shared prefixes came from the caches");
        assert_eq!(cont.stats.prefill_tokens + cont.stats.reused_tokens, total);
        let mut worst = 0.0f64;
        for (a, b) in cont.samples.iter().zip(&whole.samples) {
            assert_eq!(a.tokens, b.tokens, "round {round}: a held cache decodes like a fresh prefill");
            worst = a.logps.iter().zip(&b.logps).fold(worst, |w, (x, y)| w.max((x - y).abs()));
        }
        eprintln!("round {round}: max |held - fresh log-prob| = {worst:.2e}");
        assert!(worst < 1e-4, "{worst}");
        // Next: each prompt, its reply and two more ids; all but the reply's last id are held.
        expect_kept = next.iter().zip(&cont.samples).map(|(p, s)| p.len() + s.tokens.len() - 1).sum();
        next = cont
            .samples
            .iter()
            .zip(&next)
            .map(|(s, p)| p.iter().chain(&s.tokens).chain(&[1, 2]).copied().collect())
            .collect();
        held = kept;
    }
}

/// A prefill in chunks of prompt columns leaves the cache that one call leaves: the same tokens
/// and log-probs (to 1e-4) with chunks of 1, 4 and 5 columns as with the whole prompts at once,
/// on ragged prompts, fresh and continued from a held cache.
#[test]
fn a_prefill_in_chunks_equals_one_call() {
    use awpo::rollout::generate_held;
    let seed = seed("a_prefill_in_chunks_equals_one_call");
    let model = tiny(&Device::flex());
    let v = model.config().vocab_size;
    let ps = prompts(seed, &[9, 4, 13, 6], v);
    let with = |chunk| GenerateOptions { prefill_chunk: chunk, ..sampled(seed, 6) };
    let close = |a: &awpo::rollout::Generation, b: &awpo::rollout::Generation, what: &str| {
        assert_eq!(a.samples.len(), b.samples.len());
        for (x, y) in a.samples.iter().zip(&b.samples) {
            assert_eq!(x.tokens, y.tokens, "{what}");
            let err = x.logps.iter().zip(&y.logps).map(|(p, q)| (p - q).abs()).fold(0.0, f64::max);
            assert!(err < 1e-4 && x.logps.iter().all(|l| l.is_finite()), "{what}: {err}");
        }
    };
    let whole = sample(&model, &ps, 2, &with(0));
    let run = |chunk| {
        let (first, held) =
            generate_held(&model, &ps, 1, &with(chunk), None, 0, None).unwrap_or_else(|e| panic!("{e}"));
        let next: Vec<Vec<u32>> = ps
            .iter()
            .zip(&first.samples)
            .map(|(p, s)| p.iter().chain(&s.tokens).chain(&[1, 2, 3]).copied().collect())
            .collect();
        let (second, _) =
            generate_held(&model, &next, 1, &with(chunk), None, 0, held).unwrap_or_else(|e| panic!("{e}"));
        (first, second)
    };
    let (first_whole, second_whole) = run(0);
    for chunk in [1, 4, 5] {
        close(&sample(&model, &ps, 2, &with(chunk)), &whole, &format!("chunk {chunk}, group 2"));
        let (first, second) = run(chunk);
        close(&first, &first_whole, &format!("chunk {chunk}, first turn"));
        close(&second, &second_whole, &format!("chunk {chunk}, continued from a held cache"));
    }
}
