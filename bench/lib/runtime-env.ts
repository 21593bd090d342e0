/**
 * The process environment the product starts with (package.json's `start` script and the Dockerfile set
 * it; test/runtime-env.test.ts keeps the three in step). `bun run bench` (bench/index.ts) runs each
 * benchmark in it, so every server it spawns, ours and the Bun peers alike, runs the way users run it.
 *
 * MIMALLOC_PURGE_DELAY=-1: Bun's allocator (mimalloc) keeps memory it frees for reuse instead of handing
 * it back to the kernel after each garbage collection; otherwise the next allocations fault the pages in
 * again. A user's own value wins.
 */
export const RUNTIME_ENV: Record<string, string> = { MIMALLOC_PURGE_DELAY: process.env.MIMALLOC_PURGE_DELAY ?? "-1" };
