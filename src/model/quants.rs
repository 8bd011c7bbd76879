//! ggml's tensor types: the size of every type a GGUF file may name, and dequantisation to f32
//! of those awpo reads (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K,
//! Q6_K, IQ4_NL). Every formula is ggml's `dequantize_row_*` (ggml-quants.c, llama.cpp as
//! vendored in llama-cpp-python 0.3.36) operation for operation, in f32 and without fused
//! multiply-adds, so the values are bit-identical to ggml's and gguf-py's.

/// A ggml tensor type: values per block, bytes per block, name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GgmlType {
    /// The id stored in GGUF files (`enum ggml_type`).
    pub id: u32,
    /// ggml's name.
    pub name: &'static str,
    /// Values per block (1 for plain floats and ints).
    pub block: u64,
    /// Bytes per block.
    pub bytes: u64,
}

impl GgmlType {
    /// Whether [`dequantise`] reads this type.
    pub fn supported(&self) -> bool {
        SUPPORTED.contains(&self.id)
    }
}

/// Ids that [`dequantise`] reads.
const SUPPORTED: [u32; 14] = [0, 1, 30, 2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 20];

/// `QK_K`: values per K-quant super-block.
const QK_K: u64 = 256;

/// Every type of `enum ggml_type` (ggml.h; ids 4, 5, 31–33 and 36–38 were removed upstream).
const TYPES: [(u32, &str, u64, u64); 35] = [
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22),
    (7, "Q5_1", 32, 24),
    (8, "Q8_0", 32, 34),
    (9, "Q8_1", 32, 36),
    (10, "Q2_K", QK_K, 84),
    (11, "Q3_K", QK_K, 110),
    (12, "Q4_K", QK_K, 144),
    (13, "Q5_K", QK_K, 176),
    (14, "Q6_K", QK_K, 210),
    (15, "Q8_K", QK_K, 292),
    (16, "IQ2_XXS", QK_K, 66),
    (17, "IQ2_XS", QK_K, 74),
    (18, "IQ3_XXS", QK_K, 98),
    (19, "IQ1_S", QK_K, 50),
    (20, "IQ4_NL", 32, 18),
    (21, "IQ3_S", QK_K, 110),
    (22, "IQ2_S", QK_K, 82),
    (23, "IQ4_XS", QK_K, 136),
    (24, "I8", 1, 1),
    (25, "I16", 1, 2),
    (26, "I32", 1, 4),
    (27, "I64", 1, 8),
    (28, "F64", 1, 8),
    (29, "IQ1_M", QK_K, 56),
    (30, "BF16", 1, 2),
    (34, "TQ1_0", QK_K, 54),
    (35, "TQ2_0", QK_K, 66),
    (39, "MXFP4", 32, 17),
    (40, "NVFP4", 64, 36),
    (41, "Q1_0", 128, 18),
    (42, "Q2_0", 64, 18),
];

/// The type with this id, or `None` for an id ggml does not define.
pub fn ggml_type(id: u32) -> Option<GgmlType> {
    TYPES.iter().find(|t| t.0 == id).map(|&(id, name, block, bytes)| GgmlType { id, name, block, bytes })
}

/// Names of the types [`dequantise`] reads, for messages.
pub fn supported_names() -> String {
    SUPPORTED.iter().filter_map(|&id| ggml_type(id)).map(|t| t.name).collect::<Vec<_>>().join(", ")
}

/// Dequantises whole blocks of type `id` (`data.len()` a multiple of its block size in bytes);
/// `None` for a type this crate does not read.
pub fn dequantise(id: u32, data: &[u8]) -> Option<Vec<f32>> {
    let t = ggml_type(id).filter(GgmlType::supported)?;
    let mut out = Vec::with_capacity(data.len() / t.bytes as usize * t.block as usize);
    let blocks = data.chunks_exact(t.bytes as usize);
    match id {
        0 => out.extend(blocks.map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
        1 => out.extend(blocks.map(f16)),
        30 => out.extend(blocks.map(|c| half::bf16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32())),
        _ => blocks.for_each(|b| block(id, b, &mut out)),
    }
    Some(out)
}

/// An IEEE half at the start of `b`.
fn f16(b: &[u8]) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32()
}

