//===- Kernels.h - Hand-written PTX for the CUDA smoke test -----*- C++ -*-===//
//
// y[i] = a * x[i] + y[i], written by hand so the smoke test needs no
// compiler: it checks the driver layer alone. PTX ISA 8.0 for sm_80 is the
// oldest the CUDA target supports; the driver JIT-compiles it for newer GPUs.
// test/Runtime/Cuda/cuda-ptx-assembles.test runs ptxas over it.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_TOOLS_CUDASMOKE_KERNELS_H
#define MONOCARD_TOOLS_CUDASMOKE_KERNELS_H

namespace monocard {

constexpr const char *SaxpyPtx = R"ptx(//
// monocard-cuda-smoke: saxpy, y[i] = a * x[i] + y[i] for i < n
//
.version 8.0
.target sm_80
.address_size 64

.visible .entry saxpy(
	.param .f32 saxpy_a,
	.param .u64 saxpy_x,
	.param .u64 saxpy_y,
	.param .u32 saxpy_n
)
{
	.reg .pred 	%p<2>;
	.reg .f32 	%f<5>;
	.reg .b32 	%r<6>;
	.reg .b64 	%rd<8>;

	ld.param.f32 	%f1, [saxpy_a];
	ld.param.u64 	%rd1, [saxpy_x];
	ld.param.u64 	%rd2, [saxpy_y];
	ld.param.u32 	%r1, [saxpy_n];
	mov.u32 	%r2, %ctaid.x;
	mov.u32 	%r3, %ntid.x;
	mov.u32 	%r4, %tid.x;
	mad.lo.s32 	%r5, %r2, %r3, %r4;
	setp.ge.u32 	%p1, %r5, %r1;
	@%p1 bra 	$L_done;
	cvta.to.global.u64 	%rd3, %rd1;
	cvta.to.global.u64 	%rd4, %rd2;
	mul.wide.u32 	%rd5, %r5, 4;
	add.s64 	%rd6, %rd3, %rd5;
	add.s64 	%rd7, %rd4, %rd5;
	ld.global.f32 	%f2, [%rd6];
	ld.global.f32 	%f3, [%rd7];
	fma.rn.f32 	%f4, %f1, %f2, %f3;
	st.global.f32 	[%rd7], %f4;
$L_done:
	ret;
}
)ptx";

/// PTX the JIT must reject: checks the error path's message.
constexpr const char *BadPtx = R"ptx(.version 8.0
.target sm_80
.address_size 64
.visible .entry broken()
{
	no_such_instruction.f32 %f1;
	ret;
}
)ptx";

} // namespace monocard

#endif // MONOCARD_TOOLS_CUDASMOKE_KERNELS_H
