// Streaming through Node allocates a fresh buffer for every socket read (64 KiB) and, for an HTTP
// client, another for every body chunk; the garbage collector frees them in batches. glibc gives
// the freed top of its heap back to the kernel once more than its trim threshold (128 KiB by
// default) is free there, so the next buffers fault their pages in again, one by one. On this
// machine those page faults and the copies into fresh pages were nearly half the CPU of an
// S3 download, which ran at a third of the floor's speed (bench/results/2026-12-08a-adhoc.md).
//
// Node cannot reach mallopt, and GLIBC_TUNABLES is read only when a process starts, which a
// `reactor` started by npm, a supervisor or a test does not control. glibc raises its thresholds
// by itself, though: freeing a block it had mmapped (any over 128 KiB) sets the mmap threshold to
// that block's size and the trim threshold to twice that (its "dynamic mmap threshold"), for blocks
// under 32 MiB. So one 31 MiB buffer, dropped at once and freed by the next garbage collection,
// lets the process keep up to 62 MiB of freed heap for its next buffers: one collection can free
// more than 32 MiB of them at once (a 16 MiB block still let a download fault 84 MiB back in).
// Elsewhere than glibc, or with GLIBC_TUNABLES set, it is 31 MiB allocated and freed once.

/**
 * Makes glibc keep up to 62 MiB of freed heap rather than return it to the kernel at 128 KiB.
 * Self-contained, so its test can run it in a process of its own.
 */
export const keepFreedHeap = () => {
  // Over the 128 KiB mmap threshold, so it is mmapped; under 32 MiB with glibc's header and page
  // rounding, past which glibc ignores it.
  Buffer.allocUnsafeSlow(31 * 1024 * 1024)
}