/// One block of a quantised type.
fn block(id: u32, b: &[u8], y: &mut Vec<f32>) {
    match id {
        2 => q4_0(b, y),
        3 => q4_1(b, y),
        6 => q5_0(b, y),
        7 => q5_1(b, y),
        8 => q8_0(b, y),
        10 => q2_k(b, y),
        11 => q3_k(b, y),
        12 => q4_k(b, y),
        13 => q5_k(b, y),
        14 => q6_k(b, y),
        20 => iq4_nl(b, y),
        _ => {}
    }
}

/// `block_q4_0`: d (f16), qs[16]; `x = (q - 8) * d`, low nibbles first.
fn q4_0(b: &[u8], y: &mut Vec<f32>) {
    let d = f16(b);
    let qs = &b[2..18];
    y.extend(qs.iter().map(|&q| f32::from(i16::from(q & 0x0f) - 8) * d));
    y.extend(qs.iter().map(|&q| f32::from(i16::from(q >> 4) - 8) * d));
}

/// `block_q4_1`: d, m (f16), qs[16]; `x = q * d + m`.
fn q4_1(b: &[u8], y: &mut Vec<f32>) {
    let (d, m) = (f16(b), f16(&b[2..]));
    let qs = &b[4..20];
    y.extend(qs.iter().map(|&q| f32::from(q & 0x0f) * d + m));
    y.extend(qs.iter().map(|&q| f32::from(q >> 4) * d + m));
}

/// The 5-bit quants of Q5_0 / Q5_1: nibbles of `qs` plus bit j (first half) or j + 12 shifted
/// (second half) of the little-endian `qh`.
fn five_bit(qh: &[u8], qs: &[u8]) -> [u8; 32] {
    let qh = u32::from_le_bytes([qh[0], qh[1], qh[2], qh[3]]);
    let mut q = [0u8; 32];
    for j in 0..16 {
        let xh_0 = (((qh >> j) << 4) & 0x10) as u8;
        let xh_1 = ((qh >> (j + 12)) & 0x10) as u8;
        q[j] = (qs[j] & 0x0f) | xh_0;
        q[j + 16] = (qs[j] >> 4) | xh_1;
    }
    q
}

/// `block_q5_0`: d (f16), qh[4], qs[16]; `x = (q - 16) * d`.
fn q5_0(b: &[u8], y: &mut Vec<f32>) {
    let d = f16(b);
    y.extend(five_bit(&b[2..6], &b[6..22]).iter().map(|&q| f32::from(i16::from(q) - 16) * d));
}

/// `block_q5_1`: d, m (f16), qh[4], qs[16]; `x = q * d + m`.
fn q5_1(b: &[u8], y: &mut Vec<f32>) {
    let (d, m) = (f16(b), f16(&b[2..]));
    y.extend(five_bit(&b[4..8], &b[8..24]).iter().map(|&q| f32::from(q) * d + m));
}

/// `block_q8_0`: d (f16), qs[32] (i8); `x = q * d`.
fn q8_0(b: &[u8], y: &mut Vec<f32>) {
    let d = f16(b);
    y.extend(b[2..34].iter().map(|&q| f32::from(q as i8) * d));
}

/// `block_q2_K`: scales[16], qs[64], d, dmin (f16). Sixteen groups of 16 values, each with a
/// 4-bit scale and 4-bit min: `x = d * sc * q - dmin * m`, q the 2-bit quant.
fn q2_k(b: &[u8], y: &mut Vec<f32>) {
    let (scales, qs) = (&b[0..16], &b[16..80]);
    let (d, min) = (f16(&b[80..]), f16(&b[82..]));
    let mut is = 0;
    for n in 0..2 {
        let q = &qs[32 * n..32 * n + 32];
        for shift in [0, 2, 4, 6] {
            for half in [0, 16] {
                let sc = scales[is];
                is += 1;
                let (dl, ml) = (d * f32::from(sc & 0x0f), min * f32::from(sc >> 4));
                y.extend(q[half..half + 16].iter().map(|&v| dl * f32::from((v >> shift) & 3) - ml));
            }
        }
    }
}

