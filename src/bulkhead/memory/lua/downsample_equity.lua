-- downsample_equity: move aged fine equity points into the coarse series, last per bucket.
--
-- KEYS[1] fine equity     bh:{bot}:equity:fine    (sorted set: '<ms>:<value>' by ms)
-- KEYS[2] coarse equity   bh:{bot}:equity:coarse  (sorted set: '<ms>:<value>' by ms)
-- ARGV[1] fine cutoff, ms: fine points scored below it are downsampled, then removed
-- ARGV[2] bucket width, ms (equity_coarse_every_s * 1000)
-- ARGV[3] coarse cutoff, ms: a bucket point older than this is dropped, not kept
-- ARGV[4] at most this many fine points per call (the caller repeats until it gets 0)
--
-- A bucket keeps exactly one coarse point, its latest: a point that is later than the
-- bucket's coarse point replaces it, an earlier or equal one changes nothing. So running
-- twice, or over the same points in several batches, gives the same coarse series.
--
-- Returns {coarse points written, fine points removed}.
local points = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1],
  'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[4]))
if #points == 0 then
  return {0, 0}
end
local width = tonumber(ARGV[2])
local coarse_cutoff = tonumber(ARGV[3])
local latest = {}
local order = {}
-- points come by ascending score (ties by member), so the last one seen per bucket wins
for i = 1, #points, 2 do
  local score = tonumber(points[i + 1])
  local bucket = math.floor(score / width)
  if latest[bucket] == nil then
    order[#order + 1] = bucket
  end
  latest[bucket] = {points[i], score}
end
local written = 0
for _, bucket in ipairs(order) do
  local member, score = latest[bucket][1], latest[bucket][2]
  if score >= coarse_cutoff then
    local low = string.format('%.0f', bucket * width)
    local high = '(' .. string.format('%.0f', (bucket + 1) * width)
    local kept = redis.call('ZREVRANGEBYSCORE', KEYS[2], high, low, 'WITHSCORES', 'LIMIT', 0, 1)
    local newer = #kept == 0
    if not newer then
      local kept_score = tonumber(kept[2])
      newer = kept_score < score or (kept_score == score and kept[1] < member)
    end
    if newer then
      redis.call('ZREMRANGEBYSCORE', KEYS[2], low, high)
      redis.call('ZADD', KEYS[2], string.format('%.0f', score), member)
      written = written + 1
    end
  end
end
-- the points read are exactly the lowest-ranked ones, so remove them by rank
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, #points / 2 - 1)
return {written, #points / 2}
