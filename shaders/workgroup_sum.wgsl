// Helpers prepended by src/kernels/source.rs to the kernels that declare them (no entry point).
//
// workgroup_sum: sum of a vec4 over the workgroup through shared memory (tree halving; WG must
// be a power of two); every invocation must call it in uniform control flow.
// non_finite: NaN/inf test on the bit pattern (WGSL implementations may assume no NaN, so a
// float comparison cannot be trusted to detect one).

const WG: u32 = {{ workgroup_size }}u;

var<workgroup> partial: array<vec4<f32>, WG>;

fn non_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u;
}

fn workgroup_sum(lid: u32, v: vec4<f32>) -> vec4<f32> {
    partial[lid] = v;
    workgroupBarrier();
    var stride = WG / 2u;
    loop {
        if stride == 0u {
            break;
        }
        if lid < stride {
            partial[lid] = partial[lid] + partial[lid + stride];
        }
        workgroupBarrier();
        stride = stride / 2u;
    }
    let total = partial[0];
    workgroupBarrier();
    return total;
}
