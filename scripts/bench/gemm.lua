-- fp's matmul throughput: prints "<GFLOP/s>" for A[M,K] @ B[K,N] (best of 5 rounds).
-- Usage: fp run scripts/bench/gemm.lua M K N REPEATS
local m, k, n, reps = tonumber(arg[1]), tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4])
-- BENCH_CLOCK=cpu: process CPU time (os.clock; one thread on a busy host), else wall-clock time
local clock = os.getenv("BENCH_CLOCK") == "cpu" and os.clock or fp.time
local a, b = fp.randn(m, k), fp.randn(k, n)
local c = a:matmul(b)
local best = 0
for _ = 1, 5 do
  local t0 = clock()
  for _ = 1, reps do c = a:matmul(b) end
  local g = 2 * m * n * k * reps / (clock() - t0) / 1e9
  if g > best then best = g end
end
print(string.format("%.1f", best))
