//! Dequantisation checks: blocks packed here the way ggml's quantisers (`quantize_row_*_ref`)
//! pack them, from random integer quants and scales, must give back the formula's value at every
//! position; and the committed fixture of real llama.cpp blocks must dequantise bit for bit to
//! what gguf-py computed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::gguf_file::GgufFile;
use super::quants::{dequantise, ggml_type};

fn h(x: f32) -> [u8; 2] {
    half::f16::from_f32(x).to_bits().to_le_bytes()
}

fn hf(x: f32) -> f32 {
    half::f16::from_f32(x).to_f32()
}

fn assert_bits(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.to_bits(), w.to_bits(), "{what}: value {i}: got {g}, want {w}");
    }
}

#[test]
fn plain_and_legacy_blocks() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (d, m) = (hf(0.037), hf(-0.41));
    // Q8_0: x = q * d.
    let q8: Vec<i8> = (0..32).map(|_| rng.random()).collect();
    let mut b = h(d).to_vec();
    b.extend(q8.iter().map(|&q| q as u8));
    assert_bits(
        &dequantise(8, &b).unwrap_or_default(),
        &q8.iter().map(|&q| f32::from(q) * d).collect::<Vec<_>>(),
        "Q8_0",
    );
    // Q4_0 / Q4_1 / IQ4_NL: element j in the low nibble of qs[j], element j + 16 in the high one.
    let q4: Vec<u8> = (0..32).map(|_| rng.random_range(0..16)).collect();
    let nibbles: Vec<u8> = (0..16).map(|j| q4[j] | (q4[j + 16] << 4)).collect();
    let with = |head: &[u8]| [head, &nibbles].concat();
    let want: Vec<f32> = q4.iter().map(|&q| f32::from(i16::from(q) - 8) * d).collect();
    assert_bits(&dequantise(2, &with(&h(d))).unwrap_or_default(), &want, "Q4_0");
    let want: Vec<f32> = q4.iter().map(|&q| f32::from(q) * d + m).collect();
    assert_bits(&dequantise(3, &with(&[h(d), h(m)].concat())).unwrap_or_default(), &want, "Q4_1");
    let grid = [-127i8, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
    let want: Vec<f32> = q4.iter().map(|&q| d * f32::from(grid[usize::from(q)])).collect();
    assert_bits(&dequantise(20, &with(&h(d))).unwrap_or_default(), &want, "IQ4_NL");
    // Q5_0 / Q5_1: quantize_row_q5_*_ref puts bit 4 of element j in bit j of qh, of j + 16 in bit j + 16.
    let q5: Vec<u32> = (0..32).map(|_| rng.random_range(0..32)).collect();
    let mut qh = 0u32;
    let mut qs = [0u8; 16];
    for j in 0..16 {
        qs[j] = (q5[j] & 0x0f) as u8 | (((q5[j + 16] & 0x0f) as u8) << 4);
        qh |= ((q5[j] & 0x10) >> 4) << j;
        qh |= ((q5[j + 16] & 0x10) >> 4) << (j + 16);
    }
    let b: Vec<u8> = [&h(d)[..], &qh.to_le_bytes(), &qs].concat();
    let want: Vec<f32> = q5.iter().map(|&q| (q as f32 - 16.0) * d).collect();
    assert_bits(&dequantise(6, &b).unwrap_or_default(), &want, "Q5_0");
    let b: Vec<u8> = [&h(d)[..], &h(m), &qh.to_le_bytes(), &qs].concat();
    let want: Vec<f32> = q5.iter().map(|&q| q as f32 * d + m).collect();
    assert_bits(&dequantise(7, &b).unwrap_or_default(), &want, "Q5_1");
    // F32 / F16 / BF16.
    assert_eq!(dequantise(0, &1.5f32.to_le_bytes()), Some(vec![1.5]));
    assert_eq!(dequantise(1, &h(-2.25)), Some(vec![-2.25]));
    assert_eq!(dequantise(30, &half::bf16::from_f32(3.0).to_bits().to_le_bytes()), Some(vec![3.0]));
}

/// Q2_K / Q3_K quants: 2 bits of element `j + 32k` of each 128 in bits 2k of `qs[j]`.
fn pack_2bit(l: &[u8]) -> Vec<u8> {
    let mut qs = vec![0u8; 64];
    for j in (0..256).step_by(128) {
        for i in 0..32 {
            qs[j / 4 + i] = l[j + i] | (l[j + i + 32] << 2) | (l[j + i + 64] << 4) | (l[j + i + 96] << 6);
        }
    }
    qs
}

