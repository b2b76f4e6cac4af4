/* State shared by the shim's files. */
#ifndef UM_SHIM_H
#define UM_SHIM_H

/* Calls made while the shim itself is at work (the core calling libc, which calls an allocator,
 * which calls mmap) go straight on to libc. */
extern _Thread_local int um_shim_depth __attribute__((tls_model("initial-exec")));

#endif