/// `block_q3_K`: hmask[32], qs[64], scales[12] (sixteen 6-bit scales), d (f16);
/// `x = d * (sc - 32) * (q - (high bit clear ? 4 : 0))`.
fn q3_k(b: &[u8], y: &mut Vec<f32>) {
    let (hm, qs, packed) = (&b[0..32], &b[32..96], &b[96..108]);
    let d_all = f16(&b[108..]);
    let mut scales = [0i8; 16];
    for (i, s) in scales.iter_mut().enumerate() {
        let low = if i < 8 { packed[i] & 0x0f } else { packed[i - 8] >> 4 };
        let high = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
        *s = ((low | (high << 4)) as i8).wrapping_sub(32);
    }
    let mut is = 0;
    let mut m = 1u8;
    for n in 0..2 {
        let q = &qs[32 * n..32 * n + 32];
        for shift in [0, 2, 4, 6] {
            for half in [0, 16] {
                let dl = d_all * f32::from(scales[is]);
                is += 1;
                y.extend((half..half + 16).map(|l| {
                    let low = i16::from((q[l] >> shift) & 3);
                    dl * f32::from(low - if hm[l] & m != 0 { 0 } else { 4 })
                }));
            }
            m <<= 1;
        }
    }
}

/// ggml's `get_scale_min_k4`: the 6-bit scale and min of group `j` (0..8) from `scales[12]`.
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// The eight (d·scale, dmin·min) pairs of a Q4_K / Q5_K block, computed as ggml does.
fn k4_scales(b: &[u8]) -> [(f32, f32); 8] {
    let (d, min) = (f16(b), f16(&b[2..]));
    let mut out = [(0.0, 0.0); 8];
    for (j, o) in out.iter_mut().enumerate() {
        let (sc, m) = scale_min_k4(j, &b[4..16]);
        *o = (d * f32::from(sc), min * f32::from(m));
    }
    out
}

/// `block_q4_K`: d, dmin (f16), scales[12], qs[128]; per 64 values, 32 low nibbles with one
/// (scale, min) then 32 high nibbles with the next: `x = d1 * q - m1`.
fn q4_k(b: &[u8], y: &mut Vec<f32>) {
    let s = k4_scales(b);
    for (j, q) in b[16..144].chunks_exact(32).enumerate() {
        let ((d1, m1), (d2, m2)) = (s[2 * j], s[2 * j + 1]);
        y.extend(q.iter().map(|&v| d1 * f32::from(v & 0x0f) - m1));
        y.extend(q.iter().map(|&v| d2 * f32::from(v >> 4) - m2));
    }
}

/// `block_q5_K`: d, dmin (f16), scales[12], qh[32], qs[128]; as Q4_K with a fifth bit from qh.
fn q5_k(b: &[u8], y: &mut Vec<f32>) {
    let s = k4_scales(b);
    let qh = &b[16..48];
    for (j, ql) in b[48..176].chunks_exact(32).enumerate() {
        let ((d1, m1), (d2, m2)) = (s[2 * j], s[2 * j + 1]);
        let (u1, u2) = (1u8 << (2 * j), 2u8 << (2 * j));
        y.extend(ql.iter().zip(qh).map(|(&v, &h)| d1 * f32::from((v & 0x0f) + if h & u1 != 0 { 16 } else { 0 }) - m1));
        y.extend(ql.iter().zip(qh).map(|(&v, &h)| d2 * f32::from((v >> 4) + if h & u2 != 0 { 16 } else { 0 }) - m2));
    }
}

/// `block_q6_K`: ql[128], qh[64], scales[16] (i8), d (f16); `x = d * sc * (q - 32)`.
fn q6_k(b: &[u8], y: &mut Vec<f32>) {
    let d = f16(&b[208..]);
    let start = y.len();
    y.resize(start + 256, 0.0);
    for n in 0..2 {
        let (ql, qh, sc) = (&b[64 * n..64 * n + 64], &b[128 + 32 * n..160 + 32 * n], &b[192 + 8 * n..200 + 8 * n]);
        let out = &mut y[start + 128 * n..start + 128 * n + 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) as i8 - 32;
            let q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) as i8 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i8 - 32;
            let scale = |k: usize| d * f32::from(sc[is + k] as i8);
            out[l] = scale(0) * f32::from(q1);
            out[l + 32] = scale(2) * f32::from(q2);
            out[l + 64] = scale(4) * f32::from(q3);
            out[l + 96] = scale(6) * f32::from(q4);
        }
    }
}

/// `kvalues_iq4nl`: IQ4_NL's non-linear 4-bit grid.
const IQ4NL: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/// `block_iq4_nl`: d (f16), qs[16]; `x = d * grid[q]`.
fn iq4_nl(b: &[u8], y: &mut Vec<f32>) {
    let d = f16(b);
    let qs = &b[2..18];
    y.extend(qs.iter().map(|&q| d * f32::from(IQ4NL[usize::from(q & 0x0f)])));
    y.extend(qs.iter().map(|&q| d * f32::from(IQ4NL[usize::from(q >> 4)])));
}
