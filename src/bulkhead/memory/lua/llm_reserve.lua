-- Reserve an LLM call's worst-case cost against every cap it falls under, atomically.
-- KEYS[1..4]: spend hashes (bot day, bot month, fleet day, fleet month)
-- KEYS[5]: the bot's call times (sorted set); KEYS[6]: open reservations (hash)
-- ARGV: id, amount (1e-9 EUR), cap1..cap4 (1e-9 EUR), calls_per_hour, now_ms, deadline_ms,
--       ttl_seconds of the spend hashes
-- Returns {1} when reserved; {0, "CAP", index, spent, reserved, cap} or
-- {0, "RATE", calls, limit} when the call does not fit (nothing changed then).
local id = ARGV[1]
local amount = tonumber(ARGV[2])
local limit = tonumber(ARGV[7])
local now = tonumber(ARGV[8])

-- A reservation past its deadline belongs to a caller that died mid-call: the call may
-- have been billed, so it counts at its worst case (never forgotten, never free).
local open = redis.call('HGETALL', KEYS[6])
for i = 1, #open, 2 do
  local r = cjson.decode(open[i + 1])
  if tonumber(r.deadline) < now then
    for _, key in ipairs(r.keys) do
      redis.call('HINCRBY', key, 'reserved', -r.amount)
      redis.call('HINCRBY', key, 'spent', r.amount)
      redis.call('HINCRBY', key, 'calls', 1)
    end
    redis.call('HDEL', KEYS[6], open[i])
  end
end

for index = 1, 4 do
  local cap = tonumber(ARGV[2 + index])
  local spent = tonumber(redis.call('HGET', KEYS[index], 'spent') or '0')
  local reserved = tonumber(redis.call('HGET', KEYS[index], 'reserved') or '0')
  if spent + reserved + amount > cap then
    return {0, 'CAP', index, tostring(spent), tostring(reserved), tostring(cap)}
  end
end

redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - 3600000)
local calls = redis.call('ZCARD', KEYS[5])
if calls >= limit then
  return {0, 'RATE', calls, limit}
end

for index = 1, 4 do
  redis.call('HINCRBY', KEYS[index], 'reserved', amount)
  redis.call('EXPIRE', KEYS[index], tonumber(ARGV[10]))
end
redis.call('ZADD', KEYS[5], now, id)
redis.call('PEXPIRE', KEYS[5], 3600000)
redis.call('HSET', KEYS[6], id, cjson.encode({
  keys = {KEYS[1], KEYS[2], KEYS[3], KEYS[4]}, amount = amount, deadline = tonumber(ARGV[9])
}))
return {1}
