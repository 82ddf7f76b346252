// The @node-rs/argon2 side of the argon2 rows in BENCHMARKS.md, at Latch's
// cost (argon2id, m=19456 KiB, t=2, p=1, 32-byte output).
//
//   node argon2.mjs single COUNT     COUNT sequential hashSync calls on one thread
//   node argon2.mjs pool SECONDS N   async hash() with N calls in flight for SECONDS
//
// Prints one line of JSON: per-hash times in ms (single), or hashes and
// elapsed seconds (pool). The async hash runs on libuv's thread pool, sized
// by UV_THREADPOOL_SIZE (the caller sets it to the number of CPUs).
import { Algorithm, hash, hashSync } from "@node-rs/argon2";

const OPTIONS = {
  algorithm: Algorithm.Argon2id,
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
  outputLen: 32,
};
const PASSWORD = "bench password 0001";

const [mode, a, b] = process.argv.slice(2);
if (mode === "single") {
  const count = Number(a ?? 20);
  hashSync(PASSWORD, OPTIONS); // warm-up
  const ms = [];
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    hashSync(PASSWORD, OPTIONS);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  console.log(JSON.stringify({ ms }));
} else if (mode === "pool") {
  const seconds = Number(a ?? 5);
  const inFlight = Number(b ?? 4);
  await Promise.all(Array.from({ length: inFlight }, () => hash(PASSWORD, OPTIONS))); // warm-up
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(Math.round(seconds * 1e9));
  let hashes = 0;
  const loop = async () => {
    while (process.hrtime.bigint() < end) {
      await hash(PASSWORD, OPTIONS);
      hashes++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, loop));
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ hashes, seconds: elapsed }));
} else {
  console.error("usage: node argon2.mjs single COUNT | pool SECONDS IN_FLIGHT");
  process.exit(2);
}
