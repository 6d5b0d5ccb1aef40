/*
 * trap_handler.h - forced into Debian's wasm-rt-impl.c when it is compiled
 * (-include), so that its wasm_rt_trap hands every trap to the sandbox
 * (WASM_RT_TRAP_HANDLER=isl_sbx__trap) instead of its one global jmp_buf.
 */
#ifndef ISL_ISOLATE_TRAP_HANDLER_H
#define ISL_ISOLATE_TRAP_HANDLER_H
_Noreturn void isl_sbx__trap(int code);
#endif