#[test]
fn q2_k_and_q3_k_blocks() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let (d, dmin) = (hf(0.0123), hf(0.0045));
    // Q2_K: scales[g] = sc | (min << 4) per 16 values; x = d * sc * q - dmin * min.
    let l: Vec<u8> = (0..256).map(|_| rng.random_range(0..4)).collect();
    let sm: Vec<(u8, u8)> = (0..16).map(|_| (rng.random_range(0..16), rng.random_range(0..16))).collect();
    let mut b: Vec<u8> = sm.iter().map(|&(s, m)| s | (m << 4)).collect();
    b.extend(pack_2bit(&l));
    b.extend(h(d));
    b.extend(h(dmin));
    let want: Vec<f32> = (0..256)
        .map(|i| {
            let (s, m) = sm[i / 16];
            d * f32::from(s) * f32::from(l[i]) - dmin * f32::from(m)
        })
        .collect();
    assert_bits(&dequantise(10, &b).unwrap_or_default(), &want, "Q2_K");
    // Q3_K: 3-bit quants q in 0..8 (value q - 4; bit 2 in hmask), sixteen 6-bit scales (value s - 32).
    let q: Vec<u8> = (0..256).map(|_| rng.random_range(0..8)).collect();
    let ls: Vec<u8> = (0..16).map(|_| rng.random_range(0..64)).collect();
    let mut scales = [0u8; 12];
    for (j, &s) in ls.iter().enumerate() {
        if j < 8 {
            scales[j] = s & 0x0f;
        } else {
            scales[j - 8] |= (s & 0x0f) << 4;
        }
        scales[j % 4 + 8] |= (s >> 4) << (2 * (j / 4));
    }
    let mut hmask = [0u8; 32];
    let low: Vec<u8> = q.iter().map(|&v| v & 3).collect();
    for (j, &v) in q.iter().enumerate() {
        if v > 3 {
            hmask[j % 32] |= 1 << (j / 32);
        }
    }
    let b: Vec<u8> = [&hmask[..], &pack_2bit(&low), &scales, &h(d)].concat();
    let want: Vec<f32> =
        (0..256).map(|i| d * f32::from(i16::from(ls[i / 16]) - 32) * f32::from(i16::from(q[i]) - 4)).collect();
    assert_bits(&dequantise(11, &b).unwrap_or_default(), &want, "Q3_K");
}

/// `scales[12]` of Q4_K / Q5_K from eight 6-bit (scale, min) pairs, as quantize_row_q4_K_ref packs them.
fn pack_k4(sm: &[(u8, u8)]) -> [u8; 12] {
    let mut s = [0u8; 12];
    for (j, &(ls, lm)) in sm.iter().enumerate() {
        if j < 4 {
            s[j] = ls;
            s[j + 4] = lm;
        } else {
            s[j + 4] = (ls & 0x0f) | ((lm & 0x0f) << 4);
            s[j - 4] |= (ls >> 4) << 6;
            s[j] |= (lm >> 4) << 6;
        }
    }
    s
}

#[test]
fn q4_k_q5_k_q6_k_blocks() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (d, dmin) = (hf(0.0021), hf(0.0107));
    let sm: Vec<(u8, u8)> = (0..8).map(|_| (rng.random_range(0..64), rng.random_range(0..64))).collect();
    let value = |i: usize, q: u8| {
        let (s, m) = sm[i / 32];
        d * f32::from(s) * f32::from(q) - dmin * f32::from(m)
    };
    // Q4_K: per 64 values, qs[32 n + j] holds element 64 n + j (low nibble) and 64 n + 32 + j (high).
    let l: Vec<u8> = (0..256).map(|_| rng.random_range(0..16)).collect();
    let mut qs = vec![0u8; 128];
    for n in 0..4 {
        for j in 0..32 {
            qs[32 * n + j] = l[64 * n + j] | (l[64 * n + 32 + j] << 4);
        }
    }
    let b: Vec<u8> = [&h(d)[..], &h(dmin), &pack_k4(&sm), &qs].concat();
    let want: Vec<f32> = (0..256).map(|i| value(i, l[i])).collect();
    assert_bits(&dequantise(12, &b).unwrap_or_default(), &want, "Q4_K");
    // Q5_K: the fifth bit of element 64 n + j in bit 2n of qh[j], of 64 n + 32 + j in bit 2n + 1.
    let l5: Vec<u8> = (0..256).map(|_| rng.random_range(0..32)).collect();
    let (mut qh, mut ql) = (vec![0u8; 32], vec![0u8; 128]);
    for n in 0..4 {
        for j in 0..32 {
            let (a, c) = (l5[64 * n + j], l5[64 * n + 32 + j]);
            qh[j] |= ((a >> 4) << (2 * n)) | ((c >> 4) << (2 * n + 1));
            ql[32 * n + j] = (a & 0x0f) | ((c & 0x0f) << 4);
        }
    }
    let b: Vec<u8> = [&h(d)[..], &h(dmin), &pack_k4(&sm), &qh, &ql].concat();
    let want: Vec<f32> = (0..256).map(|i| value(i, l5[i])).collect();
    assert_bits(&dequantise(13, &b).unwrap_or_default(), &want, "Q5_K");
    // Q6_K: 6-bit quants (value q - 32), sixteen i8 scales, as quantize_row_q6_K_ref packs them.
    let l6: Vec<u8> = (0..256).map(|_| rng.random_range(0..64)).collect();
    let sc: Vec<i8> = (0..16).map(|_| rng.random()).collect();
    let (mut ql, mut qh) = (vec![0u8; 128], vec![0u8; 64]);
    for (n, j) in (0..256).step_by(128).enumerate() {
        for i in 0..32 {
            let q = |k: usize| l6[j + i + 32 * k];
            ql[64 * n + i] = (q(0) & 0x0f) | ((q(2) & 0x0f) << 4);
            ql[64 * n + i + 32] = (q(1) & 0x0f) | ((q(3) & 0x0f) << 4);
            qh[32 * n + i] = (q(0) >> 4) | ((q(1) >> 4) << 2) | ((q(2) >> 4) << 4) | ((q(3) >> 4) << 6);
        }
    }
    let scales: Vec<u8> = sc.iter().map(|&s| s as u8).collect();
    let b: Vec<u8> = [&ql[..], &qh, &scales, &h(d)].concat();
    let want: Vec<f32> = (0..256).map(|i| d * f32::from(sc[i / 16]) * f32::from(i16::from(l6[i]) - 32)).collect();
    assert_bits(&dequantise(14, &b).unwrap_or_default(), &want, "Q6_K");
}

#[test]
fn type_table_and_unsupported_types() {
    let sizes = [(10, 256, 84), (11, 256, 110), (12, 256, 144), (13, 256, 176), (14, 256, 210), (20, 32, 18)];
    for (id, block, bytes) in sizes {
        let t = ggml_type(id).unwrap_or_else(|| panic!("type {id}"));
        assert_eq!((t.block, t.bytes, t.supported()), (block, bytes, true), "{}", t.name);
    }
    // Known but not dequantised (IQ2_XXS), and ids ggml removed or never defined.
    assert!(ggml_type(16).is_some_and(|t| !t.supported()) && dequantise(16, &[0; 66]).is_none());
    assert!([4, 5, 31, 36, 43, 1000].iter().all(|&id| ggml_type(id).is_none() && dequantise(id, &[]).is_none()));
}

#[test]
fn fixture_blocks_match_gguf_py_bit_for_bit() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf/kquant_blocks.gguf");
    let file = GgufFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut types = Vec::new();
    for name in file.tensor_names().into_iter().filter(|n| !n.ends_with(".expected")) {
        let (ty, _) = file.tensor_type(name).unwrap_or_else(|| panic!("{name}"));
        let got = file.read_f32(name).unwrap_or_else(|e| panic!("{e}"));
        let want = file.read_f32(&format!("{name}.expected")).unwrap_or_else(|e| panic!("{e}"));
        assert_bits(&got, &want, name);
        types.push(ty.name);
    }
    types.sort_unstable();
    types.dedup();
    let all = ["IQ4_NL", "Q2_K", "Q3_K", "Q4_0", "Q4_1", "Q4_K", "Q5_0", "Q5_1", "Q5_K", "Q6_K", "Q8_0"];
    assert_eq!(types, all, "every quantised type is covered");
}
